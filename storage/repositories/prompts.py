"""Weekly schedules and the check-in prompts planned from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, exists, func, literal, select, union_all, update

from storage.models import KeyResult, Objective, Prompt, Schedule, SlackUser, UTCDateTime
from storage.repositories.base import TeamRepository, upsert_insert


@dataclass(frozen=True)
class NewPrompt:
    user_id: str
    period_start: datetime
    period_end: datetime
    slot: str


@dataclass(frozen=True)
class PlannedPrompt:
    prompt_id: int
    user_id: str
    period_end: datetime


class PromptRepository(TeamRepository):
    # Schedules -------------------------------------------------------------

    async def schedule(self, channel_id: str = "") -> Schedule | None:
        found: Schedule | None = await self.session.scalar(
            select(Schedule).where(
                Schedule.team_id == self.team_id, Schedule.channel_id == channel_id
            )
        )
        return found

    async def schedules(self) -> list[Schedule]:
        """The workspace's slot (channel "") and every channel override."""
        rows = await self.session.scalars(select(Schedule).where(Schedule.team_id == self.team_id))
        return list(rows.all())

    async def set_schedule(
        self, weekday: int, local_time: str, now: datetime, channel_id: str = ""
    ) -> Schedule:
        existing = await self.schedule(channel_id)
        if existing is None:
            existing = Schedule(
                team_id=self.team_id,
                channel_id=channel_id,
                weekday=weekday,
                local_time=local_time,
                created_at=now,
                updated_at=now,
            )
            await self.add(existing)
        elif (existing.weekday, existing.local_time) != (weekday, local_time):
            existing.weekday = weekday
            existing.local_time = local_time
            existing.updated_at = now
        return existing

    # Prompts ---------------------------------------------------------------

    async def get(self, prompt_id: int) -> Prompt | None:
        found: Prompt | None = await self.session.scalar(
            select(Prompt).where(Prompt.team_id == self.team_id, Prompt.id == prompt_id)
        )
        return found

    async def many(self, prompt_ids: Iterable[int]) -> list[Prompt]:
        ids = list(set(prompt_ids))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(Prompt).where(Prompt.team_id == self.team_id, Prompt.id.in_(ids))
            )
        )

    async def latest_started(
        self, user_id: str, now: datetime, *, open_only: bool
    ) -> Prompt | None:
        """The owner's newest prompt whose period has begun (and not ended, if `open_only`)."""
        query = select(Prompt).where(
            Prompt.team_id == self.team_id, Prompt.user_id == user_id, Prompt.period_start <= now
        )
        if open_only:
            query = query.where(Prompt.period_end > now)
        found: Prompt | None = await self.session.scalar(
            query.order_by(Prompt.period_start.desc()).limit(1)
        )
        return found

    async def at(self, user_id: str, period_start: datetime) -> Prompt | None:
        found: Prompt | None = await self.session.scalar(
            select(Prompt).where(
                Prompt.team_id == self.team_id,
                Prompt.user_id == user_id,
                Prompt.period_start == period_start,
            )
        )
        return found

    async def periods_since(self, since: datetime) -> set[tuple[str, datetime]]:
        """(owner, period start) of every prompt that began after `since`."""
        rows = await self.session.execute(
            select(Prompt.user_id, Prompt.period_start).where(
                Prompt.team_id == self.team_id, Prompt.period_start > since
            )
        )
        return {(row.user_id, row.period_start) for row in rows}

    async def due(
        self,
        periods: list[tuple[str, str, datetime]],
        channel_slots: dict[str, tuple[str, datetime]],
        default_slot: tuple[str, datetime],
    ) -> list[tuple[str, str, datetime]]:
        """(owner, slot, period start) of every owner due a prompt, answered in SQL.

        `periods` gives, per slot and time-zone name ("" for unknown), the start of the
        period under way there; a key result's slot is its objective channel's (or the
        default) with when that schedule took effect. An owner is due for a slot when
        their first key result on it and its schedule predate the period's start and
        no prompt exists for them and that start: one query, whatever the team's size.
        """
        if not periods:
            return []
        # A few rows (slots × zones), as a UNION ALL: SQLite has no VALUES column aliases.
        table = union_all(
            *[
                select(
                    literal(key, String).label("slot"),
                    literal(tz, String).label("tz"),
                    literal(start, UTCDateTime).label("period_start"),
                )
                for key, tz, start in periods
            ]
        ).subquery("periods")
        default_key, default_since = default_slot
        slot: Any = literal(default_key)
        since: Any = literal(default_since, UTCDateTime)
        if channel_slots:  # a channel's own schedule, else the workspace's
            slot = case(
                *[(Objective.channel_id == ch, key) for ch, (key, _) in channel_slots.items()],
                else_=slot,
            )
            since = case(
                *[
                    (Objective.channel_id == ch, literal(at, UTCDateTime))
                    for ch, (_, at) in channel_slots.items()
                ],
                else_=since,
            )
        krs = (
            select(
                KeyResult.owner_id.label("owner_id"),
                slot.label("slot"),
                since.label("since"),
                KeyResult.created_at.label("created_at"),
                func.coalesce(SlackUser.tz, "").label("tz"),
            )
            .join(Objective, Objective.id == KeyResult.objective_id)
            .outerjoin(
                SlackUser,
                and_(SlackUser.team_id == self.team_id, SlackUser.user_id == KeyResult.owner_id),
            )
            .where(KeyResult.team_id == self.team_id, Objective.status == "active")
            .subquery("krs")
        )
        prompted = exists().where(
            Prompt.team_id == self.team_id,
            Prompt.user_id == krs.c.owner_id,
            Prompt.period_start == table.c.period_start,
        )
        rows = await self.session.execute(
            select(krs.c.owner_id, krs.c.slot, table.c.period_start)
            .join(table, and_(table.c.slot == krs.c.slot, table.c.tz == krs.c.tz))
            .group_by(krs.c.owner_id, krs.c.slot, table.c.period_start)
            .having(
                func.min(krs.c.created_at) <= table.c.period_start,
                func.max(krs.c.since) <= table.c.period_start,
                ~prompted,
            )
        )
        return [(row.owner_id, row.slot, row.period_start) for row in rows]

    async def insert_new(self, prompts: list[NewPrompt], now: datetime) -> list[PlannedPrompt]:
        """Create the prompts not created yet (one per owner and period); returns those."""
        if not prompts:
            return []
        inserted = await self.session.execute(
            upsert_insert(self.session, Prompt)
            .on_conflict_do_nothing(index_elements=["team_id", "user_id", "period_start"])
            .returning(Prompt.id, Prompt.user_id, Prompt.period_end),
            [
                {
                    "team_id": self.team_id,
                    "user_id": item.user_id,
                    "period_start": item.period_start,
                    "period_end": item.period_end,
                    "slot": item.slot,
                    "state": "pending",
                    "created_at": now,
                }
                for item in prompts
            ],
        )
        return [PlannedPrompt(*row) for row in inserted.all()]

    async def claim_reminders(self, now: datetime, delay: timedelta) -> list[PlannedPrompt]:
        """Sent, unanswered, unskipped prompts still open `delay` after sending: marked
        reminded here, so each gets one reminder."""
        due = (
            await self.session.execute(
                select(Prompt.id, Prompt.user_id, Prompt.period_end).where(
                    Prompt.team_id == self.team_id,
                    Prompt.state == "sent",
                    Prompt.reminded_at.is_(None),
                    Prompt.sent_at <= now - delay,
                    Prompt.period_end > now,
                )
            )
        ).all()
        if not due:
            return []
        await self.session.execute(
            update(Prompt)
            .where(Prompt.id.in_([row.id for row in due]), Prompt.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        return [PlannedPrompt(*row) for row in due]

    async def record_sent(self, prompt_id: int, channel_id: str, ts: str, at: datetime) -> None:
        """Where the prompt's DM is (to update it later)."""
        await self.session.execute(
            update(Prompt)
            .where(Prompt.team_id == self.team_id, Prompt.id == prompt_id)
            .values(
                state=case((Prompt.state == "pending", "sent"), else_=Prompt.state),
                channel_id=channel_id,
                message_ts=ts,
                sent_at=at,
            )
            .execution_options(synchronize_session=False)
        )

    async def record_reminder(self, prompt_id: int, channel_id: str, ts: str) -> None:
        """Where the reminder DM is, so an answer updates it as well as the prompt."""
        await self.session.execute(
            update(Prompt)
            .where(Prompt.team_id == self.team_id, Prompt.id == prompt_id)
            .values(reminder_channel_id=channel_id, reminder_ts=ts)
            .execution_options(synchronize_session=False)
        )

    async def mark_answered(self, prompt_ids: Iterable[int], now: datetime) -> None:
        """Prompts every key result of which has been answered: no reminder any more."""
        ids = sorted(set(prompt_ids))
        if not ids:
            return
        await self.session.execute(
            update(Prompt)
            .where(
                Prompt.team_id == self.team_id,
                Prompt.id.in_(ids),
                Prompt.answered_at.is_(None),
            )
            .values(
                answered_at=now,
                state=case((Prompt.state.in_(["pending", "sent"]), "answered"), else_=Prompt.state),
            )
            .execution_options(synchronize_session=False)
        )

    async def channel_owner_zones(self) -> dict[str, set[str]]:
        """Each report channel → the time-zone names of its key-result owners ("" unknown).

        The digest for a week waits for the owner whose week closes last: one query.
        """
        rows = await self.session.execute(
            select(Objective.channel_id, func.coalesce(SlackUser.tz, ""))
            .select_from(KeyResult)
            .join(Objective, Objective.id == KeyResult.objective_id)
            .outerjoin(
                SlackUser,
                and_(SlackUser.team_id == self.team_id, SlackUser.user_id == KeyResult.owner_id),
            )
            .where(
                KeyResult.team_id == self.team_id,
                Objective.status == "active",
                Objective.channel_id.is_not(None),
            )
            .distinct()
        )
        zones: dict[str, set[str]] = {}
        for channel_id, tz in rows.all():
            zones.setdefault(str(channel_id), set()).add(str(tz))
        return zones

    async def skipped_by(self, since: datetime, until: datetime) -> set[str]:
        """Owners who marked a period starting in [since, until) as skipped."""
        rows = await self.session.scalars(
            select(Prompt.user_id).where(
                Prompt.team_id == self.team_id,
                Prompt.skipped_at.is_not(None),
                Prompt.period_start >= since,
                Prompt.period_start < until,
            )
        )
        return set(rows.all())

    async def of_owners_starting(
        self, owners: Iterable[str], since: datetime, until: datetime
    ) -> list[Prompt]:
        """These owners' prompts whose period began in [since, until)."""
        ids = sorted(set(owners))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(Prompt).where(
                    Prompt.team_id == self.team_id,
                    Prompt.user_id.in_(ids),
                    Prompt.period_start >= since,
                    Prompt.period_start < until,
                )
            )
        )
