"""KPI definitions and their measurements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, func, insert, select, update

from storage.models import Alert, Kpi, Measurement
from storage.repositories.base import TeamRepository, upsert_insert

INSERT_CHUNK = 5_000
UPSERT_CHUNK = 2_000


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    # The normal range this value was judged by, when it was (stored for charts).
    low: float | None = None
    high: float | None = None


class HealthRow(NamedTuple):
    kpi_id: int
    key: str
    last_measurement_at: datetime | None
    alert_kind: str | None
    alert_opened_at: datetime | None


class AlertSpan(NamedTuple):
    """One range alert's time out of range (an open one has no resolved_at)."""

    kpi_id: int
    key: str
    name: str
    opened_at: datetime
    resolved_at: datetime | None


class KpiRepository(TeamRepository):
    async def by_key(self, key: str) -> Kpi | None:
        found: Kpi | None = await self.session.scalar(
            select(Kpi).where(Kpi.team_id == self.team_id, Kpi.key == key)
        )
        return found

    async def all(self) -> list[Kpi]:
        return list(
            await self.session.scalars(
                select(Kpi).where(Kpi.team_id == self.team_id).order_by(Kpi.key)
            )
        )

    async def many(self, kpi_ids: Iterable[int]) -> list[Kpi]:
        ids = list(set(kpi_ids))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(Kpi).where(Kpi.team_id == self.team_id, Kpi.id.in_(ids))
            )
        )

    async def health_rows(self, kpi_ids: Iterable[int]) -> list[HealthRow]:
        """Each KPI once per open alert it has (once with no alert when it has none):
        one query for the health line of any number of objectives."""
        ids = list(set(kpi_ids))
        if not ids:
            return []
        open_alert = and_(
            Alert.kpi_id == Kpi.id, Alert.team_id == self.team_id, Alert.resolved_at.is_(None)
        )
        rows = await self.session.execute(
            select(Kpi.id, Kpi.key, Kpi.last_measurement_at, Alert.kind, Alert.opened_at)
            .outerjoin(Alert, open_alert)
            .where(Kpi.team_id == self.team_id, Kpi.id.in_(ids))
        )
        return [HealthRow(*row) for row in rows]

    async def abnormal_spans(
        self, channel_id: str, followed_ids: Iterable[int], since: datetime
    ) -> list[AlertSpan]:
        """Range alerts since `since` of the KPIs that post to this channel or that its
        key results follow: how long each KPI was out of its normal range lately."""
        kpis = Kpi.channel_id == channel_id
        ids = list(set(followed_ids))
        if ids:
            kpis = kpis | Kpi.id.in_(ids)
        rows = await self.session.execute(
            select(Kpi.id, Kpi.key, Kpi.name, Alert.opened_at, Alert.resolved_at)
            .join(Alert, and_(Alert.kpi_id == Kpi.id, Alert.team_id == self.team_id))
            .where(
                Kpi.team_id == self.team_id,
                kpis,
                Alert.kind != "no_data",
                (Alert.resolved_at.is_(None)) | (Alert.resolved_at > since),
            )
        )
        return [AlertSpan(*row) for row in rows]

    async def keys_by_id(self, kpi_ids: Iterable[int]) -> dict[int, str]:
        ids = list(set(kpi_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Kpi.id, Kpi.key).where(Kpi.team_id == self.team_id, Kpi.id.in_(ids))
        )
        return {row.id: row.key for row in rows}

    async def lock(self, key: str) -> Kpi | None:
        """The KPI, row-locked until commit: writers to one KPI go one at a time.

        A no-op UPDATE that returns the row takes the lock in one statement on both
        PostgreSQL and SQLite.
        """
        locked = await self.session.execute(
            update(Kpi)
            .where(Kpi.team_id == self.team_id, Kpi.key == key)
            .values(updated_at=Kpi.updated_at)
            .returning(Kpi)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        found: Kpi | None = locked.scalar_one_or_none()
        return found

    async def lock_latest_at(self, kpi_id: int) -> datetime | None:
        """Lock the KPI as ingestion does and read its newest measurement time again."""
        latest: datetime | None = await self.session.scalar(
            update(Kpi)
            .where(Kpi.team_id == self.team_id, Kpi.id == kpi_id)
            .values(updated_at=Kpi.updated_at)
            .returning(Kpi.last_measurement_at)
            .execution_options(synchronize_session=False)
        )
        return latest

    async def expecting_data(self) -> list[Kpi]:
        """KPIs with an expected interval and a channel: candidates for "no data"."""
        return list(
            await self.session.scalars(
                select(Kpi).where(
                    Kpi.team_id == self.team_id,
                    Kpi.expected_interval_seconds.is_not(None),
                    Kpi.channel_id.is_not(None),
                )
            )
        )

    # Measurements ----------------------------------------------------------

    async def store(
        self, kpi_id: int, points: list[Point], newer: list[Point], source: str
    ) -> None:
        """Insert `newer` (later than any stored point) and upsert the rest of `points`.

        Newer points cannot conflict while the KPI's lock is held, so they take the
        cheaper plain INSERT; Core statements on the session's connection, as the
        ORM's bulk path costs twice as much.
        """
        newer_times = {p.at for p in newer}
        team_id = self.team_id
        connection = await self.session.connection()
        table: Any = Measurement.__table__
        fresh = [
            {
                "team_id": team_id,
                "kpi_id": kpi_id,
                "at": p.at,
                "value": p.value,
                "source": source,
                "low": p.low,
                "high": p.high,
            }
            for p in newer
        ]
        for start in range(0, len(fresh), INSERT_CHUNK):
            await connection.execute(insert(table), fresh[start : start + INSERT_CHUNK])
        older = [
            {"team_id": team_id, "kpi_id": kpi_id, "at": p.at, "value": p.value, "source": source}
            for p in points
            if p.at not in newer_times
        ]
        for start in range(0, len(older), UPSERT_CHUNK):
            statement = upsert_insert(self.session, table)
            statement = statement.on_conflict_do_update(
                index_elements=["kpi_id", "at"],
                set_={"value": statement.excluded.value, "source": statement.excluded.source},
            )
            await connection.execute(statement, older[start : start + UPSERT_CHUNK])

    async def history_of(self, kpi_ids: Iterable[int]) -> dict[int, list[tuple[datetime, float]]]:
        """Every measurement of these KPIs, oldest first, in one query (export)."""
        ids = list(set(kpi_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Measurement.kpi_id, Measurement.at, Measurement.value)
            .where(Measurement.team_id == self.team_id, Measurement.kpi_id.in_(ids))
            .order_by(Measurement.kpi_id, Measurement.at)
        )
        found: dict[int, list[tuple[datetime, float]]] = {}
        for kpi_id, at, value in rows:
            found.setdefault(kpi_id, []).append((at, value))
        return found

    async def recent(self, kpi_id: int, limit: int) -> list[tuple[datetime, float]]:
        """The newest `limit` measurements of a KPI, oldest first."""
        rows = await self.session.execute(
            select(Measurement.at, Measurement.value)
            .where(Measurement.team_id == self.team_id, Measurement.kpi_id == kpi_id)
            .order_by(Measurement.at.desc())
            .limit(limit)
        )
        return [(at, value) for at, value in reversed(rows.all())]

    async def recent_points(self, kpi_id: int, limit: int) -> list[Point]:
        """The newest `limit` measurements with the range each was judged by, oldest first."""
        rows = await self.session.execute(
            select(Measurement.at, Measurement.value, Measurement.low, Measurement.high)
            .where(Measurement.team_id == self.team_id, Measurement.kpi_id == kpi_id)
            .order_by(Measurement.at.desc())
            .limit(limit)
        )
        return [Point(*row) for row in reversed(rows.all())]

    async def count(self, kpi_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Measurement)
                .where(Measurement.team_id == self.team_id, Measurement.kpi_id == kpi_id)
            )
            or 0
        )

    async def latest_value(self, kpi_id: int) -> float | None:
        value: float | None = await self.session.scalar(
            select(Measurement.value)
            .where(Measurement.team_id == self.team_id, Measurement.kpi_id == kpi_id)
            .order_by(Measurement.at.desc())
            .limit(1)
        )
        return value

    async def latest_of(self, kpi_ids: Iterable[int]) -> dict[int, tuple[datetime, float]]:
        """Each KPI's newest measurement (time, value), in one query."""
        ids = list(set(kpi_ids))
        if not ids:
            return {}
        latest_at = (
            select(Measurement.kpi_id, func.max(Measurement.at).label("at"))
            .where(Measurement.team_id == self.team_id, Measurement.kpi_id.in_(ids))
            .group_by(Measurement.kpi_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(Measurement.kpi_id, Measurement.at, Measurement.value).join(
                latest_at,
                (latest_at.c.kpi_id == Measurement.kpi_id) & (latest_at.c.at == Measurement.at),
            )
        )
        return {row.kpi_id: (row.at, row.value) for row in rows}
