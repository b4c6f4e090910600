"""Benchmark KPI anomaly detection on a labelled synthetic corpus.

Builds deterministic KPI streams (hourly and daily cadence) in seven
categories -- spikes, dips, level shifts, trend changes, seasonal patterns,
pure noise (no anomalies) and missing data -- with every anomaly's window
labelled, replays each through `bot.detection.backtest` (the code path behind
`okrbot kpi backtest`) and prints, per category and overall:

* precision = detected windows / (detected windows + false alarms), where a
  false alarm is an alert opening outside every window (extra alerts inside a
  window that is already detected are neither rewarded nor punished, as in NAB);
* recall = detected windows / windows;
* median detection delay, in points and in time, from the anomaly's onset to
  the first alert inside its window;
* a NAB-style score (standard profile: an alert at relative position y in a
  window earns 2/(1+e^{5y})-1 scaled so the window's left edge scores 1, only
  the first per window counts; a false alarm costs 0.11 x the same sigmoid of
  its distance past the previous window (0.11 when far or before any window);
  a missed window costs 1), normalised so a perfect detector scores 100 and
  one that never alerts scores 0;
* apart from the corpus, the false alarms on 200 clean hourly streams of 200
  points with a daily wave (+-8 sigma) -- seasonality is adopted after two
  days, from two periods of history, the riskiest moment for false alarms --
  and how many of an 8-sigma off-phase spike after point 120 are caught;
* throughput of `backtest` in points per second on one core, then parse,
  backtest and format separately on a long (~90,000-point) stream, and the
  whole CLI (`.venv/bin/okrbot kpi backtest`, start-up included) timed once end
  to end on that file, the largest.

The corpus (seeds fixed; 12 streams per category, half hourly with 1,440
points = 60 days, half daily with 540 points): a level of 20-200 (Poisson
counts) or 50-5,000 (Gaussian or log-normal noise of 2-8%, Student t(8) among
the noise streams), maybe a slow drift of up to 5 sigma over the stream, and,
for about half of the streams, a daily (hourly cadence, business-day shape) or
weekly (daily cadence, low weekends) pattern of 3-8 sigma. Two anomalies per
stream, after the first quarter: one-point spikes of 7-14 sigma (a third of
them down); dips of 2-8 hours (2-3 days) of 7-14 sigma or an outage to 0-10%
of the level; permanent level shifts of 5-10 sigma; trend changes of 0.3-1.5
sigma per point for 12-48 hours (6-20 days) that then plateau; seasonal
streams get pattern breaks (a third of a day, or two days, without the
pattern) or a spike/dip; missing-data streams drop 5-15% of points at random
plus one to three gaps of 12-72 hours (3-10 days). sigma is the noise level;
a drop that would take more than 60% of the lowest normal value is made a rise
instead (outages aside).

A window starts at the anomaly's onset and runs to its last anomalous point
plus 10% of the stream / anomalies in it (NAB's window size). All points are
scored (no probationary period): anomalies are placed after the first quarter
of each stream, so alerts before that are false alarms. Run:
`.venv/bin/python bench/detection.py`.

With `--corpus DIR` it scores a labelled corpus laid out like NAB's instead
(`DIR/data/<category>/<name>.csv`, `DIR/labels.json`; e.g. `../shared/kpi-corpus`):
per file and in total the alerts, windows hit, false-alarm rows and the three NAB
scores (bench/nab.py, written from the corpus README), with plain 0/1 alerts from
`backtest` — the same code and rules as `okrbot kpi backtest FILE`; the false alarms
per KPI-week of the streams resampled to hourly means, outside the labelled windows;
and points per second in process. `--results OUT` writes each file's
`timestamp,value,score,alert` output as `OUT/<category>/<name>.csv`, so the corpus's
own checker can rescore them (`python score.py --results OUT`); `--river` scores a
library alternative (river's GaussianScorer + QuantileFilter, same episode rule) the
same way, when river is installed (`.venv/bin/pip install -e ".[bench]"`).
"""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.kpis.detection import (  # noqa: E402
    DetectorConfig,
    backtest,
    format_backtest_csv,
    parse_history_csv,
)

HOUR = 3600.0
DAY = 86400.0
START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
STREAMS_PER_CATEGORY = 12  # half hourly, half daily
HOURLY_POINTS = 24 * 60
DAILY_POINTS = 540
BASE_SEED = 20261125
LONG_POINTS = 100_000  # the throughput stream


@dataclass
class Window:
    kind: str
    onset: int  # index into the stream's points
    end: int  # inclusive
    onset_time: datetime


@dataclass
class Stream:
    name: str
    category: str
    cadence: float
    times: list[datetime]
    values: list[float]
    windows: list[Window] = field(default_factory=list)


# ------------------------------------------------------------------ generator


@dataclass
class Base:
    """The normal behaviour of one synthetic KPI, point by point."""

    n: int
    cadence: float
    rng: random.Random
    level: float
    sigma: float
    slope: float
    season: list[float]  # per phase, or empty
    noise: str

    def phase(self, i: int) -> int:
        if not self.season:
            return 0
        return i % len(self.season)

    def expected(self, i: int) -> float:
        s = self.season[self.phase(i)] if self.season else 0.0
        return self.level + self.slope * i + s

    def noisy(self, mean: float) -> float:
        rng = self.rng
        if self.noise == "poisson":
            return float(_poisson(rng, max(mean, 0.0)))
        if self.noise == "lognormal":
            return mean * math.exp(rng.gauss(0.0, self.sigma / self.level))
        if self.noise == "student":
            # Student t with 8 degrees of freedom: heavier tails than Gaussian.
            g = rng.gauss(0.0, 1.0)
            chi = sum(rng.gauss(0.0, 1.0) ** 2 for _ in range(8))
            return mean + self.sigma * g / math.sqrt(chi / 8.0) * math.sqrt(6.0 / 8.0)
        return mean + rng.gauss(0.0, self.sigma)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 60:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _make_base(
    rng: random.Random, hourly: bool, seasonal: bool | None, noise: str | None, n: int = 0
) -> Base:
    n = n or (HOURLY_POINTS if hourly else DAILY_POINTS)
    cadence = HOUR if hourly else DAY
    noise = noise or rng.choice(["gauss", "gauss", "poisson", "lognormal"])
    if noise == "poisson":
        level = rng.uniform(20, 200)
        sigma = math.sqrt(level)
    else:
        level = rng.uniform(50, 5000)
        sigma = level * rng.uniform(0.02, 0.08)
    slope = rng.choice([0.0, rng.uniform(-1, 1) * sigma * (5.0 / n)])  # drifts <= 5 sigma
    if seasonal is None:
        seasonal = rng.random() < 0.5
    season: list[float] = []
    if seasonal:
        amplitude = rng.uniform(3, 8) * sigma
        if hourly:  # a business-day shape: a main daily wave plus a second harmonic
            shift = rng.uniform(0, 2 * math.pi)
            season = [
                amplitude * (0.7 * math.sin(2 * math.pi * h / 24 + shift))
                + amplitude * 0.3 * math.sin(4 * math.pi * h / 24 + shift)
                for h in range(24)
            ]
        else:  # weekends lower
            season = [amplitude * 0.4] * 5 + [-amplitude] * 2
        if noise == "poisson":
            level = max(level, 2 * amplitude + 10)
    return Base(n, cadence, rng, level, sigma, slope, season, noise)


Anomaly = Callable[[Base, list[float], int], tuple[int, str]]


def _spike(base: Base, mean: list[float], at: int) -> tuple[int, str]:
    mean[at] += base.rng.uniform(7, 14) * base.sigma * base.rng.choice([1, 1, -1])
    return 1, "spike"


def _dip(base: Base, mean: list[float], at: int) -> tuple[int, str]:
    duration = base.rng.randint(2, 8 if base.cadence == HOUR else 3)
    outage = base.rng.random() < 0.4
    depth = -_direction(base, -base.rng.uniform(7, 14) * base.sigma)
    for i in range(at, min(at + duration, base.n)):
        mean[i] = mean[i] * base.rng.uniform(0.0, 0.1) if outage else mean[i] - depth
    return duration, "dip"


def _direction(base: Base, delta: float) -> float:
    """Keep the KPI positive: a drop may take at most 60% of the lowest normal value."""
    floor = base.level - (max(abs(s) for s in base.season) if base.season else 0.0)
    return abs(delta) if delta < 0 and -delta > 0.6 * floor else delta


def _level_shift(base: Base, mean: list[float], at: int) -> tuple[int, str]:
    delta = base.rng.uniform(5, 10) * base.sigma * base.rng.choice([1, -1])
    delta = _direction(base, delta)
    for i in range(at, base.n):
        mean[i] += delta
    return 1, "level shift"


def _trend_change(base: Base, mean: list[float], at: int) -> tuple[int, str]:
    # A new slope (0.3 to 1.5 sigma per point) for a while, then a plateau at the new level.
    hourly = base.cadence == HOUR
    length = base.rng.randint(12, 48) if hourly else base.rng.randint(6, 20)
    total = base.rng.uniform(0.3, 1.5) * length * base.sigma * base.rng.choice([1, -1])
    total = _direction(base, total)
    for i in range(at, base.n):
        mean[i] += total * min(1.0, (i - at + 1) / length)
    return length, "trend change"


def _pattern_break(base: Base, mean: list[float], at: int) -> tuple[int, str]:
    """The seasonal pattern fails: a day (or weekend) looks like the average instead."""
    if not base.season:
        return _spike(base, mean, at)
    period = len(base.season)
    # Start where the season is far from its mean, so the break is visible at once.
    best = max(range(at, at + period), key=lambda i: abs(base.season[i % period]))
    length = period // 3 if base.cadence == HOUR else 2
    for i in range(best, min(best + length, base.n)):
        mean[i] -= base.season[i % period]
    return length, "pattern break"


def _build(
    name: str,
    category: str,
    seed: int,
    hourly: bool,
    kinds: list[Anomaly],
    seasonal: bool | None = None,
    noise: str | None = None,
    missing: bool = False,
    n: int = 0,
) -> Stream:
    rng = random.Random(seed)
    base = _make_base(rng, hourly, seasonal, noise, n)
    n = base.n
    mean = [base.expected(i) for i in range(n)]
    labels: list[tuple[int, int, str]] = []
    if kinds:
        # Onsets after the first quarter, at least 15% of the stream apart.
        span = (int(n * 0.25), int(n * 0.92))
        slots = len(kinds)
        width = (span[1] - span[0]) // slots
        for k, kind in enumerate(kinds):
            lo = span[0] + k * width
            at = rng.randint(lo, lo + max(1, width // 3))
            duration, label = kind(base, mean, at)
            labels.append((at, duration, label))
    values = [base.noisy(m) for m in mean]
    keep = [True] * n
    if missing:
        for i in range(n):
            if rng.random() < rng.choice([0.05, 0.15]):
                keep[i] = False
        for _ in range(rng.randint(1, 3)):
            gap_len = rng.randint(12, 72) if hourly else rng.randint(3, 10)
            start = rng.randint(int(n * 0.1), n - gap_len - 1)
            for i in range(start, start + gap_len):
                keep[i] = False
        for at, duration, _ in labels:  # anomalies themselves are observed
            for i in range(at, min(at + max(duration, 1), n)):
                keep[i] = True
    times_all = [START + timedelta(seconds=base.cadence * i) for i in range(n)]
    index = {}  # original position -> position among kept points
    times: list[datetime] = []
    kept_values: list[float] = []
    for i in range(n):
        if keep[i]:
            index[i] = len(times)
            times.append(times_all[i])
            kept_values.append(round(values[i], 4))
    stream = Stream(name, category, base.cadence, times, kept_values)
    if labels:
        default = math.ceil(0.1 * len(times) / len(labels))
        for at, duration, label in labels:
            onset = index[at]
            end = min(index.get(at + duration - 1, onset) + default - 1, len(times) - 1)
            stream.windows.append(Window(label, onset, end, times[onset]))
    return stream


def corpus() -> list[Stream]:
    streams: list[Stream] = []
    seed = BASE_SEED
    recipes: dict[str, Callable[[int, bool, random.Random], Stream]] = {
        "spikes": lambda s, h, r: _build(f"spikes-{s}", "spikes", s, h, [_spike, _spike]),
        "dips": lambda s, h, r: _build(f"dips-{s}", "dips", s, h, [_dip, _dip]),
        "level shifts": lambda s, h, r: _build(
            f"shift-{s}", "level shifts", s, h, [_level_shift, _level_shift]
        ),
        "trend changes": lambda s, h, r: _build(
            f"trend-{s}", "trend changes", s, h, [_trend_change, _trend_change]
        ),
        "seasonal": lambda s, h, r: _build(
            f"seasonal-{s}",
            "seasonal",
            s,
            h,
            [r.choice([_pattern_break, _spike, _dip]), _pattern_break],
            seasonal=True,
        ),
        "noise": lambda s, h, r: _build(
            f"noise-{s}",
            "noise",
            s,
            h,
            [],
            noise=["gauss", "poisson", "lognormal", "student", "gauss", "poisson"][s % 6],
        ),
        "missing data": lambda s, h, r: _build(
            f"missing-{s}",
            "missing data",
            s,
            h,
            [r.choice([_spike, _dip, _level_shift]), r.choice([_spike, _dip, _level_shift])],
            missing=True,
        ),
    }
    for recipe in recipes.values():
        for k in range(STREAMS_PER_CATEGORY):
            seed += 1
            streams.append(recipe(seed, k % 2 == 0, random.Random(seed * 7919)))
    return streams


# -------------------------------------------------------------------- scoring


def _scaled_sigmoid(position: float) -> float:
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


MAX_TP = _scaled_sigmoid(-1.0)


@dataclass
class Result:
    windows: int = 0
    detected: int = 0
    false_alarms: int = 0
    alerts: int = 0
    delays_points: list[int] = field(default_factory=list)
    delays_seconds: list[float] = field(default_factory=list)
    nab_raw: float = 0.0

    def add(self, other: Result) -> None:
        self.windows += other.windows
        self.detected += other.detected
        self.false_alarms += other.false_alarms
        self.alerts += other.alerts
        self.delays_points += other.delays_points
        self.delays_seconds += other.delays_seconds
        self.nab_raw += other.nab_raw


def score_stream(stream: Stream, alerts: list[int]) -> Result:
    result = Result(windows=len(stream.windows), alerts=len(alerts))
    windows = sorted(stream.windows, key=lambda w: w.onset)
    first: dict[int, int] = {}
    for index in alerts:
        inside = next((k for k, w in enumerate(windows) if w.onset <= index <= w.end), None)
        if inside is not None:
            first.setdefault(inside, index)
            continue
        result.false_alarms += 1
        previous = [w for w in windows if w.end < index]
        if previous:
            w = previous[-1]
            width = w.end - w.onset + 1
            position = abs(w.end - index) / max(width - 1, 1)
        else:
            position = 3.0
        result.nab_raw += 0.11 * _scaled_sigmoid(position)
    for k, w in enumerate(windows):
        if k not in first:
            result.nab_raw -= 1.0
            continue
        index = first[k]
        result.detected += 1
        width = w.end - w.onset + 1
        position = -(w.end - index + 1) / width
        result.nab_raw += _scaled_sigmoid(position) / MAX_TP
        result.delays_points.append(index - w.onset)
        result.delays_seconds.append((stream.times[index] - w.onset_time).total_seconds())
    return result


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _ratio(numerator: float, denominator: float, digits: int = 2) -> str:
    return f"{numerator / denominator:.{digits}f}" if denominator else "-"


def _row(name: str, streams: int, points: int, r: Result) -> str:
    tp = r.detected
    delay_p = statistics.median(r.delays_points) if r.delays_points else None
    delay_s = statistics.median(r.delays_seconds) if r.delays_seconds else None
    # NAB normalisation: 100 * (raw - null) / (perfect - null), null = -windows, perfect = windows.
    nab = _ratio(100.0 * (r.nab_raw + r.windows), 2 * r.windows, 1)
    return (
        f"{name:<14} {streams:>3} {points:>7} {r.windows:>4} {r.alerts:>5} {tp:>4} "
        f"{r.false_alarms:>4} {_ratio(tp, tp + r.false_alarms):>6} {_ratio(tp, r.windows):>6} "
        f"{'-' if delay_p is None else f'{delay_p:g}':>6} {_fmt_duration(delay_s):>8} "
        f"{nab:>6}"
    )


def _alerts(times: list[datetime], values: list[float], config: DetectorConfig) -> list[int]:
    rows = list(zip(times, values, strict=True))
    return [i for i, row in enumerate(backtest(rows, config)) if row[3]]


def adoption_check(config: DetectorConfig, streams: int = 200, n: int = 200) -> str:
    """False alarms just after seasonality is adopted, and spikes detected soon after.

    Clean hourly streams (a daily sine of +-8 sigma, Gaussian noise, one seed each):
    the profile switches on after two days, from two periods of history. Then the same
    streams with one off-phase spike of 8 sigma at a random point after point 120.
    """
    alerts = early = detected = 0
    for k in range(streams):
        rng = random.Random(BASE_SEED + 500_000 + k)
        values = [100.0 + 8.0 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1) for i in range(n)]
        times = [START + timedelta(hours=i) for i in range(n)]
        opened = _alerts(times, values, config)
        alerts += len(opened)
        early += sum(48 <= i < 106 for i in opened)
        at = rng.randint(121, n - 1)
        values[at] += 8.0 * rng.choice([1, -1])
        detected += at in _alerts(times, values, config)
    return (
        f"clean seasonal streams ({streams} x {n} hourly points, daily wave of +-8 sigma): "
        f"{alerts} false alarm(s), {early} in points 48-105 (just after seasonality "
        f"is adopted); an 8-sigma spike after point 120 detected in {detected}/{streams}"
    )


def corpus_main(folder: Path, results: Path | None, river: bool) -> None:
    """Score the detector (and optionally a river baseline) on a labelled corpus."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from nab import PROFILES, FileScore, load_corpus, normalised, score

    streams = load_corpus(folder)
    config = DetectorConfig()
    detectors: list[tuple[str, Callable[[list[datetime], list[float]], list[int]]]] = [
        ("okrbot", lambda times, values: _alerts(times, values, config))
    ]
    if river:
        detectors.append(("river GaussianScorer+QuantileFilter(0.9999)", _river_alerts))
    for label, detect in detectors:
        print(f"\n== {label} on {folder} ({len(streams)} streams) ==")
        print(f"{'file':<58} {'rows':>6} {'alerts':>6} {'hit':>5} {'FP rows':>7} {'raw std':>8}")
        totals = {profile: 0.0 for profile in PROFILES}
        windows = alerts = hits = fps = tps = points = 0
        elapsed = 0.0
        for stream in streams:
            t0 = time.perf_counter()
            opened = detect(stream.times, stream.values)
            elapsed += time.perf_counter() - t0
            result: FileScore = score(stream, opened)
            for profile in PROFILES:
                totals[profile] += result.raw[profile]
            windows += len(stream.windows)
            alerts += result.alerts
            hits += result.hit
            fps += result.fp_rows
            tps += result.tp_rows
            points += len(stream.values)
            print(
                f"{stream.name:<58} {len(stream.values):>6} {result.alerts:>6} "
                f"{result.hit:>2}/{len(stream.windows):<2} {result.fp_rows:>7} "
                f"{result.raw['standard']:>8.3f}"
            )
            if results is not None and label == "okrbot":
                _write_output(results / stream.name, stream, opened)
        scores = " ".join(
            f"{profile}={normalised(totals[profile], windows, profile):.2f}" for profile in PROFILES
        )
        print(
            f"total: {points:,} rows, {alerts} alerts, {hits}/{windows} windows hit, "
            f"{fps} false-alarm rows, {tps} rows inside windows; "
            f"{points / elapsed:,.0f} points/s in process"
        )
        print(f"NAB {scores}")
        print(_weekly_false_alarms(streams, detect, config.min_history))


def _write_output(path: Path, stream: object, opened: list[int]) -> None:
    """The checker's format: timestamp,value,score,alert, one row per input row."""
    times: list[datetime] = stream.times  # type: ignore[attr-defined]
    values: list[float] = stream.values  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = set(opened)
    lines = ["timestamp,value,score,alert"]
    lines += [
        f"{at.isoformat(sep=' ')},{value!r},0,{1 if i in flags else 0}"
        for i, (at, value) in enumerate(zip(times, values, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _weekly_false_alarms(
    streams: list[object],
    detect: Callable[[list[datetime], list[float]], list[int]],
    warm_up: int,
) -> str:
    """Alerts per KPI-week when each stream is resampled to hourly means, counted in hours
    that overlap no labelled window (after the first `warm_up` hours, and after the
    first week too)."""
    alerts = hours = late_alerts = late_hours = 0
    for stream in streams:
        buckets: dict[datetime, list[float]] = {}
        for at, value in zip(stream.times, stream.values, strict=True):  # type: ignore[attr-defined]
            buckets.setdefault(at.replace(minute=0, second=0, microsecond=0), []).append(value)
        times = sorted(buckets)
        values = [sum(buckets[t]) / len(buckets[t]) for t in times]
        spans = [
            (stream.times[left], stream.times[right])  # type: ignore[attr-defined]
            for left, right in stream.windows  # type: ignore[attr-defined]
        ]
        opened = set(detect(times, values))
        for i, at in enumerate(times):
            if i < warm_up or any(start - timedelta(hours=1) < at <= end for start, end in spans):
                continue
            hours += 1
            alerts += i in opened
            if at - times[0] >= timedelta(weeks=1):
                late_hours += 1
                late_alerts += i in opened
    return (
        f"hourly means, outside windows: {alerts} alerts in {hours:,} hours = "
        f"{168 * alerts / hours:.2f} per KPI-week "
        f"({168 * late_alerts / late_hours:.2f} after each stream's first week)"
    )


def _river_alerts(times: list[datetime], values: list[float]) -> list[int]:
    """river's GaussianScorer (2,000-value window) behind a 0.9999 QuantileFilter, with
    the same episode rule as okrbot: open once, close after 3 calm values, cool down 100."""
    from river import anomaly

    filtered = anomaly.QuantileFilter(
        anomaly.GaussianScorer(window_size=2000, grace_period=100), q=0.9999
    )
    opened: list[int] = []
    is_open, calm, cool = False, 0, 0
    for i, value in enumerate(values):
        score_now = filtered.score_one(None, value) if i else 0.0
        abnormal = i >= 30 and filtered.classify(score_now)
        filtered.learn_one(None, value)
        if is_open:
            calm = 0 if abnormal else calm + 1
            if calm >= 3:
                is_open, cool = False, 100
        elif cool:
            cool -= 1
        elif abnormal:
            is_open, calm = True, 0
            opened.append(i)
    return opened


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="a labelled corpus folder (data/, labels.json)")
    parser.add_argument("--results", type=Path, help="with --corpus: write outputs for score.py")
    parser.add_argument("--river", action="store_true", help="with --corpus: also score river")
    args = parser.parse_args()
    if args.corpus is not None:
        corpus_main(args.corpus, args.results, args.river)
        return
    synthetic_main()


def synthetic_main() -> None:
    started = time.perf_counter()
    streams = corpus()
    built = time.perf_counter() - started
    config = DetectorConfig()
    total_points = sum(len(s.values) for s in streams)
    print(
        f"corpus: {len(streams)} streams, {total_points} points, "
        f"{sum(len(s.windows) for s in streams)} labelled windows (built in {built:.1f} s)"
    )

    by_category: dict[str, tuple[int, int, Result]] = {}
    by_cadence: dict[str, tuple[int, int, Result]] = {}
    overall = Result()
    elapsed = 0.0
    for stream in streams:
        rows = list(zip(stream.times, stream.values, strict=True))
        t0 = time.perf_counter()
        outputs = list(backtest(rows, config))
        elapsed += time.perf_counter() - t0
        alerts = [i for i, row in enumerate(outputs) if row[3]]
        result = score_stream(stream, alerts)
        count, points, acc = by_category.get(stream.category, (0, 0, Result()))
        acc.add(result)
        by_category[stream.category] = (count + 1, points + len(rows), acc)
        cadence = "hourly" if stream.cadence == HOUR else "daily"
        count, points, acc = by_cadence.get(cadence, (0, 0, Result()))
        acc.add(result)
        by_cadence[cadence] = (count + 1, points + len(rows), acc)
        overall.add(result)

    header = (
        f"{'category':<14} {'n':>3} {'points':>7} {'win':>4} {'alert':>5} {'TP':>4} "
        f"{'FP':>4} {'prec':>6} {'recall':>6} {'delay':>6} {'delay_t':>8} {'NAB':>6}"
    )
    print()
    print(header)
    print("-" * len(header))
    for category, (count, points, acc) in by_category.items():
        print(_row(category, count, points, acc))
    print("-" * len(header))
    for cadence, (count, points, acc) in by_cadence.items():
        print(_row(f"all {cadence}", count, points, acc))
    print(_row("overall", len(streams), total_points, overall))
    clean = by_category.get("noise")
    if clean:
        print(
            f"false alarms on anomaly-free streams: {clean[2].false_alarms} in {clean[1]:,} points"
            f" = {1e4 * clean[2].false_alarms / clean[1]:.1f} per 10,000 points"
        )
    print(adoption_check(config))
    print()
    print("win = labelled anomaly windows, TP = windows with an alert, FP = alerts outside windows")
    print("prec = TP / (TP + FP); recall = TP / win")
    print("delay = median points from onset to the first alert in a window; delay_t = that in time")
    print("NAB = standard profile (TP up to 1, FP -0.11, miss -1), perfect 100, null 0")
    print()

    # Throughput: the detector alone, then parse + detect + format as the CLI does, on a
    # long hourly stream (about 11 years) with a daily pattern, anomalies and gaps.
    print(f"backtest throughput: {total_points / elapsed:,.0f} points/s (detector only, one core)")
    big = _build(
        "long",
        "throughput",
        BASE_SEED,
        True,
        [_spike, _dip, _level_shift, _trend_change],
        seasonal=True,
        missing=True,
        n=LONG_POINTS,
    )
    text = "timestamp,value\n" + "".join(
        f"{t.strftime('%Y-%m-%d %H:%M:%S')},{v!r}\n"
        for t, v in zip(big.times, big.values, strict=True)
    )
    n_big = len(big.values)
    t0 = time.perf_counter()
    parsed = parse_history_csv(text)
    t1 = time.perf_counter()
    outputs = list(backtest(parsed, config))
    t2 = time.perf_counter()
    out = format_backtest_csv(outputs)
    t3 = time.perf_counter()
    print(
        f"long stream, {n_big:,} points: parse {n_big / (t1 - t0):,.0f}/s, "
        f"backtest {n_big / (t2 - t1):,.0f}/s, format {n_big / (t3 - t2):,.0f}/s, "
        f"all three {n_big / (t3 - t0):,.0f} points/s"
    )
    cli = ROOT / ".venv" / "bin" / "okrbot"
    if not cli.exists():
        print("CLI end to end: skipped (.venv/bin/okrbot not installed)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.csv"
        path.write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(cli), "kpi", "backtest", str(path)], capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - t0
    print(
        f"CLI end to end (okrbot kpi backtest, largest file): {wall:.2f} s for {n_big:,} points "
        f"= {n_big / wall:,.0f} points/s incl. start-up; exit {proc.returncode}; "
        f"stdout identical to backtest(): {proc.stdout == out}"
    )


if __name__ == "__main__":
    main()
