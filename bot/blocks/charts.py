"""Small PNG charts of a KPI's recent history with its normal range shaded (pure)."""

from __future__ import annotations

import io
from datetime import datetime

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

from matplotlib import pyplot  # noqa: E402
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num  # noqa: E402


def _num(at: datetime) -> float:
    return float(date2num(at))  # type: ignore[no-untyped-call]


def kpi_chart(
    title: str,
    points: list[tuple[datetime, float]],
    low: float | None,
    high: float | None,
    highlight_from: datetime | None = None,
) -> bytes:
    """A 6×2.4 inch line chart; the band is the normal range, red points are abnormal."""
    figure, axes = pyplot.subplots(figsize=(6, 2.4), dpi=100)
    try:
        times = [_num(at) for at, _ in points]
        values = [value for _, value in points]
        axes.plot(times, values, color="#1d4ed8", linewidth=1.4)
        if low is not None or high is not None:
            finite = values or [0.0]
            bottom = low if low is not None else min(finite + [high or 0.0])
            top = high if high is not None else max(finite + [low or 0.0])
            axes.axhspan(bottom, top, color="#22c55e", alpha=0.15, label="normal range")
        outside = [
            (at, value)
            for at, value in points
            if (low is not None and value < low) or (high is not None and value > high)
        ]
        if highlight_from is not None:
            outside = [(at, v) for at, v in outside if at >= highlight_from]
        if outside:
            axes.scatter(
                [_num(at) for at, _ in outside],
                [value for _, value in outside],
                color="#dc2626",
                s=16,
                zorder=3,
            )
        axes.set_title(title, fontsize=10, loc="left")
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
