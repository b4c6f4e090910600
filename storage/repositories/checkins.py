"""Check-ins: each key result's values over time, newest first where it matters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from storage.models import CheckIn, KeyResult
from storage.repositories.base import TeamRepository


class CheckInRepository(TeamRepository):
    async def latest(self, key_result_ids: Iterable[int]) -> dict[int, CheckIn]:
        """The newest check-in of each key result, in one query."""
        return {c.key_result_id: c for c in await self.recent(key_result_ids, per_key_result=1)}

    async def recent(self, key_result_ids: Iterable[int], per_key_result: int) -> list[CheckIn]:
        """Up to `per_key_result` newest check-ins of each key result, newest first, one query."""
        ids = list(set(key_result_ids))
        if not ids:
            return []
        if per_key_result == 1:
            return await self._newest(ids)
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

    async def _newest(self, ids: list[int]) -> list[CheckIn]:
        """The newest check-in of each key result: one index probe per key result, so
        it costs the same however long the history is (a window over every check-in of
        the listed key results grows with it)."""
        inner = aliased(CheckIn)
        newest_id = (
            select(inner.id)
            .where(inner.key_result_id == KeyResult.id)
            .order_by(inner.created_at.desc(), inner.id.desc())
            .limit(1)
            .correlate(KeyResult)
            .scalar_subquery()
        )
        newest = select(newest_id).where(KeyResult.team_id == self.team_id, KeyResult.id.in_(ids))
        query = (
            select(CheckIn)
            .where(CheckIn.team_id == self.team_id, CheckIn.id.in_(newest))
            .order_by(CheckIn.key_result_id)
        )
        return list((await self.session.scalars(query)).all())

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
