"""PNG charts of a KPI's recent values with the normal range as it was at each point (pure).

The band is drawn per point, so a seasonal range shows its daily shape instead of a
flat stripe; abnormal values are red; a gap longer than the KPI's expected interval is
shaded "no data"; the y-axis is set from the bulk of the data so one outlier does not
flatten the rest (values beyond it are drawn at the edge, as triangles). Times are in
the reader's zone, and the axis says which.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ChartPoint:
    at: datetime
    value: float
    low: float | None  # the normal range this value was judged by, if known
    high: float | None


@dataclass(frozen=True)
class KpiChart:
    title: str
    unit: str | None
    zone: ZoneInfo
    points: list[ChartPoint]
    expected_interval: timedelta | None = None
    episode_from: datetime | None = None  # abnormal values since then are the episode's


def _matplotlib() -> Any:
    """pyplot, loaded on first use: importing matplotlib costs a few hundred ms."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    from matplotlib import pyplot

    return pyplot


def _quantile(ordered: list[float], q: float) -> float:
    index = q * (len(ordered) - 1)
    low = int(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def robust_limits(values: list[float], bands: list[float]) -> tuple[float, float]:
    """y-limits from the 2nd-98th percentiles of the values (and the band), padded: a
    single outlier cannot squash the rest into a line."""
    ordered = sorted(values)
    low, high = _quantile(ordered, 0.02), _quantile(ordered, 0.98)
    if bands:
        low, high = min(low, min(bands)), max(high, max(bands))
    span = high - low or abs(high) or 1.0
    return low - 0.15 * span, high + 0.15 * span


def gaps(points: list[ChartPoint], expected: timedelta | None) -> list[tuple[datetime, datetime]]:
    """Stretches without data: longer than the expected interval (or 3x the usual step)."""
    if len(points) < 2:
        return []
    steps = sorted(b.at - a.at for a, b in zip(points, points[1:], strict=False))
    usual = steps[len(steps) // 2]
    limit = max(expected or usual * 3, usual * 3)
    return [(a.at, b.at) for a, b in zip(points, points[1:], strict=False) if b.at - a.at > limit]


def abnormal(point: ChartPoint) -> bool:
    return (point.low is not None and point.value < point.low) or (
        point.high is not None and point.value > point.high
    )


def kpi_chart(chart: KpiChart) -> bytes:
    """A 6x2.6 inch PNG of the chart."""
    pyplot = _matplotlib()
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

    def _num(at: datetime) -> float:
        return float(date2num(at))  # type: ignore[no-untyped-call]

    figure, axes = pyplot.subplots(figsize=(6, 2.6), dpi=100)
    try:
        points = chart.points
        local = [p.at.astimezone(chart.zone).replace(tzinfo=None) for p in points]
        times = [_num(at) for at in local]
        values = [p.value for p in points]
        bands = [b for p in points for b in (p.low, p.high) if b is not None]
        bottom, top = robust_limits(values or [0.0], bands)
        banded = [
            (t, p)
            for t, p in zip(times, points, strict=True)
            if p.low is not None or p.high is not None
        ]
        if banded:
            axes.fill_between(
                [t for t, _ in banded],
                [bottom if p.low is None else p.low for _, p in banded],
                [top if p.high is None else p.high for _, p in banded],
                step="mid",
                color="#22c55e",
                alpha=0.18,
                linewidth=0,
                label="normal range",
            )
        clipped = [min(max(v, bottom), top) for v in values]
        axes.plot(times, clipped, color="#1d4ed8", linewidth=1.3)
        since = chart.episode_from
        red = [
            (t, c)
            for t, c, p in zip(times, clipped, points, strict=True)
            if abnormal(p) and (since is None or p.at >= since)
        ]
        if red:
            axes.scatter([t for t, _ in red], [c for _, c in red], color="#dc2626", s=16, zorder=3)
        beyond = [(t, c, v) for t, c, v in zip(times, clipped, values, strict=True) if c != v]
        for t, c, _ in beyond:
            axes.scatter([t], [c], marker="^" if c >= top else "v", color="#dc2626", s=36, zorder=4)
        for start, end in gaps(points, chart.expected_interval):
            left = _num(start.astimezone(chart.zone).replace(tzinfo=None))
            right = _num(end.astimezone(chart.zone).replace(tzinfo=None))
            axes.axvspan(left, right, color="#9ca3af", alpha=0.25, linewidth=0)
            axes.text((left + right) / 2, top, "no data", ha="center", va="top", fontsize=7)
        axes.set_ylim(bottom, top)
        axes.set_title(chart.title, fontsize=10, loc="left")
        if chart.unit:
            axes.set_ylabel(chart.unit, fontsize=8)
        axes.set_xlabel(f"times in {chart.zone.key}", fontsize=7)
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)


def sparkline(values: list[float]) -> str:
    """A one-line text chart (▁▂▃▄▅▆▇█) for places an image cannot go."""
    if not values:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(bars[min(7, int((v - low) / span * 7.999))] for v in values)
