"""bot.blocks.charts: the band as it was at each point, robust limits, gaps (pure)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.blocks.charts import ChartPoint, KpiChart, abnormal, gaps, kpi_chart, robust_limits

T0 = datetime(2026, 11, 25, tzinfo=UTC)


def test_one_outlier_does_not_set_the_scale() -> None:
    values = [100 + math.sin(i / 4) for i in range(200)] + [10_000.0]
    low, high = robust_limits(values, [])
    assert 95 < low < 100 and 101 < high < 110


def test_gaps_longer_than_the_expected_interval() -> None:
    points = [ChartPoint(T0 + timedelta(hours=h), 1.0, None, None) for h in (0, 1, 2, 9, 10)]
    assert gaps(points, timedelta(hours=2)) == [(T0 + timedelta(hours=2), T0 + timedelta(hours=9))]
    assert gaps(points[:3], None) == []


def test_a_value_outside_its_own_band_is_abnormal() -> None:
    assert abnormal(ChartPoint(T0, 9.0, 2.0, 5.0))
    assert not abnormal(ChartPoint(T0, 4.0, 2.0, 5.0))
    assert not abnormal(ChartPoint(T0, 9.0, None, None))  # learning: no band yet


def test_a_seasonal_band_a_spike_and_a_gap_draw_a_png() -> None:
    points = [
        ChartPoint(
            T0 + timedelta(hours=h),
            50 + 10 * math.sin(h / 24 * 2 * math.pi) + (500 if h == 60 else 0),
            40 + 10 * math.sin(h / 24 * 2 * math.pi),
            60 + 10 * math.sin(h / 24 * 2 * math.pi),
        )
        for h in [*range(0, 40), *range(52, 72)]
    ]
    png = kpi_chart(
        KpiChart(
            "Orders (orders)",
            "per hour",
            ZoneInfo("Asia/Tokyo"),
            points,
            timedelta(hours=1),
            episode_from=T0 + timedelta(hours=60),
        )
    )
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
