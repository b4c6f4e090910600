"""Outbox rows: messages okrbot must post exactly once (see `bot.slack.outbox`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, true, update

from storage.models import DeliveryLeader, OutboxMessage
from storage.repositories.base import TeamRepository, database_now, upsert_insert


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


@dataclass(frozen=True)
class Claimed:
    rows: list[OutboxMessage]
    taken_over: int  # of them, rows whose previous sender's lease had run out


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

    async def by_key(self, dedupe_key: str) -> OutboxMessage | None:
        """The row planned for this purpose, if any (e.g. a posted digest to update)."""
        found: OutboxMessage | None = await self.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.team_id == self.team_id, OutboxMessage.dedupe_key == dedupe_key
            )
        )
        return found

    async def planned_keys(self, kind: str, since: datetime) -> set[str]:
        """Dedupe keys of rows of `kind` planned after `since`, whose keys begin with
        `kind:` (a range of the (team, dedupe key) index, not a scan of every prompt)."""
        rows = await self.session.scalars(
            select(OutboxMessage.dedupe_key).where(
                OutboxMessage.team_id == self.team_id,
                OutboxMessage.dedupe_key >= f"{kind}:",
                OutboxMessage.dedupe_key < f"{kind};",  # ";" follows ":" in ASCII
                OutboxMessage.kind == kind,
                OutboxMessage.created_at > since,
            )
        )
        return set(rows.all())

    def _claimable(self, now: datetime, lease: timedelta) -> Any:
        """Pending and due, or claimed by a sender whose lease ran out (database clock)."""
        return or_(
            and_(OutboxMessage.state == "pending", OutboxMessage.due_at <= now),
            and_(
                OutboxMessage.state == "sending",
                OutboxMessage.claimed_at < database_now(self.session, lease),
            ),
        )

    async def claim_due(
        self, kinds: Iterable[str], now: datetime, lease: timedelta, holder: str, limit: int
    ) -> Claimed:
        """Take up to `limit` rows to send now, oldest due first, for this sender.

        On PostgreSQL the rows are picked with FOR UPDATE SKIP LOCKED, so senders
        claiming at once take different rows instead of queueing on each other.
        """
        picked = (
            await self.session.execute(
                select(OutboxMessage.id, OutboxMessage.state)
                .where(
                    OutboxMessage.team_id == self.team_id,
                    OutboxMessage.kind.in_(list(kinds)),
                    self._claimable(now, lease),
                )
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not picked:
            return Claimed([], 0)
        rows = await self._claim([row.id for row in picked], now, lease, holder)
        mine = {row.id for row in rows}
        return Claimed(rows, sum(1 for row in picked if row.state == "sending" and row.id in mine))

    async def _claim(
        self, row_ids: list[int], now: datetime, lease: timedelta, holder: str
    ) -> list[OutboxMessage]:
        """Mark these rows "sending" by `holder` with a fresh lease; rows another sender
        holds or finished meanwhile are not returned."""
        claimed = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.team_id == self.team_id,
                OutboxMessage.id.in_(row_ids),
                self._claimable(now, lease),
            )
            .values(state="sending", claimed_at=database_now(self.session), claimed_by=holder)
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        rows = list(claimed.scalars().all())
        order = {row_id: index for index, row_id in enumerate(row_ids)}
        rows.sort(key=lambda row: order[row.id])
        return rows

    async def claim_planned(
        self, dedupe_keys: Sequence[str], now: datetime, lease: timedelta, holder: str
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
        return await self._claim(sorted(ids), now, lease, holder) if ids else []

    def _held(self, row_id: int, holder: str) -> list[Any]:
        return [
            OutboxMessage.team_id == self.team_id,
            OutboxMessage.id == row_id,
            OutboxMessage.state == "sending",
            OutboxMessage.claimed_by == holder,
        ]

    async def heartbeat(self, holder: str) -> set[int]:
        """Renew the lease of every row `holder` still holds; returns their ids (a row
        taken over meanwhile names another holder and is not among them)."""
        renewed = await self.session.scalars(
            update(OutboxMessage)
            .where(
                OutboxMessage.team_id == self.team_id,
                OutboxMessage.state == "sending",
                OutboxMessage.claimed_by == holder,
            )
            .values(claimed_at=database_now(self.session))
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
        return set(renewed.all())

    async def mark_attempt(self, row_id: int, holder: str) -> bool:
        """Just before posting: count the attempt and renew the lease, only while
        `holder` still holds the row (False: it was taken over, do not post)."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(*self._held(row_id, holder))
            .values(attempts=OutboxMessage.attempts + 1, claimed_at=database_now(self.session))
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def has_work(self, kinds: Iterable[str], now: datetime) -> bool:
        """Anything of these kinds due, or held by some sender, alive or not (read-only:
        the idle check; a dead sender's rows are claimable once their lease ends)."""
        # Two probes of the (state, due) index; as one OR they were a scan of every row
        # the team ever sent.
        for state, due in (("pending", OutboxMessage.due_at <= now), ("sending", true())):
            found = await self.session.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.team_id == self.team_id,
                    OutboxMessage.state == state,
                    due,
                    OutboxMessage.kind.in_(list(kinds)),
                )
                .limit(1)
            )
            if found is not None:
                return True
        return False

    async def in_flight(self, kinds: Iterable[str]) -> int:
        """Rows of these kinds some sender holds now (alive, or dead until its lease ends)."""
        found = await self.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.team_id == self.team_id,
                OutboxMessage.kind.in_(list(kinds)),
                OutboxMessage.state == "sending",
            )
        )
        return int(found or 0)

    # Leadership: one delivering sender per workspace --------------------------------

    async def lead(self, holder: str, lease: timedelta) -> bool:
        """Become (or stay) the workspace's delivering sender unless another holds a
        live lease; renews the lease when `holder` has it already."""
        now = database_now(self.session)
        statement = (
            upsert_insert(self.session, DeliveryLeader)
            .values(team_id=self.team_id, holder=holder, heartbeat_at=now)
            .on_conflict_do_update(
                index_elements=["team_id"],
                set_={"holder": holder, "heartbeat_at": now},
                where=or_(
                    DeliveryLeader.holder == holder,
                    DeliveryLeader.heartbeat_at < database_now(self.session, lease),
                ),
            )
            .returning(DeliveryLeader.holder)
        )
        return bool((await self.session.scalar(statement)) == holder)

    async def resign(self, holder: str) -> None:
        await self.session.execute(
            delete(DeliveryLeader).where(
                DeliveryLeader.team_id == self.team_id, DeliveryLeader.holder == holder
            )
        )

    async def finish(self, row_id: int, holder: str | None = None, **values: Any) -> bool:
        """Record a row's outcome (sent, failed, expired, or back to pending). Given its
        `holder`, only while that sender still holds the row; True if recorded."""
        conditions = (
            self._held(row_id, holder)
            if holder is not None
            else [OutboxMessage.team_id == self.team_id, OutboxMessage.id == row_id]
        )
        result = await self.session.execute(
            update(OutboxMessage)
            .where(*conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
