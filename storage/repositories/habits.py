"""Habits of real teams: check-ins on someone's behalf, time away, escalation's look-back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update

from storage.models import Absence, CheckIn, KeyResult, Objective, Prompt, Workspace
from storage.repositories.base import TeamRepository


class HabitRepository(TeamRepository):
    # On behalf -------------------------------------------------------------

    async def active_key_results(self, numbers: Iterable[int]) -> list[tuple[KeyResult, str]]:
        """Key results with these numbers in active objectives, with the objective's owner."""
        wanted = sorted(set(numbers))
        if not wanted:
            return []
        rows = await self.session.execute(
            select(KeyResult, Objective.owner_id)
            .join(Objective, Objective.id == KeyResult.objective_id)
            .where(
                KeyResult.team_id == self.team_id,
                KeyResult.number.in_(wanted),
                Objective.status == "active",
            )
            .order_by(KeyResult.number)
        )
        return [(kr, owner) for kr, owner in rows.tuples().all()]

    async def key_results_with_objectives(
        self, key_result_ids: Iterable[int]
    ) -> dict[int, tuple[KeyResult, Objective]]:
        """Key results by id, each with its objective (one query)."""
        ids = sorted(set(key_result_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(KeyResult, Objective)
            .join(Objective, Objective.id == KeyResult.objective_id)
            .where(KeyResult.team_id == self.team_id, KeyResult.id.in_(ids))
        )
        return {kr.id: (kr, objective) for kr, objective in rows.tuples().all()}

    async def objective_owners(self, objective_ids: Iterable[int]) -> dict[int, str]:
        ids = sorted(set(objective_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Objective.id, Objective.owner_id).where(
                Objective.team_id == self.team_id, Objective.id.in_(ids)
            )
        )
        return {row.id: row.owner_id for row in rows}

    # Away ------------------------------------------------------------------

    async def absence(self, user_id: str) -> Absence | None:
        found: Absence | None = await self.session.scalar(
            select(Absence).where(Absence.team_id == self.team_id, Absence.user_id == user_id)
        )
        return found

    async def absences(self, user_ids: Iterable[str]) -> dict[str, Absence]:
        ids = sorted(set(user_ids))
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(Absence).where(Absence.team_id == self.team_id, Absence.user_id.in_(ids))
        )
        return {row.user_id: row for row in rows.all()}

    async def set_absence(self, user_id: str, until: str, ends_at: datetime, now: datetime) -> None:
        existing = await self.absence(user_id)
        if existing is None:
            await self.add(
                Absence(
                    team_id=self.team_id,
                    user_id=user_id,
                    until=until,
                    ends_at=ends_at,
                    created_at=now,
                )
            )
            return
        existing.until, existing.ends_at, existing.created_at = until, ends_at, now

    async def end_absence(self, user_id: str) -> bool:
        result = await self.session.execute(
            delete(Absence).where(Absence.team_id == self.team_id, Absence.user_id == user_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def open_prompts(self, user_id: str, now: datetime) -> list[Prompt]:
        """The person's prompts whose period is under way (one per slot they are asked at)."""
        rows = await self.session.scalars(
            select(Prompt).where(
                Prompt.team_id == self.team_id,
                Prompt.user_id == user_id,
                Prompt.period_start <= now,
                Prompt.period_end > now,
            )
        )
        return list(rows.all())

    async def mark_away(self, prompt_ids: Iterable[int], now: datetime) -> None:
        """Prompts of someone away: no DM, no reminder, "away" rather than missing."""
        ids = sorted(set(prompt_ids))
        if ids:
            await self.session.execute(
                update(Prompt)
                .where(Prompt.team_id == self.team_id, Prompt.id.in_(ids))
                .values(state="away", skipped_at=now)
                .execution_options(synchronize_session=False)
            )

    # Escalation ------------------------------------------------------------

    async def set_escalation(self, periods: int | None) -> None:
        await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values(escalate_after=periods)
        )

    async def owners_with_periods_ending(self, after: datetime, until: datetime) -> set[str]:
        """Owners with a prompt whose period ended in (after, until]."""
        rows = await self.session.scalars(
            select(Prompt.user_id)
            .where(
                Prompt.team_id == self.team_id,
                Prompt.period_end > after,
                Prompt.period_end <= until,
            )
            .distinct()
        )
        return set(rows.all())

    async def prompts_between(
        self, since: datetime, until: datetime, owners: Iterable[str]
    ) -> list[Prompt]:
        """These owners' prompts whose period began in [since, until), oldest first."""
        ids = sorted(set(owners))
        if not ids:
            return []
        rows = await self.session.scalars(
            select(Prompt)
            .where(
                Prompt.team_id == self.team_id,
                Prompt.user_id.in_(ids),
                Prompt.period_start >= since,
                Prompt.period_start < until,
            )
            .order_by(Prompt.period_start, Prompt.id)
        )
        return list(rows.all())

    async def check_ins_since(
        self, key_result_ids: Iterable[int], since: datetime
    ) -> list[CheckIn]:
        ids = sorted(set(key_result_ids))
        if not ids:
            return []
        rows = await self.session.scalars(
            select(CheckIn).where(
                CheckIn.team_id == self.team_id,
                CheckIn.key_result_id.in_(ids),
                CheckIn.created_at >= since,
            )
        )
        return list(rows.all())
