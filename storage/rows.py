"""Read-only copies of rows for reports.

`/okr status all` and App Home read a thousand key results and their latest
check-ins and change none of them; loading them as ORM instances (identity map,
change tracking, instrumented attributes) made a 200-objective report take 50 ms
in process instead of 35. These are plain Core rows copied into slotted
dataclasses: the fields a report reads, nothing a session could flush.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class KeyResultRow:
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


@dataclass(frozen=True, slots=True)
class CheckInRow:
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


def row_columns(row_type: type[Any], entity: Any) -> tuple[Any, ...]:
    """The columns of `entity` (a model, or an alias of it) that fill `row_type`, in
    its field order, so `row_type(*row)` copies a selected row."""
    return tuple(getattr(entity, name) for name in row_type.__dataclass_fields__)
