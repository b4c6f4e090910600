"""Candidate improvement goals: KPIs out of range for more than a quarter of four weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.kpi_health import CANDIDATE_WINDOW, improvement_candidates
from bot.okrs.commands import KpiGoal, check_kpi_goal
from storage.repositories.kpis import AlertSpan

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def span(kpi_id: int, start_days_ago: float, end_days_ago: float | None) -> AlertSpan:
    end = None if end_days_ago is None else NOW - end_days_ago * DAY
    return AlertSpan(kpi_id, f"k{kpi_id}", f"KPI {kpi_id}", NOW - start_days_ago * DAY, end)


def test_a_quarter_exactly_is_not_enough_and_a_little_more_is() -> None:
    assert improvement_candidates([span(1, 20, 13)], NOW) == []  # 7 of 28 days: 25 %
    [one] = improvement_candidates([span(1, 20, 12.9)], NOW)
    assert one.key == "k1" and one.abnormal_share == pytest.approx(7.1 / 28)


def test_overlapping_alerts_count_once_and_the_window_clips() -> None:
    # Two overlapping alerts (days 10..4 and 8..2 ago) cover 8 days, not 12.
    [one] = improvement_candidates([span(1, 10, 4), span(1, 8, 2)], NOW)
    assert one.abnormal_share == pytest.approx(8 / 28)
    # An alert open since 60 days counts only its last 28: the whole window.
    [always] = improvement_candidates([span(2, 60, None)], NOW)
    assert always.abnormal_share == pytest.approx(1.0)
    # One that ended before the window does not count at all, nor one after `now`.
    before = span(3, 60, 30)
    after = AlertSpan(4, "k4", "KPI 4", NOW + DAY, None)
    assert improvement_candidates([before, after], NOW) == []


def test_worst_first_and_followed_kpis_are_left_out() -> None:
    spans = [span(1, 10, 2), span(2, 20, 2), span(3, 28, 0)]
    found = improvement_candidates(spans, NOW, exclude=[3])
    assert [c.key for c in found] == ["k2", "k1"]
    assert timedelta(weeks=4) == CANDIDATE_WINDOW


def test_the_goal_modal_checks_every_field_at_once() -> None:
    goal, errors = check_kpi_goal("latency", None, "  ", "fast", None)
    assert goal is None and errors.keys() == {"objective", "title", "target", "owner"}
    goal, errors = check_kpi_goal("latency", "2", " Under  100 ms ", "1,200", "U2")
    assert errors == {} and goal == KpiGoal("latency", 2, "Under 100 ms", 1200.0, "U2")
    assert check_kpi_goal("latency", "2", "x" * 201, "1", "U2")[1].keys() == {"title"}
