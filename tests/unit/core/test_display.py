"""How numbers, units, intervals and pace read (issue 10's cosmetics), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.numbers import format_number, format_value
from bot.core.progress import expected_progress, pace_start
from bot.core.times import describe_every


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (60, "every minute"),
        (900, "every 15 minutes"),
        (3600, "every hour"),
        (5400, "every 90 minutes"),
        (7200, "every 2 hours"),
        (86400, "every day"),
        (172800, "every 2 days"),
        (604800, "every week"),
        (30, "every 30 seconds"),
    ],
)
def test_intervals_in_words(seconds: int, said: str) -> None:
    assert describe_every(seconds) == said


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (2.1378, "teams", "2.14 teams"),  # never `2.138`: a thousands group in Berlin
        (2138, "teams", "2,138 teams"),
        (1, "partners", "1 partner"),
        (1, "teams", "1 team"),
        (2, "partners", "2 partners"),
        (1, "ms", "1 ms"),
        (1, "s", "1 s"),
        (1, "%", "1%"),
        (1, "class", "1 class"),
        (1.5, "teams", "1.5 teams"),
        (0.1234, None, "0.123"),
        (1234.567, None, "1,234.57"),
        (None, "teams", "–"),
    ],
)
def test_values_with_units(value: float | None, unit: str | None, shown: str) -> None:
    assert format_value(value, unit) == shown


@given(st.floats(min_value=1, max_value=1e14, allow_nan=False))
def test_never_three_decimals_from_one_up(value: float) -> None:
    shown = format_number(value)
    if "." in shown:
        assert len(shown.split(".")[1]) <= 2


def test_pace_starts_at_the_later_of_cycle_start_and_creation() -> None:
    q4 = datetime(2026, 10, 1, tzinfo=UTC)
    made = datetime(2026, 11, 24, tzinfo=UTC)
    assert pace_start("2026-Q4") == q4
    assert pace_start("2026-Q4", datetime(2026, 9, 1, tzinfo=UTC)) == q4
    assert pace_start("2026-Q4", made) == made
    assert pace_start("2026-Q4", made.replace(tzinfo=None)) == made  # stored naive = UTC
    assert expected_progress("2026-Q4", made, made) == 0.0
    end = datetime(2027, 1, 1, tzinfo=UTC)
    halfway = made + (end - made) / 2
    assert expected_progress("2026-Q4", halfway, made) == pytest.approx(0.5)
    assert expected_progress("2026-Q4", halfway) == pytest.approx((halfway - q4) / (end - q4))
    assert expected_progress("2026-Q4", end + timedelta(days=1), made) == 1.0
