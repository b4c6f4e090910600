"""How one KPI is judged: the detector's settings, validated (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_SCALE_SAMPLES = 8


@dataclass(frozen=True)
class DetectorConfig:
    """How one KPI is judged. The defaults are the product's; tune per KPI sparingly."""

    min_value: float | None = None
    max_value: float | None = None
    min_history: int = 30
    consecutive: int = 1
    threshold: float = 4.5
    """Robust z-score beyond which a value is abnormal."""
    resolve_threshold: float = 3.0
    """An open alert counts a value towards resolution only below this z-score."""
    resolve_after: int = 2
    """Consecutive in-range values needed to resolve an open alert."""
    cooldown: int = 5
    """Measurements after a resolution during which only a strong signal re-opens."""
    adapt_after: int = 12
    """Consecutive same-side deviations after which the level is re-estimated."""
    scale_window: int = 128
    """Forecast errors kept for the robust scale (MAD)."""
    level_smoothing: float = 0.07
    trend_smoothing: float = 0.003
    trend_damping: float = 0.98
    huber: float = 2.0
    """Residuals are clipped at this many scales before updating the model."""
    drift_allowance: float = 1.0
    """CUSUM reference: standardised error per measurement tolerated as noise."""
    drift_threshold: float = 6.0
    """CUSUM decision interval: accumulated excess error that counts as abnormal."""
    seasonality: bool = True
    static_hysteresis: float = 0.02
    """Fraction of the static range an alert must come back inside to resolve."""

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
        for name in ("min_history", "consecutive", "resolve_after", "adapt_after"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.cooldown < 0:
            raise ValueError("cooldown must not be negative")
        if self.scale_window < MIN_SCALE_SAMPLES:
            raise ValueError(f"scale_window must be at least {MIN_SCALE_SAMPLES}")
        if not 0 < self.resolve_threshold <= self.threshold:
            raise ValueError("resolve_threshold must be in (0, threshold]")
        if not (0 < self.level_smoothing <= 1 and 0 <= self.trend_smoothing <= 1):
            raise ValueError("smoothing factors must be in (0, 1]")
        if not 0 < self.trend_damping <= 1:
            raise ValueError("trend_damping must be in (0, 1]")
        if self.drift_allowance < 0 or self.drift_threshold <= 0:
            raise ValueError("drift_allowance must not be negative, drift_threshold positive")
        if self.huber <= 0 or self.static_hysteresis < 0:
            raise ValueError("huber must be positive and static_hysteresis not negative")

    @property
    def static(self) -> bool:
        """True when the normal range is given by bounds rather than learned."""
        return self.min_value is not None or self.max_value is not None
