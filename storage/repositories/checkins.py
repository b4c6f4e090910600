"""Check-ins: each key result's values over time, newest first where it matters."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    ScalarSelect,
    Select,
    and_,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased

from storage.models import CheckIn, KeyResult
from storage.repositories.base import TeamRepository
from storage.rows import CheckInRow, row_columns


def newest_check_in_join(
    is_postgres: bool,
) -> tuple[FromClause | type[CheckIn], Any, ColumnElement[bool]]:
    """What to LEFT JOIN to `key_results` for each key result's newest check-in: the join
    target, the check-in entity to select columns of, and the ON clause. A few index
    probes per key result, however long its history (PostgreSQL: a LATERAL subquery;
    SQLite, which has none: the newest id looked up per key result)."""
    if is_postgres:
        lateral = _newest_of_each_key_result(1, "latest")
        return lateral, aliased(CheckIn, lateral), true()
    return CheckIn, CheckIn, CheckIn.id == _newest_id_of_each_key_result()


def _newest_of_each_key_result(per_key_result: int, name: str) -> FromClause:
    """PostgreSQL: a LATERAL subquery of the key result's `per_key_result` newest rows."""
    return (
        select(CheckIn)
        .where(CheckIn.key_result_id == KeyResult.id)
        .order_by(CheckIn.created_at.desc(), CheckIn.id.desc())
        .limit(per_key_result)
        .lateral(name)
    )


def _newest_id_of_each_key_result() -> ScalarSelect[int]:
    """The id of the key result's newest check-in, correlated to `key_results`."""
    inner = aliased(CheckIn)
    return (
        select(inner.id)
        .where(inner.key_result_id == KeyResult.id)
        .order_by(inner.created_at.desc(), inner.id.desc())
        .limit(1)
        .correlate(KeyResult)
        .scalar_subquery()
    )


class CheckInRepository(TeamRepository):
    async def latest(self, key_result_ids: Iterable[int]) -> dict[int, CheckIn]:
        """The newest check-in of each key result, in one query."""
        ids = list(set(key_result_ids))
        if not ids:
            return {}
        query = self._newest(ids, 1, lambda row: (row,))
        return {c.key_result_id: c for c in (await self.session.scalars(query)).all()}

    async def recent(self, key_result_ids: Iterable[int], per_key_result: int) -> list[CheckInRow]:
        """Up to `per_key_result` newest check-ins of each key result, newest first, one
        query; read-only rows for reports."""
        ids = list(set(key_result_ids))
        if not ids:
            return []
        query = self._newest(ids, per_key_result, lambda entity: row_columns(CheckInRow, entity))
        return [CheckInRow._make(row) for row in await self.read_rows(query)]

    def _newest(
        self,
        ids: list[int],
        per_key_result: int,
        columns: Callable[[type[CheckIn]], Sequence[Any]],
    ) -> Select[Any]:
        """The `per_key_result` newest check-ins of each key result, by key result and
        newest first, as `columns` of them: a few index probes per key result, so it
        costs the same however long the history is.

        PostgreSQL joins a LATERAL subquery per key result (given `id IN (newest ids)`
        its planner hashed every check-in of every workspace: 20 ms instead of 6 for
        1,000 key results). SQLite has no LATERAL: it looks up the ids one by one.
        """
        newest = (CheckIn.created_at.desc(), CheckIn.id.desc())
        if self.is_postgres:
            lateral = _newest_of_each_key_result(per_key_result, "newest")
            row = aliased(CheckIn, lateral)
            return (
                select(*columns(row))
                .select_from(KeyResult)
                .join(lateral, true())
                .where(KeyResult.team_id == self.team_id, KeyResult.id.in_(ids))
                .order_by(row.key_result_id, row.created_at.desc(), row.id.desc())
            )
        return (
            select(*columns(CheckIn))
            .where(CheckIn.id.in_(self._newest_ids(ids, per_key_result)))
            .order_by(CheckIn.key_result_id, *newest)
        )

    def _newest_ids(self, ids: list[int], per_key_result: int) -> Select[tuple[int]]:
        """SQLite: ids of the `per_key_result` newest check-ins of each key result,
        team-scoped here (filtering the outer query by team too made SQLite scan the
        team's whole history through the team index instead of looking each id up: 6 ms
        instead of 2 for 1,000 key results with 50 check-ins each)."""
        if per_key_result == 1:
            return select(_newest_id_of_each_key_result()).where(
                KeyResult.team_id == self.team_id, KeyResult.id.in_(ids)
            )
        inner = aliased(CheckIn)
        rank = (
            func.row_number()
            .over(
                partition_by=inner.key_result_id,
                order_by=(inner.created_at.desc(), inner.id.desc()),
            )
            .label("rank")
        )
        # Scoped through the team's key results: a team filter on the check-ins made
        # SQLite read the team's whole history through the team index (4.8 ms instead
        # of 0.24 for 5 key results among 50,000 check-ins).
        team_key_results = select(KeyResult.id).where(
            KeyResult.team_id == self.team_id, KeyResult.id.in_(ids)
        )
        ranked = select(inner.id, rank).where(inner.key_result_id.in_(team_key_results)).subquery()
        return select(ranked.c.id).where(ranked.c.rank <= per_key_result)

    async def for_prompts(self, prompt_ids: Iterable[int]) -> list[CheckIn]:
        """Check-ins that answered these prompts, oldest first."""
        ids = list(set(prompt_ids))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(CheckIn)
                .where(CheckIn.team_id == self.team_id, CheckIn.prompt_id.in_(ids))
                .order_by(CheckIn.created_at, CheckIn.id)
            )
        )

    async def answered_key_results(self, prompt_id: int) -> set[int]:
        """Key results that already have a check-in for this prompt."""
        rows = await self.session.scalars(
            select(CheckIn.key_result_id).where(
                CheckIn.team_id == self.team_id, CheckIn.prompt_id == prompt_id
            )
        )
        return set(rows.all())

    async def for_week(
        self, key_result_ids: Iterable[int], since: datetime, until: datetime
    ) -> tuple[list[CheckIn], list[CheckIn]]:
        """What a digest needs, in two queries whatever the history's length: per key
        result the latest check-in with a value and the latest with a status among those
        counting for periods before `since`, then every check-in counting for a period in
        [since, until), each list oldest first. Rows without a period count by arrival."""
        ids = list(set(key_result_ids))
        if not ids:
            return [], []
        period = func.coalesce(CheckIn.period_start, CheckIn.created_at)
        newest = (CheckIn.created_at.desc(), CheckIn.id.desc())
        ranked = (
            select(
                CheckIn.id,
                CheckIn.value.is_not(None).label("has_value"),
                CheckIn.status.is_not(None).label("has_status"),
                func.row_number()
                .over(
                    partition_by=(CheckIn.key_result_id, CheckIn.value.is_(None)), order_by=newest
                )
                .label("value_rank"),
                func.row_number()
                .over(
                    partition_by=(CheckIn.key_result_id, CheckIn.status.is_(None)), order_by=newest
                )
                .label("status_rank"),
            )
            .where(CheckIn.team_id == self.team_id, CheckIn.key_result_id.in_(ids), period < since)
            .subquery()
        )
        before = await self.session.scalars(
            select(CheckIn)
            .join(ranked, ranked.c.id == CheckIn.id)
            .where(
                or_(
                    and_(ranked.c.has_value, ranked.c.value_rank == 1),
                    and_(ranked.c.has_status, ranked.c.status_rank == 1),
                )
            )
            .order_by(CheckIn.created_at, CheckIn.id)
        )
        during = await self.session.scalars(
            select(CheckIn)
            .where(
                CheckIn.team_id == self.team_id,
                CheckIn.key_result_id.in_(ids),
                period >= since,
                period < until,
            )
            .order_by(CheckIn.created_at, CheckIn.id)
        )
        return list(before.all()), list(during.all())

    async def latest_by_author(
        self, key_result_ids: Iterable[int], author_id: str
    ) -> dict[int, CheckIn]:
        """The newest check-in of each key result entered by this person (what their save
        just stored, for themselves or on someone's behalf)."""
        ids = list(set(key_result_ids))
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(CheckIn)
            .where(
                CheckIn.team_id == self.team_id,
                CheckIn.key_result_id.in_(ids),
                CheckIn.entered_by == author_id,
            )
            .order_by(CheckIn.created_at, CheckIn.id)
        )
        return {c.key_result_id: c for c in rows.all()}

    async def all_for(self, key_result_ids: Iterable[int]) -> list[CheckIn]:
        """Every check-in of these key results, oldest first (export with history)."""
        ids = list(set(key_result_ids))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(CheckIn)
                .where(CheckIn.team_id == self.team_id, CheckIn.key_result_id.in_(ids))
                .order_by(CheckIn.key_result_id, CheckIn.created_at, CheckIn.id)
            )
        )

    async def history_until(self, key_result_ids: Iterable[int], until: datetime) -> list[CheckIn]:
        """Every check-in of these key results before `until`, oldest first."""
        ids = list(set(key_result_ids))
        if not ids:
            return []
        return list(
            await self.session.scalars(
                select(CheckIn)
                .where(
                    CheckIn.team_id == self.team_id,
                    CheckIn.key_result_id.in_(ids),
                    CheckIn.created_at < until,
                )
                .order_by(CheckIn.created_at, CheckIn.id)
            )
        )

    async def from_message(self, sender_id: str, message_ts: str) -> list[CheckIn]:
        """The check-ins one DM of `sender_id` produced, for themselves or on someone's
        behalf (an edit of it replaces them)."""
        return list(
            await self.session.scalars(
                select(CheckIn)
                .where(
                    CheckIn.team_id == self.team_id,
                    CheckIn.entered_by == sender_id,
                    CheckIn.message_ts == message_ts,
                )
                .order_by(CheckIn.id)
            )
        )

    async def delete(self, check_ins: Iterable[CheckIn]) -> None:
        for check_in in check_ins:
            if check_in.team_id == self.team_id:
                await self.session.delete(check_in)
        await self.session.flush()
