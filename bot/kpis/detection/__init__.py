"""KPI anomaly detection: pure, streaming, no I/O (see `detector` for the method)."""

from bot.kpis.detection.config import DetectorConfig
from bot.kpis.detection.detector import Detector, Evaluation
from bot.kpis.detection.history import backtest, format_backtest_csv, parse_history_csv

__all__ = [
    "Detector",
    "DetectorConfig",
    "Evaluation",
    "backtest",
    "format_backtest_csv",
    "parse_history_csv",
]
