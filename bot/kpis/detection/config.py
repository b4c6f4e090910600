"""How one KPI is judged: the detector's settings, validated (pure).

The defaults are one configuration for every KPI (they were chosen on labelled real
metric streams, see docs/detection.md); a KPI sets only its bounds, `consecutive`
and `min_history`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    min_value: float | None = None
    """Static lower bound (a value below it is abnormal); none: the range is learned."""
    max_value: float | None = None
    """Static upper bound."""
    min_history: int = 30
    """Measurements needed before a learned range may alert."""
    consecutive: int = 1
    """Abnormal measurements in a row that open an alert."""
    threshold: float = 4.0
    """Surprise -log10(p) at or above which a value is abnormal (p = 1e-4)."""
    resolve_threshold: float = 2.0
    """An open episode counts a value towards its resolution below this surprise."""
    resolve_after: int = 3
    """Calm measurements in a row that end an episode."""
    cooldown: int = 100
    """Measurements after an episode during which no new alert opens (one episode, one alert)."""
    adapt_after: int = 12
    """Same-side surprises in a row after which the level is re-anchored (a level shift)."""
    memory: int = 2000
    """Horizon (measurements) of the error distributions (about a week of 5-minute data)."""
    scale_memory: int = 200
    """Horizon (measurements) of the robust error scale."""
    short_window: int = 12
    """Values averaged by the anomaly likelihood (the context test)."""
    level_smoothing: float = 0.1
    trend_smoothing: float = 0.001
    trend_damping: float = 0.95
    season_smoothing: float = 0.2
    """Seasonal profile gain (per visit of a phase)."""
    huber: float = 3.0
    """Errors are clipped at this many scales before they update the models."""
    season_gain: float = 0.8
    """A seasonal model is used when its RMS error is below this share of the flat one's."""
    max_bins: int = 168
    """Most phases of a weekly profile (hourly)."""
    max_daily_bins: int = 288
    """Most phases of a daily profile (5-minute)."""
    likelihood: bool = True
    """Use the context test (anomaly likelihood) as well as the value test."""
    combine: str = "fisher"
    """'fisher': Fisher's combination of the two tests; 'max': the stronger one (Bonferroni)."""
    rate_control: bool = False
    """Raise the bar for KPIs with more excursions than calibrated (off: it did not help)."""
    escalate: float = 2.0
    """In a cool-down, an abnormal value this many times as surprising as the last episode's
    peak opens a new alert (0: never)."""
    seasonality: bool = True
    """Learn daily and weekly profiles."""
    static_hysteresis: float = 0.02
    """Share of the static range an alert must come back inside to resolve."""

    def __post_init__(self) -> None:
        for name in ("min_value", "max_value"):
            bound = getattr(self, name)
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"{name} must be a finite number")
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValueError("min must not be above max")
        for name in (
            "min_history",
            "consecutive",
            "resolve_after",
            "adapt_after",
            "memory",
            "scale_memory",
            "short_window",
            "max_bins",
            "max_daily_bins",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.memory < 2:
            raise ValueError("memory must be at least 2")
        if self.cooldown < 0:
            raise ValueError("cooldown must not be negative")
        if not 0 < self.resolve_threshold <= self.threshold:
            raise ValueError("resolve_threshold must be in (0, threshold]")
        for name in ("level_smoothing", "trend_smoothing", "season_smoothing"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")
        if not 0 < self.trend_damping < 1:
            raise ValueError("trend_damping must be in (0, 1)")
        if self.huber <= 0 or self.static_hysteresis < 0 or not 0 < self.season_gain <= 1:
            raise ValueError("huber, static_hysteresis or season_gain out of range")
        if self.combine not in ("fisher", "max"):
            raise ValueError("combine must be 'fisher' or 'max'")

    @property
    def static(self) -> bool:
        """True when the normal range is given by bounds rather than learned."""
        return self.min_value is not None or self.max_value is not None

    def replace(self, **changes: Any) -> DetectorConfig:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
