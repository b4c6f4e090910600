"""Objectives and key results of one workspace."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, delete, func, or_, select, update

from storage.models import KeyResult, Objective
from storage.repositories.base import TeamRepository
from storage.repositories.checkins import newest_check_in_join
from storage.rows import (
    KeyResultRow,
    LatestCheckIn,
    ObjectiveRow,
    latest_check_in_columns,
    row_columns,
)

KEY_RESULT_FIELDS = len(KeyResultRow._fields)
QueryRow = TypeVar("QueryRow", bound=tuple[Any, ...])


@functools.cache
def _summary_query(is_postgres: bool) -> Select[Any]:
    """Key results of some objectives of a team, each with its newest check-in: built
    once per dialect, with the team and the ids as parameters. Built per call (nineteen
    columns, the join, two hundred ids coerced one by one and a cache key over them) it
    cost 3 ms of a 200-objective summary's 16 on SQLite."""
    target, latest, on = newest_check_in_join(is_postgres)
    return (
        select(*row_columns(KeyResultRow, KeyResult), *latest_check_in_columns(latest))
        .select_from(KeyResult)
        .outerjoin(target, on)
        .where(
            KeyResult.team_id == bindparam("team_id"),
            KeyResult.objective_id.in_(bindparam("objective_ids", expanding=True)),
        )
        .order_by(KeyResult.number)
    )


class OkrRepository(TeamRepository):
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

    async def all_objectives(self) -> list[Objective]:
        return list(
            (await self.session.scalars(self._objectives().order_by(Objective.number))).all()
        )

    async def active_objectives(
        self, *, channel_id: str | None = None, user_id: str | None = None
    ) -> list[Objective]:
        """Active objectives, optionally those reporting to a channel or involving a user."""
        query = self._active(self._objectives(), channel_id, user_id)
        return list((await self.session.scalars(query.order_by(Objective.number))).all())

    async def objective_rows(
        self,
        *,
        number: int | None = None,
        channel_id: str | None = None,
        user_id: str | None = None,
    ) -> list[ObjectiveRow]:
        """As read-only rows for reports: objective `number` whatever its status, or
        else the active objectives (of a channel, involving a user) by number."""
        query = select(*row_columns(ObjectiveRow, Objective)).where(
            Objective.team_id == self.team_id
        )
        if number is not None:
            query = query.where(Objective.number == number)
        else:
            query = self._active(query, channel_id, user_id)
        return [
            ObjectiveRow._make(row)
            for row in await self.read_rows(query.order_by(Objective.number))
        ]

    def _active(
        self, query: Select[QueryRow], channel_id: str | None, user_id: str | None
    ) -> Select[QueryRow]:
        query = query.where(Objective.status == "active")
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
        return query

    async def active_channels(self) -> dict[int, str | None]:
        """Each active objective's id → the channel it reports to."""
        rows = await self.session.execute(
            select(Objective.id, Objective.channel_id).where(
                Objective.team_id == self.team_id, Objective.status == "active"
            )
        )
        return {row.id: row.channel_id for row in rows}

    async def report_channels(self) -> list[tuple[str, datetime]]:
        """Channels that active objectives report to, with the first one's creation."""
        rows = await self.session.execute(
            select(Objective.channel_id, func.min(Objective.created_at))
            .where(
                Objective.team_id == self.team_id,
                Objective.status == "active",
                Objective.channel_id.is_not(None),
            )
            .group_by(Objective.channel_id)
        )
        return [(str(channel), first) for channel, first in rows.all()]

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

    async def delete_objective(self, objective: Objective) -> None:
        """The objective and its key results; its children lose their parent."""
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
        await self.delete(objective)

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

    async def key_result_rows(self, objective_ids: Iterable[int]) -> list[KeyResultRow]:
        """The key results of these objectives by number, as read-only rows for reports."""
        ids = list(set(objective_ids))
        if not ids:
            return []
        query = (
            select(*row_columns(KeyResultRow, KeyResult))
            .where(KeyResult.team_id == self.team_id, KeyResult.objective_id.in_(ids))
            .order_by(KeyResult.number)
        )
        return [KeyResultRow._make(row) for row in await self.read_rows(query)]

    async def key_results_with_latest(
        self, objective_ids: Iterable[int]
    ) -> list[tuple[KeyResultRow, LatestCheckIn | None]]:
        """The key results of these objectives by number, each with its newest check-in
        (None before the first), as read-only rows in one query: what a summary shows."""
        ids = list(set(objective_ids))
        if not ids:
            return []
        query = _summary_query(self.is_postgres)
        params = {"team_id": self.team_id, "objective_ids": ids}
        split = KEY_RESULT_FIELDS
        return [
            (
                KeyResultRow._make(row[:split]),
                LatestCheckIn._make(row[split:]) if row[split] is not None else None,
            )
            for row in await self.read_rows(query, params)
        ]

    async def taken_numbers(self) -> tuple[set[int], set[int]]:
        """Every O-<n> and KR-<n> number in use, for an import that keeps numbers."""
        objectives = await self.session.scalars(
            select(Objective.number).where(Objective.team_id == self.team_id)
        )
        key_results = await self.session.scalars(
            select(KeyResult.number).where(KeyResult.team_id == self.team_id)
        )
        return set(objectives.all()), set(key_results.all())

    async def key_results_by_ids(self, key_result_ids: Iterable[int]) -> list[KeyResult]:
        ids = list(set(key_result_ids))
        if not ids:
            return []
        query = self._key_results().where(KeyResult.id.in_(ids))
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

    async def owners_by_channel(self) -> list[tuple[str, str | None, datetime]]:
        """(owner, objective channel, first key result's creation) over active objectives."""
        rows = await self.session.execute(
            select(
                KeyResult.owner_id,
                Objective.channel_id,
                func.min(KeyResult.created_at).label("first_created"),
            )
            .join(Objective, Objective.id == KeyResult.objective_id)
            .where(KeyResult.team_id == self.team_id, Objective.status == "active")
            .group_by(KeyResult.owner_id, Objective.channel_id)
        )
        return [(row.owner_id, row.channel_id, row.first_created) for row in rows]

    async def key_results_following(self, kpi_id: int) -> list[KeyResult]:
        return list(
            await self.session.scalars(self._key_results().where(KeyResult.kpi_id == kpi_id))
        )

    async def stop_following(self, kpi_id: int) -> None:
        """Key results that followed a KPI keep their value and are updated by hand."""
        await self.session.execute(
            update(KeyResult)
            .where(KeyResult.team_id == self.team_id, KeyResult.kpi_id == kpi_id)
            .values(kpi_id=None)
        )
