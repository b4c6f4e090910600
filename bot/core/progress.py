"""Progress, cycles and pace: pure arithmetic on key results, no I/O."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import NamedTuple

from bot.core.grammar import parse_cycle

# What an owner says of a key result in a check-in, and how it reads.
STATUSES = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}

# A key result this many points (fraction of 1) behind its straight-line pace is flagged.
BEHIND_PACE_TOLERANCE = 0.2


class Measure(NamedTuple):
    """The numbers that define a key result's progress (a tuple: a report builds a
    thousand, and a frozen dataclass costs several times as much to build)."""

    kind: str
    start: float | None
    target: float | None
    low: float | None
    high: float | None
    current: float | None


def progress(measure: Measure) -> float:
    """SPEC: increase/decrease (current − start)/(target − start) clamped; range/boolean 0 or 1."""
    current = measure.current
    if measure.kind == "boolean":
        return 1.0 if current is not None and current >= 1 else 0.0
    if measure.kind == "range":
        if current is None or measure.low is None or measure.high is None:
            return 0.0
        return 1.0 if measure.low <= current <= measure.high else 0.0
    start, target = measure.start, measure.target
    if start is None or target is None or start == target:
        return 0.0
    value = start if current is None else current
    return min(1.0, max(0.0, (value - start) / (target - start)))


def objective_progress(key_result_progress: list[float]) -> float:
    """Mean of its key results; an objective with none has made no measurable progress."""
    if not key_result_progress:
        return 0.0
    return sum(key_result_progress) / len(key_result_progress)


def current_cycle(now: datetime) -> str:
    """The quarter `now` falls in, e.g. `2026-Q4`: the default cycle of a new objective."""
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


@functools.lru_cache(maxsize=256)  # a report asks once per key result, of a few cycles
def cycle_bounds(cycle: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC: `2026-Q4` is 1 Oct – 31 Dec, `2026-H1` Jan–Jun, `2026` the year."""
    normalized = parse_cycle(cycle)
    year = int(normalized[:4])
    part = normalized[5:]
    if not part:
        first_month, months = 1, 12
    elif part.startswith("Q"):
        first_month, months = (int(part[1]) - 1) * 3 + 1, 3
    else:
        first_month, months = (int(part[1]) - 1) * 6 + 1, 6
    start = date(year, first_month, 1)
    end_month = first_month + months
    end = date(year + 1, 1, 1) if end_month > 12 else date(year, end_month, 1)
    return (
        datetime(start.year, start.month, 1, tzinfo=UTC),
        datetime(end.year, end.month, 1, tzinfo=UTC),
    )


def pace_start(cycle: str, created_at: datetime | None = None) -> datetime:
    """When a key result's straight line starts: the later of the cycle's start and
    the key result's creation, so one added late in the quarter is not behind at once."""
    start, _ = cycle_bounds(cycle)
    if created_at is None:
        return start
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return max(start, created)


def expected_progress(cycle: str, now: datetime, created_at: datetime | None = None) -> float:
    """Where a straight line from start to target stands at `now`: from `pace_start`
    (the cycle's start, or the key result's creation when later) to the cycle's end."""
    _, end = cycle_bounds(cycle)
    start = pace_start(cycle, created_at)
    if now <= start:
        return 0.0
    if now >= end:
        return 1.0
    return (now - start) / (end - start)


def has_pace(kind: str) -> bool:
    """Only moving targets have a pace; a range is held and a boolean is done or not."""
    return kind in {"increase", "decrease"}


def behind_pace(kind: str, actual: float, expected: float) -> bool:
    return has_pace(kind) and expected - actual >= BEHIND_PACE_TOLERANCE
