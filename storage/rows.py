"""Read-only copies of rows for reports.

`/okr status all` and App Home read hundreds of objectives, a thousand key results
and their latest check-ins and change none of them; loading them as ORM instances (identity map,
change tracking, instrumented attributes) made a 200-objective report take 50 ms
in process instead of 35. These are plain Core rows kept as named tuples: the
fields a report reads, nothing a session could flush. Tuples rather than frozen
dataclasses because a frozen dataclass sets each field through
`object.__setattr__`: 2.8 µs per 15-field row instead of 0.35.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func


class ObjectiveRow(NamedTuple):
    id: int
    number: int
    title: str
    owner_id: str
    channel_id: str | None
    cycle: str
    status: str
    parent_id: int | None


class KeyResultRow(NamedTuple):
    id: int
    number: int
    objective_id: int
    title: str
    owner_id: str
    kind: str
    start_value: float | None
    target_value: float | None
    range_low: float | None
    range_high: float | None
    current_value: float | None
    unit: str | None
    confidence: int | None
    kpi_id: int | None
    created_at: datetime


class CheckInRow(NamedTuple):
    id: int
    key_result_id: int
    value: float | None
    status: str | None
    confidence: int | None
    note: str | None
    author_id: str | None
    entered_by: str | None
    created_at: datetime
    period_start: datetime | None

    @property
    def counts_for(self) -> datetime:
        """The owner period it counts for (rows from before periods were stored: its
        arrival)."""
        return self.period_start or self.created_at


class LatestCheckIn(NamedTuple):
    """What a summary reads of a key result's newest check-in (its history is listed only
    in one objective's detail, from `CheckInRow`s); `counts_for` as `CheckInRow`'s, read
    as one column."""

    key_result_id: int
    status: str | None
    confidence: int | None
    counts_for: datetime


def latest_check_in_columns(entity: Any) -> tuple[Any, ...]:
    """The columns of `entity` (check-ins, or an alias) that fill a `LatestCheckIn`."""
    return (
        entity.key_result_id,
        entity.status,
        entity.confidence,
        func.coalesce(entity.period_start, entity.created_at).label("counts_for"),
    )


RowType = type[ObjectiveRow] | type[KeyResultRow] | type[CheckInRow]


def row_columns(row_type: RowType, entity: Any) -> tuple[Any, ...]:
    """The columns of `entity` (a model, or an alias of it) that fill `row_type`, in
    its field order, so `row_type._make(row)` copies a selected row."""
    return tuple(getattr(entity, name) for name in row_type._fields)
