"""A KPI's alerting rules and their defaults, in one place (commands, YAML, CLI, detector)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.kpis.detection import Detector, DetectorConfig

if TYPE_CHECKING:  # the CLI's backtest reads DEFAULTS without loading the ORM
    from storage.models import Kpi


@dataclass(frozen=True)
class KpiRules:
    """What decides a KPI's alerts."""

    min_value: float | None = None
    max_value: float | None = None
    consecutive: int = 1
    """Abnormal measurements in a row that open an alert."""
    min_history: int = 30
    """Measurements a learned range needs before it may alert."""

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            min_value=self.min_value,
            max_value=self.max_value,
            min_history=self.min_history,
            consecutive=self.consecutive,
        )


DEFAULTS = KpiRules()


def rules_of(kpi: Kpi) -> KpiRules:
    return KpiRules(kpi.min_value, kpi.max_value, kpi.consecutive, kpi.min_history)


def detector_of(kpi: Kpi) -> Detector:
    """The KPI's streaming detector, carrying on from its stored state."""
    state = json.loads(kpi.detector_state) if kpi.detector_state else None
    return Detector(rules_of(kpi).detector_config(), state)
