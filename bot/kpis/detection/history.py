"""Histories as CSV (`timestamp,value`) and replaying them: `okrbot kpi backtest`."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from datetime import datetime

from bot.core.times import parse_instant
from bot.kpis.detection.config import DetectorConfig
from bot.kpis.detection.detector import Detector, epoch


def backtest(
    rows: Iterable[tuple[datetime, float]], config: DetectorConfig
) -> Iterator[tuple[datetime, float, float, int]]:
    """Replay a history through the live rules: (timestamp, value, score, alert opens?)."""
    detector = Detector(config)
    step = detector._step
    for at, value in rows:
        result = step(epoch(at), float(value))
        yield at, value, result[0], 1 if result[4] else 0


def parse_history_csv(text_or_lines: str | Iterable[str]) -> list[tuple[datetime, float]]:
    """Read `timestamp,value` CSV (ISO 8601 or `YYYY-MM-DD HH:MM:SS`, naive = UTC).

    Returns aware datetimes (offsets as given) in file order. Raises ValueError
    naming the line on a bad header or row; blank lines are skipped.
    """
    lines = text_or_lines.splitlines() if isinstance(text_or_lines, str) else text_or_lines
    reader = csv.reader(lines)
    rows: list[tuple[datetime, float]] = []
    header_seen = False
    try:
        for record in reader:
            line = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if not header_seen:
                names = [cell.strip().lstrip("\ufeff").lower() for cell in record]
                if names != ["timestamp", "value"]:
                    raise ValueError(f"line {line}: expected the header 'timestamp,value'")
                header_seen = True
                continue
            if len(record) != 2:
                raise ValueError(f"line {line}: expected 2 fields, got {len(record)}")
            try:
                at = parse_instant(record[0])
            except ValueError:
                raise ValueError(
                    f"line {line}: {record[0].strip()!r} is not an ISO 8601 timestamp"
                ) from None
            try:
                value = float(record[1])
            except ValueError:
                raise ValueError(f"line {line}: {record[1].strip()!r} is not a number") from None
            if not math.isfinite(value):
                raise ValueError(f"line {line}: {record[1].strip()!r} is not a finite number")
            rows.append((at, value))
    except csv.Error as exc:
        raise ValueError(f"line {reader.line_num}: {exc}") from None
    if not header_seen:
        raise ValueError("line 1: expected the header 'timestamp,value'")
    return rows


def format_backtest_csv(rows: Iterable[tuple[datetime, float, float, int]]) -> str:
    """`timestamp,value,score,alert` lines (with header) in the order given."""
    out = ["timestamp,value,score,alert"]
    append = out.append
    for at, value, score, alert in rows:
        append(f"{at.isoformat()},{float(value)!r},{score:.4f},{alert}")
    out.append("")
    return "\n".join(out)
