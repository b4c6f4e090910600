"""The repository layer: every query okrbot runs, each scoped by `team_id`.

A `Repository` is bound to one session and one workspace, so a caller cannot
forget the scope. Summaries load in a constant number of queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    CheckIn,
    KeyResult,
    Objective,
    Prompt,
    Schedule,
    SlackUser,
    Workspace,
)


def upsert_insert(session: AsyncSession, model: Any) -> Any:
    """The backend's INSERT that supports ON CONFLICT (PostgreSQL's or SQLite's)."""
    module: Any = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(model)


async def insert_ignore(
    session: AsyncSession, model: type[Any], values: dict[str, Any], conflict: Sequence[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on either backend; True when a row was inserted."""
    statement = (
        upsert_insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


async def ensure_workspace(session: AsyncSession, team_id: str, now: datetime) -> None:
    """Create the workspace row on first contact (from Slack or `--team`)."""
    await insert_ignore(
        session,
        Workspace,
        {
            "team_id": team_id,
            "created_at": now,
            "last_objective_number": 0,
            "last_key_result_number": 0,
            "installed": True,
        },
        ["team_id"],
    )


async def known_team_ids(session: AsyncSession) -> list[str]:
    return list(
        (await session.scalars(select(Workspace.team_id).order_by(Workspace.team_id))).all()
    )


class Repository:
    """Queries for one workspace inside one transaction."""

    def __init__(self, session: AsyncSession, team_id: str) -> None:
        self.session = session
        self.team_id = team_id

    # Numbering -------------------------------------------------------------

    async def _next_number(self, column: Any) -> int:
        # UPDATE … RETURNING locks the workspace row until commit, so two
        # concurrent creations can never be handed the same number.
        result = await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values({column: column + 1})
            .returning(column)
        )
        return int(result.scalar_one())

    async def next_objective_number(self) -> int:
        return await self._next_number(Workspace.last_objective_number)

    async def next_key_result_number(self) -> int:
        return await self._next_number(Workspace.last_key_result_number)

    # Objectives ------------------------------------------------------------

    def _objectives(self) -> Select[tuple[Objective]]:
        return select(Objective).where(Objective.team_id == self.team_id)

    async def objective(self, number: int) -> Objective | None:
        found: Objective | None = await self.session.scalar(
            self._objectives().where(Objective.number == number)
        )
        return found

    async def objective_by_id(self, objective_id: int) -> Objective | None:
        found: Objective | None = await self.session.scalar(
            self._objectives().where(Objective.id == objective_id)
        )
        return found

    async def objective_by_key(self, key: str) -> Objective | None:
        found: Objective | None = await self.session.scalar(
            self._objectives().where(Objective.key == key)
        )
        return found

    async def all_objectives(self) -> list[Objective]:
        return list(
            (await self.session.scalars(self._objectives().order_by(Objective.number))).all()
        )

    async def active_objectives(
        self, *, channel_id: str | None = None, user_id: str | None = None
    ) -> list[Objective]:
        """Active objectives, optionally those reporting to a channel or involving a user."""
        query = self._objectives().where(Objective.status == "active")
        if channel_id is not None:
            query = query.where(Objective.channel_id == channel_id)
        if user_id is not None:
            owns_key_result = (
                select(KeyResult.objective_id)
                .where(KeyResult.team_id == self.team_id, KeyResult.owner_id == user_id)
                .scalar_subquery()
            )
            query = query.where(
                or_(Objective.owner_id == user_id, Objective.id.in_(owns_key_result))
            )
        return list((await self.session.scalars(query.order_by(Objective.number))).all())

    async def count_active_for_channel(self, channel_id: str) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Objective)
                .where(
                    Objective.team_id == self.team_id,
                    Objective.status == "active",
                    Objective.channel_id == channel_id,
                )
            )
            or 0
        )

    async def parent_links(self) -> dict[int, int | None]:
        """id → parent id for the whole workspace: one query for loop checks."""
        rows = await self.session.execute(
            select(Objective.id, Objective.parent_id).where(Objective.team_id == self.team_id)
        )
        return {row.id: row.parent_id for row in rows}

    async def numbers_by_id(self, objective_ids: Iterable[int]) -> dict[int, int]:
        ids = list(set(objective_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Objective.id, Objective.number).where(
                Objective.team_id == self.team_id, Objective.id.in_(ids)
            )
        )
        return {row.id: row.number for row in rows}

    async def add(self, row: Any) -> None:
        if getattr(row, "team_id", None) != self.team_id:
            raise ValueError("row belongs to another workspace")
        self.session.add(row)
        await self.session.flush()

    async def delete_objective(self, objective: Objective) -> None:
        await self.session.execute(
            update(Objective)
            .where(Objective.team_id == self.team_id, Objective.parent_id == objective.id)
            .values(parent_id=None)
        )
        await self.session.execute(
            delete(KeyResult).where(
                KeyResult.team_id == self.team_id, KeyResult.objective_id == objective.id
            )
        )
        await self.session.delete(objective)
        await self.session.flush()

    # Key results -----------------------------------------------------------

    def _key_results(self) -> Select[tuple[KeyResult]]:
        return select(KeyResult).where(KeyResult.team_id == self.team_id)

    async def key_result(self, number: int) -> KeyResult | None:
        found: KeyResult | None = await self.session.scalar(
            self._key_results().where(KeyResult.number == number)
        )
        return found

    async def key_results_for(self, objective_ids: Iterable[int]) -> list[KeyResult]:
        ids = list(set(objective_ids))
        if not ids:
            return []
        query = self._key_results().where(KeyResult.objective_id.in_(ids))
        return list((await self.session.scalars(query.order_by(KeyResult.number))).all())

    async def key_results_owned_by(self, user_id: str) -> list[KeyResult]:
        return await self.key_results_owned_by_any({user_id})

    async def key_results_owned_by_any(self, user_ids: Iterable[str]) -> list[KeyResult]:
        """Active key results of these owners (in active objectives), by number."""
        owners = list(set(user_ids))
        if not owners:
            return []
        query = (
            self._key_results()
            .join(Objective, Objective.id == KeyResult.objective_id)
            .where(KeyResult.owner_id.in_(owners), Objective.status == "active")
            .order_by(KeyResult.number)
        )
        return list((await self.session.scalars(query)).all())

    async def delete_key_result(self, key_result: KeyResult) -> None:
        await self.session.delete(key_result)
        await self.session.flush()

    # Check-ins -------------------------------------------------------------

    async def add_check_in(self, check_in: CheckIn) -> None:
        await self.add(check_in)

    async def latest_check_ins(self, key_result_ids: Iterable[int]) -> dict[int, CheckIn]:
        """The newest check-in of each key result, in one query."""
        return {
            c.key_result_id: c
            for c in await self.recent_check_ins(key_result_ids, per_key_result=1)
        }

    async def recent_check_ins(
        self, key_result_ids: Iterable[int], per_key_result: int
    ) -> list[CheckIn]:
        """Up to `per_key_result` newest check-ins of each key result, newest first, one query."""
        ids = list(set(key_result_ids))
        if not ids:
            return []
        rank = (
            func.row_number()
            .over(
                partition_by=CheckIn.key_result_id,
                order_by=(CheckIn.created_at.desc(), CheckIn.id.desc()),
            )
            .label("rank")
        )
        ranked = (
            select(CheckIn.id, rank)
            .where(CheckIn.team_id == self.team_id, CheckIn.key_result_id.in_(ids))
            .subquery()
        )
        query = (
            select(CheckIn)
            .join(ranked, ranked.c.id == CheckIn.id)
            .where(ranked.c.rank <= per_key_result)
            .order_by(CheckIn.key_result_id, CheckIn.created_at.desc(), CheckIn.id.desc())
        )
        return list((await self.session.scalars(query)).all())

    # Schedule --------------------------------------------------------------

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

    async def users_who_skipped(self, since: datetime, until: datetime) -> set[str]:
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

    # Slack user cache ------------------------------------------------------

    async def cached_user(self, user_id: str) -> SlackUser | None:
        found: SlackUser | None = await self.session.scalar(
            select(SlackUser).where(SlackUser.team_id == self.team_id, SlackUser.user_id == user_id)
        )
        return found

    async def display_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Cached display names of these users (those never seen are left out)."""
        ids = list(set(user_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(SlackUser.user_id, SlackUser.name).where(
                SlackUser.team_id == self.team_id, SlackUser.user_id.in_(ids)
            )
        )
        return {user_id: name for user_id, name in rows.all() if name}

    async def cache_user(
        self, user_id: str, *, name: str | None, tz: str | None, is_admin: bool, now: datetime
    ) -> None:
        existing = await self.cached_user(user_id)
        if existing is None:
            await self.add(
                SlackUser(
                    team_id=self.team_id,
                    user_id=user_id,
                    name=name,
                    tz=tz,
                    is_admin=is_admin,
                    fetched_at=now,
                )
            )
            return
        existing.name, existing.tz, existing.is_admin, existing.fetched_at = name, tz, is_admin, now

    async def mark_uninstalled(self) -> None:
        await self.session.execute(
            update(Workspace).where(Workspace.team_id == self.team_id).values(installed=False)
        )
