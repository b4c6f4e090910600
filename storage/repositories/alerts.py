"""KPI alerts: at most one open per KPI and kind (a partial unique index holds it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.models import Alert
from storage.repositories.base import TeamRepository


class AlertRepository(TeamRepository):
    async def get(self, alert_id: int) -> Alert | None:
        found: Alert | None = await self.session.scalar(
            select(Alert).where(Alert.team_id == self.team_id, Alert.id == alert_id)
        )
        return found

    async def many(self, alert_ids: Iterable[int]) -> list[Alert]:
        ids = list(set(alert_ids))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(Alert).where(Alert.team_id == self.team_id, Alert.id.in_(ids))
            )
        )

    async def open_for(self, kpi_ids: Iterable[int]) -> list[Alert]:
        """Open alerts of these KPIs (range and no-data)."""
        ids = list(set(kpi_ids))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(Alert).where(
                    Alert.team_id == self.team_id,
                    Alert.kpi_id.in_(ids),
                    Alert.resolved_at.is_(None),
                )
            )
        )

    async def open_of_kind(self, kpi_id: int, kind: str) -> Alert | None:
        found: Alert | None = await self.session.scalar(
            select(Alert).where(
                Alert.team_id == self.team_id,
                Alert.kpi_id == kpi_id,
                Alert.kind == kind,
                Alert.resolved_at.is_(None),
            )
        )
        return found

    async def add_unless_open(self, alert: Alert) -> bool:
        """Insert an open alert unless one of its kind is already open (False then).

        The savepoint keeps a concurrent creator's unique-index win from failing the
        rest of the transaction.
        """
        if alert.team_id != self.team_id:
            raise ValueError("row belongs to another workspace")
        try:
            async with self.session.begin_nested():
                self.session.add(alert)
                await self.session.flush()
        except IntegrityError:
            return False
        return True

    async def due_repeats(self, now: datetime, interval: timedelta) -> list[Alert]:
        """Open, posted, unacknowledged alerts to remind of: not snoozed and last notified
        `interval` ago, or whose snooze ended since they were last notified."""
        not_snoozed = or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= now)
        return list(
            await self.session.scalars(
                select(Alert).where(
                    Alert.team_id == self.team_id,
                    Alert.resolved_at.is_(None),
                    Alert.acknowledged_at.is_(None),
                    Alert.message_ts.is_not(None),
                    or_(
                        and_(not_snoozed, Alert.last_notified_at <= now - interval),
                        and_(
                            Alert.snoozed_until.is_not(None),
                            Alert.snoozed_until <= now,
                            Alert.last_notified_at < Alert.snoozed_until,
                        ),
                    ),
                )
            )
        )

    async def set_message(
        self, alert_id: int, channel_id: str | None, ts: str | None, chart_file_id: str | None
    ) -> None:
        """The alert learns its message (for edits and thread replies) and its chart."""
        await self.session.execute(
            update(Alert)
            .where(Alert.team_id == self.team_id, Alert.id == alert_id)
            .values(channel_id=channel_id, message_ts=ts, chart_file_id=chart_file_id)
            .execution_options(synchronize_session=False)
        )
