"""The KPI health line's data: which state wins, and since when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.blocks.common import slack_time
from bot.blocks.kpis import kpi_health_line
from bot.core.kpi_health import KpiHealth, followed, health_by_kpi
from storage.repositories.kpis import HealthRow

pytestmark = pytest.mark.unit

T = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


def test_a_range_alert_outranks_a_no_data_one_and_the_oldest_counts() -> None:
    rows = [
        HealthRow(1, "latency", T, "no_data", T - timedelta(hours=5)),
        HealthRow(1, "latency", T, "range", T),
        HealthRow(1, "latency", T, "range", T - timedelta(hours=1)),
        HealthRow(2, "signups", T, "no_data", T - timedelta(hours=2)),
        HealthRow(3, "churn", None, None, None),
        HealthRow(4, "conversion", T, None, None),
    ]
    assert health_by_kpi(rows) == {
        1: KpiHealth("latency", "alert", T - timedelta(hours=1)),
        2: KpiHealth("signups", "no_data", T - timedelta(hours=2)),
        3: KpiHealth("churn", "waiting"),
        4: KpiHealth("conversion", "ok"),
    }


def test_followed_keeps_key_result_order_once_each() -> None:
    health = {1: KpiHealth("a", "ok"), 2: KpiHealth("b", "ok")}
    assert followed([2, None, 1, 2, 9], health) == [health[2], health[1]]


def test_slack_time_shows_the_day_only_for_older_moments() -> None:
    ts = int(T.timestamp())
    assert slack_time(T, T + timedelta(hours=3)) == f"<!date^{ts}^{{time}}|13:00 UTC>"
    assert slack_time(T, T + timedelta(days=3)) == (
        f"<!date^{ts}^{{date_short_pretty}} {{time}}|Nov 25 13:00 UTC>"
    )


def test_the_line_escapes_keys_and_is_empty_without_kpis() -> None:
    assert kpi_health_line([]) == ""
    line = kpi_health_line([KpiHealth("a<b>", "ok")])
    assert line == "KPIs: `a&lt;b&gt;` ok"
