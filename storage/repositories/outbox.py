"""Outbox rows: messages okrbot must post exactly once (see `bot.slack.outbox`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from storage.models import OutboxMessage
from storage.repositories.base import TeamRepository, upsert_insert


@dataclass(frozen=True)
class Planned:
    """One message to post: `dedupe_key` names its purpose, so it is planned once."""

    kind: str
    dedupe_key: str
    recipient: str  # a user (DM) or a channel
    due_at: datetime
    ref_id: int | None = None
    channel_id: str | None = None
    expires_at: datetime | None = None


class OutboxRepository(TeamRepository):
    async def plan(self, items: Sequence[Planned], now: datetime) -> int:
        """Write rows not planned before (by dedupe key); returns how many are new."""
        if not items:
            return 0
        result = await self.session.execute(
            upsert_insert(self.session, OutboxMessage)
            .on_conflict_do_nothing(index_elements=["team_id", "dedupe_key"])
            .returning(OutboxMessage.id),
            [
                {
                    "team_id": self.team_id,
                    "kind": item.kind,
                    "dedupe_key": item.dedupe_key,
                    "recipient": item.recipient,
                    "channel_id": item.channel_id,
                    "ref_id": item.ref_id,
                    "state": "pending",
                    "due_at": item.due_at,
                    "expires_at": item.expires_at,
                    "attempts": 0,
                    "created_at": now,
                }
                for item in items
            ],
        )
        return len(result.all())

    async def planned_keys(self, kind: str, since: datetime) -> set[str]:
        """Dedupe keys of rows of `kind` planned after `since`."""
        rows = await self.session.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.team_id == self.team_id,
                OutboxMessage.kind == kind,
                OutboxMessage.created_at > since,
            )
        )
        return set(rows.all())

    def _claimable(self, now: datetime, lease: timedelta) -> Any:
        return or_(
            and_(OutboxMessage.state == "pending", OutboxMessage.due_at <= now),
            and_(OutboxMessage.state == "sending", OutboxMessage.claimed_at < now - lease),
        )

    async def due_ids(self, kinds: Iterable[str], now: datetime, lease: timedelta) -> list[int]:
        """Rows to work on: pending and due, or claimed by a sender whose lease ran out."""
        rows = await self.session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.team_id == self.team_id,
                OutboxMessage.kind.in_(list(kinds)),
                self._claimable(now, lease),
            )
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
        )
        return list(rows.all())

    async def claim(
        self, row_ids: list[int], now: datetime, lease: timedelta
    ) -> list[OutboxMessage]:
        """Take these rows for this sender in one statement, in the order given; rows
        another sender holds or finished are not returned."""
        if not row_ids:
            return []
        claimed = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.team_id == self.team_id,
                OutboxMessage.id.in_(row_ids),
                or_(
                    OutboxMessage.state == "pending",
                    and_(OutboxMessage.state == "sending", OutboxMessage.claimed_at < now - lease),
                ),
            )
            .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        rows = list(claimed.scalars().all())
        order = {row_id: index for index, row_id in enumerate(row_ids)}
        rows.sort(key=lambda row: order[row.id])
        return rows

    async def claim_planned(
        self, dedupe_keys: Sequence[str], now: datetime, lease: timedelta
    ) -> list[OutboxMessage]:
        """Claim rows just planned by key (the process that planned them sends them)."""
        if not dedupe_keys:
            return []
        ids = list(
            await self.session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.team_id == self.team_id,
                    OutboxMessage.dedupe_key.in_(list(dedupe_keys)),
                    self._claimable(now, lease),
                )
            )
        )
        return await self.claim(sorted(ids), now, lease)

    async def finish(self, row_id: int, **values: Any) -> None:
        """Record a row's outcome (sent, failed, expired, or back to pending)."""
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.team_id == self.team_id, OutboxMessage.id == row_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
