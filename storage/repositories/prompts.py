"""Weekly schedules and the check-in prompts planned from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update

from storage.models import Prompt, Schedule
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
