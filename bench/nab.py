"""NAB-style scoring of alerts on labelled streams, written from the corpus README.

A labelled corpus is a folder with `data/<category>/<name>.csv` (`timestamp,value`)
and `labels.json` (`{"<category>/<name>.csv": [[start, end], ...]}`). The rules:

* rows are numbered 0..N-1 in file order; a window [start, end] covers rows L..R, the
  first rows whose timestamps equal start and end; W = R - L + 1;
* alerts in the first P = min(floor(0.15 N), 750) rows are ignored;
* sigma(x) = 2 / (1 + e^(5x)) - 1, and -1 for x > 3;
* in each window only the earliest alert counts: tp * sigma(-(R - i + 1) / W) / sigma(-1);
  a window without one costs -fn;
* every alert outside all windows costs fp * sigma(|i - R_prev| / (W_prev - 1)) against
  the last window that ended before it, or fp * -1 when there is none;
* score = 100 * (raw - null) / (perfect - null), null = -fn * windows, perfect = tp * windows.

The labels are read here only to score; no detector ever sees them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

PROFILES = {"standard": (1.0, 0.11, 1.0), "lowFP": (1.0, 0.22, 1.0), "lowFN": (1.0, 0.11, 2.0)}


def sigma(x: float) -> float:
    return -1.0 if x > 3.0 else 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


@dataclass
class Stream:
    name: str  # "<category>/<name>.csv"
    times: list[datetime]
    values: list[float]
    windows: list[tuple[int, int]]  # (L, R) row indexes

    @property
    def probation(self) -> int:
        return min(len(self.times) * 15 // 100, 750)


@dataclass
class FileScore:
    alerts: int = 0
    hit: int = 0
    fp_rows: int = 0
    tp_rows: int = 0
    raw: dict[str, float] = field(default_factory=dict)


def load_corpus(folder: Path) -> list[Stream]:
    """Every labelled stream of the corpus, in name order."""
    labels: dict[str, list[list[str]]] = json.loads((folder / "labels.json").read_text())
    streams = []
    for name in sorted(labels):
        times: list[datetime] = []
        values: list[float] = []
        text = (folder / "data" / name).read_text(encoding="utf-8-sig")
        for line in text.splitlines()[1:]:
            if not line.strip():
                continue
            stamp, value = line.split(",")
            times.append(parse_time(stamp))
            values.append(float(value))
        first: dict[datetime, int] = {}
        for index, at in enumerate(times):
            first.setdefault(at, index)  # a repeated timestamp: the first row counts
        windows = [(first[parse_time(s)], first[parse_time(e)]) for s, e in labels[name]]
        streams.append(Stream(name, times, values, windows))
    return streams


def score(stream: Stream, alerts: list[int]) -> FileScore:
    """One file's alerts (row indexes) under every profile."""
    result = FileScore(alerts=len(alerts))
    counted = [i for i in sorted(set(alerts)) if i >= stream.probation]
    window_terms: list[float] = []
    for left, right in stream.windows:
        width = right - left + 1
        inside = [i for i in counted if left <= i <= right]
        result.tp_rows += len(inside)
        if inside:
            result.hit += 1
            window_terms.append(sigma(-(right - inside[0] + 1) / width) / sigma(-1.0))
        else:
            window_terms.append(math.nan)  # a miss: -fn, per profile
    fp_terms = []
    for i in counted:
        if any(left <= i <= right for left, right in stream.windows):
            continue
        result.fp_rows += 1
        before = [(left, right) for left, right in stream.windows if right < i]
        if not before:
            fp_terms.append(-1.0)
            continue
        left, right = before[-1]
        width = right - left + 1
        fp_terms.append(sigma(abs(i - right) / max(width - 1, 1)))
    for profile, (tp, fp, fn) in PROFILES.items():
        wins = sum(-fn if math.isnan(term) else tp * term for term in window_terms)
        result.raw[profile] = wins + fp * sum(fp_terms)
    return result


def normalised(raw: float, windows: int, profile: str) -> float:
    tp, _, fn = PROFILES[profile]
    null, perfect = -fn * windows, tp * windows
    return 100.0 * (raw - null) / (perfect - null) if windows else math.nan
