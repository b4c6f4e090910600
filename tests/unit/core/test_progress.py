"""bot.core.progress: SPEC's progress per kind, objective means, cycles and pace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import UserError
from bot.core.progress import (
    BEHIND_PACE_TOLERANCE,
    Measure,
    behind_pace,
    current_cycle,
    cycle_bounds,
    expected_progress,
    has_pace,
    objective_progress,
    progress,
)

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


def moving(kind: str, start: float, target: float, current: float | None) -> Measure:
    return Measure(kind, start, target, None, None, current)


def window(low: float, high: float, current: float | None) -> Measure:
    return Measure("range", None, None, low, high, current)


def boolean(current: float | None) -> Measure:
    return Measure("boolean", 0.0, 1.0, None, None, current)


# --- progress per kind --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target", "current", "expected"),
    [
        (120, 200, 120, 0.0),
        (120, 200, 160, 0.5),
        (120, 200, 200, 1.0),
        (120, 200, 180, 0.75),
        (120, 200, 250, 1.0),  # clamped above
        (120, 200, 100, 0.0),  # clamped below
        (0, 10, 2.5, 0.25),
        (-10, 10, 0, 0.5),
    ],
)
def test_increase(start: float, target: float, current: float, expected: float) -> None:
    assert progress(moving("increase", start, target, current)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("start", "target", "current", "expected"),
    [
        (10, 5, 10, 0.0),
        (10, 5, 7, 0.6),
        (10, 5, 5, 1.0),
        (10, 5, 2, 1.0),  # better than the target: clamped to 1
        (10, 5, 12, 0.0),  # worse than the start: clamped to 0
        (2500, 1500, 2000, 0.5),
    ],
)
def test_decrease(start: float, target: float, current: float, expected: float) -> None:
    assert progress(moving("decrease", start, target, current)) == pytest.approx(expected)


def test_moving_kinds_without_a_value_or_with_a_degenerate_target() -> None:
    assert progress(moving("increase", 120, 200, None)) == 0.0
    assert progress(moving("decrease", 10, 5, None)) == 0.0
    assert progress(moving("increase", 5, 5, 7)) == 0.0
    assert progress(Measure("increase", None, 200, None, None, 150)) == 0.0
    assert progress(Measure("increase", 120, None, None, None, 150)) == 0.0


@pytest.mark.parametrize(
    ("low", "high", "current", "expected"),
    [
        (2, 5, 3.4, 1.0),
        (2, 5, 2, 1.0),  # bounds are inside
        (2, 5, 5, 1.0),
        (2, 5, 1.99, 0.0),
        (2, 5, 5.01, 0.0),
        (0, 1.5, 1.2, 1.0),
        (3, 3, 3, 1.0),
        (2, 5, None, 0.0),
    ],
)
def test_range(low: float, high: float, current: float | None, expected: float) -> None:
    assert progress(window(low, high, current)) == expected


def test_range_without_bounds_is_zero() -> None:
    assert progress(Measure("range", None, None, None, 5, 3)) == 0.0
    assert progress(Measure("range", None, None, 2, None, 3)) == 0.0


@pytest.mark.parametrize(
    ("current", "expected"), [(None, 0.0), (0, 0.0), (0.5, 0.0), (1, 1.0), (1.0, 1.0)]
)
def test_boolean(current: float | None, expected: float) -> None:
    assert progress(boolean(current)) == expected


@given(finite, finite, finite)
def test_moving_progress_is_clamped_and_follows_the_formula(
    start: float, target: float, current: float
) -> None:
    kind = "increase" if target >= start else "decrease"
    value = progress(moving(kind, start, target, current))
    assert 0.0 <= value <= 1.0
    if start != target:
        raw = (current - start) / (target - start)
        assert value == pytest.approx(min(1.0, max(0.0, raw)))


@given(finite, finite)
def test_reaching_the_target_is_full_progress(start: float, target: float) -> None:
    if start == target:
        return
    kind = "increase" if target > start else "decrease"
    assert progress(moving(kind, start, target, target)) == 1.0
    assert progress(moving(kind, start, target, start)) == 0.0


@given(finite, finite, finite)
def test_range_is_all_or_nothing(a: float, b: float, current: float) -> None:
    low, high = min(a, b), max(a, b)
    assert progress(window(low, high, current)) == (1.0 if low <= current <= high else 0.0)


# --- objective progress ---------------------------------------------------------------


def test_objective_progress_is_the_mean() -> None:
    assert objective_progress([]) == 0.0
    assert objective_progress([0.5]) == 0.5
    assert objective_progress([0.0, 1.0]) == 0.5
    assert objective_progress([0.25, 0.5, 1.0, 0.25]) == pytest.approx(0.5)


@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=50))
def test_objective_progress_lies_between_min_and_max(values: list[float]) -> None:
    mean = objective_progress(values)
    assert min(values) - 1e-12 <= mean <= max(values) + 1e-12
    assert mean == pytest.approx(sum(values) / len(values))


# --- cycles ---------------------------------------------------------------------------


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cycle", "start", "end"),
    [
        ("2026-Q1", utc(2026, 1, 1), utc(2026, 4, 1)),
        ("2026-Q2", utc(2026, 4, 1), utc(2026, 7, 1)),
        ("2026-Q3", utc(2026, 7, 1), utc(2026, 10, 1)),
        ("2026-Q4", utc(2026, 10, 1), utc(2027, 1, 1)),
        ("2026-q4", utc(2026, 10, 1), utc(2027, 1, 1)),
        ("2026-H1", utc(2026, 1, 1), utc(2026, 7, 1)),
        ("2026-h2", utc(2026, 7, 1), utc(2027, 1, 1)),
        ("2026", utc(2026, 1, 1), utc(2027, 1, 1)),
        ("2028-Q1", utc(2028, 1, 1), utc(2028, 4, 1)),  # leap year
    ],
)
def test_cycle_bounds(cycle: str, start: datetime, end: datetime) -> None:
    assert cycle_bounds(cycle) == (start, end)


def test_q4_runs_1_october_to_31_december_inclusive() -> None:
    start, end = cycle_bounds("2026-Q4")
    assert start.date().isoformat() == "2026-10-01"
    assert (end - timedelta(microseconds=1)).date().isoformat() == "2026-12-31"
    assert start.tzinfo is UTC and end.tzinfo is UTC


@pytest.mark.parametrize("cycle", ["2026-Q5", "Q4", "2026-W1", "0000", "9999-Q4", ""])
def test_cycle_bounds_rejects_unknown_cycles(cycle: str) -> None:
    with pytest.raises(UserError, match="unknown cycle"):
        cycle_bounds(cycle)


@given(st.integers(1900, 2999))
def test_quarters_and_halves_tile_the_year(year: int) -> None:
    quarters = [cycle_bounds(f"{year}-Q{q}") for q in range(1, 5)]
    halves = [cycle_bounds(f"{year}-H{h}") for h in (1, 2)]
    whole = cycle_bounds(str(year))
    for parts in (quarters, halves):
        assert parts[0][0] == whole[0]
        assert parts[-1][1] == whole[1]
        for (_, end), (next_start, _) in zip(parts, parts[1:], strict=False):
            assert end == next_start
    assert halves[0] == (quarters[0][0], quarters[1][1])
    assert halves[1] == (quarters[2][0], quarters[3][1])


@pytest.mark.parametrize(
    ("now", "cycle"),
    [
        (utc(2026, 1, 1), "2026-Q1"),
        (utc(2026, 3, 31, 23, 59), "2026-Q1"),
        (utc(2026, 4, 1), "2026-Q2"),
        (utc(2026, 9, 30), "2026-Q3"),
        (utc(2026, 11, 25), "2026-Q4"),
        (utc(2026, 12, 31, 23, 59), "2026-Q4"),
    ],
)
def test_current_cycle(now: datetime, cycle: str) -> None:
    assert current_cycle(now) == cycle


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31)))
def test_current_cycle_contains_now(naive: datetime) -> None:
    now = naive.replace(tzinfo=UTC)
    start, end = cycle_bounds(current_cycle(now))
    assert start <= now < end


# --- pace -----------------------------------------------------------------------------


def test_expected_progress_over_q4() -> None:
    assert expected_progress("2026-Q4", utc(2026, 9, 1)) == 0.0
    assert expected_progress("2026-Q4", utc(2026, 10, 1)) == 0.0
    assert expected_progress("2026-Q4", utc(2027, 1, 1)) == 1.0
    assert expected_progress("2026-Q4", utc(2027, 6, 1)) == 1.0
    # 92 days in Q4: 46 days in is exactly half way.
    assert expected_progress("2026-Q4", utc(2026, 11, 16)) == pytest.approx(0.5)
    assert expected_progress("2026-Q4", utc(2026, 12, 31)) == pytest.approx(91 / 92)


def test_expected_progress_year_and_half() -> None:
    assert expected_progress("2026", utc(2026, 7, 2, 12)) == pytest.approx(0.5)
    assert expected_progress("2026-H1", utc(2026, 4, 1, 12)) == pytest.approx(
        (31 + 28 + 31 + 0.5) / 181
    )


def test_expected_progress_accepts_any_time_zone() -> None:
    madrid_winter = timezone(timedelta(hours=1))
    assert expected_progress("2026-Q4", datetime(2026, 10, 1, 1, tzinfo=madrid_winter)) == 0.0
    assert expected_progress("2026-Q4", datetime(2026, 11, 16, 1, tzinfo=madrid_winter)) == (
        pytest.approx(0.5)
    )


@given(
    st.sampled_from(["2026", "2026-Q1", "2026-Q4", "2026-H1", "2026-H2"]),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
)
def test_expected_progress_is_monotone_and_bounded(
    cycle: str, naive: datetime, step: timedelta
) -> None:
    now = naive.replace(tzinfo=UTC)
    earlier, later = expected_progress(cycle, now), expected_progress(cycle, now + step)
    assert 0.0 <= earlier <= later <= 1.0


def test_has_pace() -> None:
    assert has_pace("increase") and has_pace("decrease")
    assert not has_pace("range") and not has_pace("boolean")


@pytest.mark.parametrize(
    ("kind", "actual", "expected", "flagged"),
    [
        ("increase", 0.25, 0.5, True),
        ("decrease", 0.0, 0.75, True),
        ("increase", 0.5, 0.5, False),
        ("increase", 0.9, 0.5, False),  # ahead of pace
        ("increase", 0.45, 0.5, False),  # a little behind is fine
        ("increase", 0.0, 0.25, True),  # exactly the tolerance behind (binary-exact numbers)
        ("increase", 0.0, 0.125, False),
        ("range", 0.0, 0.9, False),  # a range has no pace
        ("boolean", 0.0, 0.99, False),
    ],
)
def test_behind_pace(kind: str, actual: float, expected: float, flagged: bool) -> None:
    assert behind_pace(kind, actual, expected) is flagged


@given(
    st.sampled_from(["increase", "decrease"]),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_behind_pace_is_a_gap_of_at_least_the_tolerance(
    kind: str, actual: float, expected: float
) -> None:
    assert behind_pace(kind, actual, expected) is (expected - actual >= BEHIND_PACE_TOLERANCE)
    if actual >= expected:
        assert not behind_pace(kind, actual, expected)


def test_well_behind_pace_even_when_said_on_track() -> None:
    """SPEC: a key result well behind pace is flagged even when its owner says on track."""
    now = utc(2026, 12, 1)  # two thirds into Q4
    measure = moving("increase", 120, 200, 130)
    assert behind_pace("increase", progress(measure), expected_progress("2026-Q4", now))
