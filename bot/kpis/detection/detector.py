"""KPI anomaly detection: pure, streaming, no I/O and no clock reads.

A `Detector` judges one KPI's measurements one at a time. Its whole state is a
small JSON-safe dict (`Detector.state()`), so the live service can persist it
per KPI and evaluate each new measurement in O(window) without rereading the
history; `backtest()` replays a history through exactly the same code.

The normal range
----------------
* Static bounds (`min_value` and/or `max_value`): a value outside them is
  abnormal. Nothing is learned and no history is needed. Inside, the score is
  0; outside it is `0.5 + 0.5 x d / (d + w)`, d the distance to the bound and
  w the width of the range (or the bound's magnitude when one-sided).
* Otherwise it is learned from the KPI's own history:

  - a robust Holt-Winters forecaster (damped trend, error-correction form)
    predicts each value from the level, the trend and, when the history shows
    one, a seasonal profile. Residuals are clipped at `huber` robust standard
    deviations before they update the model (Huber's psi), and values judged
    abnormal do not update it at all, so the outliers the detector is meant to
    catch do not poison the baseline;
  - the scale is 1.4826 x the median absolute forecast error over the last
    `scale_window` measurements (a MAD, resistant to outliers), widened after a
    gap in the data;
  - the normal range is `forecast +- threshold x scale`, and
    `score = z^2 / (z^2 + threshold^2)` with `z = |value - forecast| / scale`,
    so a score above 0.5 is exactly "outside the normal range";
  - drift: a two-sided CUSUM of the standardised errors (each capped at
    `resolve_threshold`, so one spike cannot trip it, and widened when the
    errors are positively autocorrelated) flags persistent deviations that no
    single value reveals -- a slow ramp, a missing daily peak. Above
    `drift_threshold` the value is abnormal even inside the range, and the
    score is the larger of the two (`c^2 / (c^2 + drift_threshold^2)`);
  - seasonality: the sampling interval (cadence) is the median of recent
    intervals; sub-daily cadences are tested for a daily period and cadences of
    about a day for a weekly one (4 to 168 phases, the phase taken from the
    timestamp, so gaps do not shift it). Every period while the buffer fills,
    and every second period once it is full or a profile is in use, the
    buffered history (4 to 8 periods) is detrended with seasonal differences,
    and the seasonal profile (per-phase medians) is used only while it
    predicts held-out points clearly better than a flat line (leave-one-out
    mean absolute error, top 10% trimmed, below 0.7 x the flat model's to
    switch on, 0.85 to stay on). When it switches on, the level is re-anchored
    and the errors restart from the held-out ones -- estimates from as few as
    two periods, so for the next 64 measurements the scale is at least the
    mean-based estimate (1.2533 x the mean absolute error) and widened by up to
    20%, fading as real errors accumulate;
  - level shifts and trend changes: when `adapt_after` consecutive values sit
    on the same side beyond `resolve_threshold` (or drifting), the level and
    trend are re-estimated from those values (Theil-Sen), so the new level
    becomes normal and the alert resolves instead of firing forever;
  - no alerts while fewer than `min_history` measurements (at least 3) have
    been seen: `learning` is true and the score is 0.

Values beyond +-1e100 are treated as +-1e100 (off the scale either way).

Alert lifecycle
---------------
An alert opens when `consecutive` measurements in a row are abnormal. It
resolves when `resolve_after` measurements in a row are back inside the inner
(hysteresis) range: `z < resolve_threshold` for a learned range, or inside the
static bounds shrunk by `static_hysteresis` x their width, so a value wobbling
on a boundary does not flap. For `cooldown` measurements after a resolution an
alert re-opens only on a clearly stronger signal (score >= 0.8), so one
episode raises one alert.

State
-----
`state()` belongs to the config it was built with: when a KPI's rules change,
rebuild it by replaying recent history. It holds about 128 recent errors and,
for seasonal cadences, up to 192 recent measurements (a few kB of JSON). It is
versioned ("v"); states saved by older versions are migrated when loaded.

Timestamps
----------
Naive datetimes are UTC. A measurement whose timestamp is not later than the
latest one seen (out of order, or a duplicate) is scored against the current
model but changes nothing: it is not learned from and neither opens nor
resolves an alert. A service that stores a corrected value for an old
timestamp and wants it to count should rebuild the state by replaying history.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import chain, islice, pairwise
from operator import lt
from typing import Any

from bot.kpis.detection.config import MIN_SCALE_SAMPLES, DetectorConfig
from bot.kpis.detection.robust import (
    LOO_SHRINK,
    held_out_median,
    median,
    median_sorted,
    theil_sen,
    trimmed_mean,
    trimmed_mean_distance,
)

__all__ = ["DetectorConfig", "Detector", "Evaluation", "epoch"]

STATE_VERSION = 2  # 1: no "settle" (migrated on load)
DAY = 86_400.0
WEEK = 7 * DAY
MIN_PHASES = 4
MAX_PHASES = 168
SEASON_PERIODS_KEPT = 4
SEASON_POINTS_WANTED = 192  # short periods keep more of them (up to 8) for steadier profiles
RECHECK_PERIODS = 2  # periods between seasonal checks once adopted or the buffer is full
SETTLE_POINTS = 64  # forecast errors after adoption before the error scale is trusted
SETTLE_INFLATION = 0.2  # the scale's widening right after adoption, fading over them
CADENCE_SAMPLES = 9
MIN_LEARNING = 3
COOLDOWN_SCORE = 0.8
AUTOCORR_RATE = 0.02
MAX_AUTOCORR = 0.8
VALUE_LIMIT = 1e100  # keeps every intermediate (squares included) finite
_MAD_TO_SIGMA = 1.4826
_MEAN_ABS_TO_SIGMA = 1.2533  # sqrt(pi / 2)
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The verdict on one measurement."""

    score: float
    """How abnormal the value looks, in [0, 1]; above 0.5 means outside the range."""
    abnormal: bool
    """Outside the normal range, or (learned ranges) drifting persistently."""
    low: float | None
    """The normal range used for this value (None when unknown or unbounded)."""
    high: float | None
    opened: bool
    """An alert opens exactly at this measurement."""
    resolved: bool
    """An open alert resolves exactly at this measurement."""
    alert_open: bool
    """Whether an alert is open after this measurement."""
    learning: bool
    """Not enough history yet to judge (never alerts)."""


_Step = tuple[float, bool, float | None, float | None, bool, bool, bool, bool]
_SET = tuple(getattr(Evaluation, f.name).__set__ for f in fields(Evaluation))
_new_object = object.__new__


def _evaluation(step: _Step) -> Evaluation:
    """`Evaluation(*step)` in half the time: a frozen dataclass's __init__ goes through
    object.__setattr__ for each field, the slots' own setters straight to the slot."""
    score, abnormal, low, high, opened, resolved, alert_open, learning = step
    evaluation = _new_object(Evaluation)
    set_score, set_abnormal, set_low, set_high, set_opened, set_resolved, set_open, set_learning = (
        _SET
    )
    set_score(evaluation, score)
    set_abnormal(evaluation, abnormal)
    set_low(evaluation, low)
    set_high(evaluation, high)
    set_opened(evaluation, opened)
    set_resolved(evaluation, resolved)
    set_open(evaluation, alert_open)
    set_learning(evaluation, learning)
    return evaluation


def epoch(at: datetime) -> float:
    if at.tzinfo is None:
        return (at - _EPOCH).total_seconds()
    return at.timestamp()


def _season_phases(cadence: float) -> tuple[float, int] | None:
    """(period in seconds, phases per period) worth testing for this cadence, if any."""
    if cadence <= 0:
        return None
    for period in (DAY, WEEK):
        phases = round(period / cadence)
        if phases >= MIN_PHASES:
            return (period, phases) if phases <= MAX_PHASES else None
    return None


class Detector:
    """Streaming detector for one KPI; `update()` each measurement in time order."""

    # Slots make the hot path's attribute reads quicker.
    __slots__ = (
        "config",
        "_ac0",
        "_ac1",
        "_alpha",
        "_beta",
        "_bin",
        "_bin_s",
        "_bins",
        "_buf_t",
        "_buf_y",
        "_cadence",
        "_cool",
        "_cus_down",
        "_cus_up",
        "_deltas",
        "_drift_cap",
        "_drift_h",
        "_drift_k",
        "_huber",
        "_inner_hi",
        "_inner_lo",
        "_k",
        "_k2",
        "_keep",
        "_kres",
        "_level",
        "_min_n",
        "_n",
        "_ok",
        "_open",
        "_period",
        "_phases",
        "_phi",
        "_resid",
        "_resid_sum",
        "_run_side",
        "_run_t",
        "_run_y",
        "_season",
        "_settle",
        "_settle_n",
        "_since_check",
        "_sorted",
        "_static",
        "_streak",
        "_t_last",
        "_trend",
        "_u_prev",
        "_width",
        "_window",
    )

    def __init__(self, config: DetectorConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        c = config
        self._static = c.static
        self._k = c.threshold
        self._k2 = c.threshold * c.threshold
        self._kres = c.resolve_threshold
        self._alpha = c.level_smoothing
        self._beta = c.trend_smoothing
        self._phi = c.trend_damping
        self._huber = c.huber
        self._min_n = max(c.min_history, MIN_LEARNING)
        self._drift_k = c.drift_allowance
        self._drift_h = c.drift_threshold
        self._drift_cap = 2.0 * c.drift_threshold
        if self._static:
            lo, hi = c.min_value, c.max_value
            given = [abs(b) for b in (lo, hi) if b is not None]
            width = hi - lo if lo is not None and hi is not None else 0.0
            self._width = max(width, *given, 1e-9)
            margin = c.static_hysteresis * self._width
            if lo is not None and hi is not None:
                margin = min(margin, (hi - lo) / 4.0)
            self._inner_lo = -math.inf if lo is None else lo + margin
            self._inner_hi = math.inf if hi is None else hi - margin
        # Lifecycle
        self._open = False
        self._streak = 0  # consecutive abnormal values while closed
        self._ok = 0  # consecutive in-range values while open
        self._cool = 0  # measurements left in the cool-down
        # Model
        self._n = 0
        self._t_last = 0.0
        self._deltas: deque[float] = deque(maxlen=CADENCE_SAMPLES)
        self._cadence = 0.0
        self._level = 0.0
        self._trend = 0.0
        self._resid: deque[float] = deque()
        self._sorted: list[float] = []
        self._resid_sum = 0.0
        self._run_t: list[float] = []
        self._run_y: list[float] = []
        self._run_side = 0
        self._cus_up = 0.0
        self._cus_down = 0.0
        self._u_prev = 0.0
        self._ac0 = 0.0
        self._ac1 = 0.0
        self._period = 0.0
        self._phases = 0
        self._bin = 0.0
        self._season: list[float] | None = None
        # Recent measurements (times, values), oldest first. Derived from them and not
        # saved: each phase's points and the slopes between its consecutive ones, built
        # at the first seasonal check after a load (or a change) and then kept up to date,
        # so a check recomputes no phase and regroups nothing.
        self._buf_t: deque[float] = deque()
        self._buf_y: deque[float] = deque()
        self._bins: list[deque[tuple[float, float]]] | None = None
        self._bin_s: list[deque[float]] = []
        self._keep = 0
        self._since_check = 0
        self._window = c.scale_window
        self._settle_n = min(SETTLE_POINTS, c.scale_window)
        self._settle = 0  # forecast errors still to come before the scale is trusted
        if state is not None:
            self._load(state)

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """Everything needed to carry on later: JSON-safe, O(window) in size."""
        return {
            "v": STATE_VERSION,
            "open": self._open,
            "streak": self._streak,
            "ok": self._ok,
            "cool": self._cool,
            "n": self._n,
            "t_last": self._t_last,
            "deltas": list(self._deltas),
            "level": self._level,
            "trend": self._trend,
            "resid": list(self._resid),
            "resid_sum": self._resid_sum,
            "run_t": list(self._run_t),
            "run_y": list(self._run_y),
            "run_side": self._run_side,
            "cusum": [self._cus_up, self._cus_down, self._u_prev, self._ac0, self._ac1],
            "period": self._period,
            "phases": self._phases,
            "season": None if self._season is None else list(self._season),
            "buf_t": list(self._buf_t),
            "buf_y": list(self._buf_y),
            "since_check": self._since_check,
            "settle": self._settle,
        }

    def _load(self, state: dict[str, Any]) -> None:
        version = state.get("v")
        if version not in (1, STATE_VERSION):
            raise ValueError(f"unsupported detector state version {version!r}")
        try:
            self._open = bool(state["open"])
            self._streak = int(state["streak"])
            self._ok = int(state["ok"])
            self._cool = int(state["cool"])
            self._n = int(state["n"])
            self._t_last = float(state["t_last"])
            self._deltas.extend(float(d) for d in state["deltas"])
            self._cadence = median(self._deltas) if self._deltas else 0.0
            self._level = float(state["level"])
            self._trend = float(state["trend"])
            window = self.config.scale_window
            resid = list(map(float, state["resid"]))[-window:]
            self._resid = deque(resid)
            self._sorted = sorted(resid)
            self._resid_sum = float(state["resid_sum"])
            if len(resid) != len(state["resid"]):
                self._resid_sum = math.fsum(resid)
            self._run_t = [float(x) for x in state["run_t"]]
            self._run_y = [float(x) for x in state["run_y"]]
            self._run_side = int(state["run_side"])
            cusum = [float(c) for c in state["cusum"]]
            self._cus_up, self._cus_down, self._u_prev, self._ac0, self._ac1 = cusum
            self._period = float(state["period"])
            self._phases = int(state["phases"])
            self._bin = self._period / self._phases if self._phases else 0.0
            season = state["season"]
            self._season = None if season is None else [float(s) for s in season]
            self._buf_t = buf_t = deque(map(float, state["buf_t"]))
            self._buf_y = deque(map(float, state["buf_y"]))
            self._since_check = int(state["since_check"])
            if version == 1:
                # Version 1 had no settling after adoption. Seasonality is adopted once
                # two periods are buffered, so at most n - 2 x phases errors have been
                # learned since: assume that many (the least widening it may need).
                since = self._n - 2 * self._phases
                self._settle = 0 if self._season is None else self._settle_n - since
            else:
                self._settle = int(state["settle"])
            self._settle = min(max(self._settle, 0), self._settle_n)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt detector state: {exc}") from None
        if self._season is not None and len(self._season) != self._phases:
            raise ValueError("corrupt detector state: season length")
        if (
            len(buf_t) != len(self._buf_y)
            or (buf_t and (self._n == 0 or buf_t[-1] > self._t_last))
            or not all(map(lt, buf_t, islice(buf_t, 1, None)))  # times only increase
        ):
            raise ValueError("corrupt detector state: buffer")
        if self._phases and not (self._period > 0.0 and MIN_PHASES <= self._phases <= MAX_PHASES):
            raise ValueError("corrupt detector state: period")
        self._keep = self._season_keep()

    # --------------------------------------------------------------- evaluate

    @property
    def learning(self) -> bool:
        """True while a learned range has too little history to judge (never for bounds)."""
        return not self._static and self._n < self._min_n

    @property
    def alert_open(self) -> bool:
        return self._open

    def normal_range(self, at: datetime | None = None) -> tuple[float | None, float | None] | None:
        """The normal range for a measurement at `at` (default: the next expected one).

        Static bounds are returned as given (None for an open side); a learned range
        is None while learning. Nothing is changed.
        """
        c = self.config
        if self._static:
            return (c.min_value, c.max_value)
        if self.learning or len(self._sorted) < MIN_LEARNING - 1:
            return None
        cadence = self._cadence or 1.0
        t = self._t_last + cadence if at is None else epoch(at)
        steps = max(0.0, (t - self._t_last) / cadence)
        phi = self._phi
        if phi == 1.0:
            tsum = self._trend * steps
        else:
            tsum = self._trend * phi * (1.0 - phi**steps) / (1.0 - phi)
        forecast = self._level + tsum
        if self._season is not None:
            forecast += self._season[self._phase(t)]
        scale = self._scale()
        if steps > 1.5:
            scale *= math.sqrt(1.0 + (steps - 1.0) * self._alpha * self._alpha)
        band = self._k * scale
        return (forecast - band, forecast + band)

    def update(self, at: datetime, value: float) -> Evaluation:
        """Judge one measurement, learn from it, and advance the alert lifecycle."""
        return _evaluation(self._step(epoch(at), float(value)))

    def _step(self, t: float, x: float) -> _Step:
        if not -VALUE_LIMIT <= x <= VALUE_LIMIT:
            if not math.isfinite(x):
                raise ValueError(f"measurement {x!r} is not a finite number")
            x = math.copysign(VALUE_LIMIT, x)
        if self._static:
            return self._static_step(t, x)
        if self._n and t <= self._t_last:
            return self._peek(t, x)
        return self._learned_step(t, x)

    def _static_step(self, t: float, x: float) -> _Step:
        c = self.config
        lo, hi = c.min_value, c.max_value
        if lo is not None and x < lo:
            d = lo - x
        elif hi is not None and x > hi:
            d = x - hi
        else:
            d = 0.0
        score = 0.0 if d <= 0.0 else 0.5 + 0.5 * d / (d + self._width)
        if self._n and t <= self._t_last:
            return (score, d > 0.0, lo, hi, False, False, self._open, False)
        self._n += 1
        self._t_last = t
        inner = self._inner_lo <= x <= self._inner_hi
        opened, resolved = self._lifecycle(d > 0.0, score, inner)
        return (score, d > 0.0, lo, hi, opened, resolved, self._open, False)

    def _lifecycle(self, abnormal: bool, score: float, inner: bool) -> tuple[bool, bool]:
        c = self.config
        if self._open:
            self._ok = self._ok + 1 if inner else 0
            if self._ok >= c.resolve_after:
                self._open = False
                self._ok = 0
                self._streak = 0
                self._cool = c.cooldown
                return False, True
            return False, False
        if abnormal and (self._cool == 0 or score >= COOLDOWN_SCORE):
            self._streak += 1
        else:
            self._streak = 0
        if self._cool:
            self._cool -= 1
        if self._streak >= c.consecutive:
            self._open = True
            self._streak = 0
            self._ok = 0
            return True, False
        return False, False

    def _scale(self) -> float:
        ordered = self._sorted
        n = len(ordered)
        mid = n // 2
        mad = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) * 0.5
        scale = _MAD_TO_SIGMA * mad
        mean = _MEAN_ABS_TO_SIGMA * self._resid_sum / n
        settle = self._settle
        if settle:
            # Just after seasonality was adopted the errors are mostly estimates from a
            # few periods: trust the (more efficient) mean as well, and widen a little.
            if mean > scale:
                scale = mean
            scale *= 1.0 + SETTLE_INFLATION * settle / self._settle_n
        elif 0.5 * mean > scale:
            scale = 0.5 * mean
        tiny = 1e-9 * (abs(self._level) + 1e-3)
        return scale if scale > tiny else tiny

    def _phase(self, t: float) -> int:
        return int((t % self._period) / self._bin + 0.5) % self._phases

    def _peek(self, t: float, x: float) -> _Step:
        learning = self._n < self._min_n
        if learning or len(self._sorted) < MIN_LEARNING - 1:
            return (0.0, False, None, None, False, False, self._open, learning)
        forecast = self._level
        if self._season is not None:
            forecast += self._season[self._phase(t)]
        scale = self._scale()
        z = abs(x - forecast) / scale
        score = z * z / (z * z + self._k2)
        band = self._k * scale
        return (
            score,
            z > self._k,
            forecast - band,
            forecast + band,
            False,
            False,
            self._open,
            False,
        )

    def _learned_step(self, t: float, x: float) -> _Step:
        n = self._n
        learning = n < self._min_n
        if n == 0:
            self._n = 1
            self._t_last = t
            self._level = x
            self._buffer(t, x, self._phase(t) if self._phases else 0)
            return (0.0, False, None, None, False, False, self._open, learning)

        # Cadence: the median of recent intervals; `steps` is this interval in cadences.
        dt = t - self._t_last
        deltas = self._deltas
        dropped = deltas[0] if len(deltas) == CADENCE_SAMPLES else None
        deltas.append(dt)
        if (
            dt != self._cadence
            or (dropped is not None and dropped != self._cadence)
            or len(deltas) <= 3
        ):
            self._cadence = median(deltas)
            self._check_cadence()
        steps = dt / self._cadence

        # Forecast from level, damped trend and season.
        phi = self._phi
        trend = self._trend
        if steps == 1.0:
            decay = phi
            tsum = trend * phi
        elif phi == 1.0:
            decay = 1.0
            tsum = trend * steps
        else:
            decay = phi**steps
            tsum = trend * phi * (1.0 - decay) / (1.0 - phi)
        phases = self._phases
        p = int((t % self._period) / self._bin + 0.5) % phases if phases else 0
        season = self._season
        seasonal = season[p] if season is not None else 0.0
        base = self._level + tsum
        forecast = base + seasonal
        r = x - forecast
        a = abs(r)

        resid = self._resid
        ordered = self._sorted
        count = len(ordered)
        known = count >= MIN_LEARNING - 1
        z = 0.0
        scale = 0.0
        k = self._k
        if known:
            if self._settle:
                scale = self._scale()
            else:  # _scale(), inlined for the common case
                mid = count // 2
                scale = _MAD_TO_SIGMA * (
                    ordered[mid] if count % 2 else (ordered[mid - 1] + ordered[mid]) * 0.5
                )
                floor = 0.5 * _MEAN_ABS_TO_SIGMA * self._resid_sum / count
                if floor > scale:
                    scale = floor
                tiny = 1e-9 * (abs(self._level) + 1e-3)
                if scale < tiny:
                    scale = tiny
            if steps > 1.5:  # uncertainty grows over a gap like a local-level random walk
                scale *= math.sqrt(1.0 + (steps - 1.0) * self._alpha * self._alpha)
            z = a / scale
        judged = count >= MIN_SCALE_SAMPLES and known

        # Drift: a two-sided CUSUM of standardised errors (each capped, so one spike
        # cannot trip it) catches persistent deviations no single value reveals.
        # Errors that are positively autocorrelated (a model slower than the data) make
        # sums wander more than independent noise would: the CUSUM's unit is widened to
        # the standard deviation of such sums, sqrt((1 + rho) / (1 - rho)).
        up = self._cus_up
        down = self._cus_down
        kres = self._kres
        drift_h = self._drift_h
        if judged and not learning:
            u = r / scale
            if u > kres:
                u = kres
            elif u < -kres:
                u = -kres
            prev = self._u_prev
            self._u_prev = u
            ac0 = self._ac0
            ac1 = self._ac1
            if z <= k:
                ac1 += AUTOCORR_RATE * (u * prev - ac1)
                ac0 += AUTOCORR_RATE * (u * u - ac0)
                self._ac1 = ac1
                self._ac0 = ac0
            rho = ac1 / ac0 if ac0 > 0.0 else 0.0
            if rho > 0.0:
                if rho > MAX_AUTOCORR:
                    rho = MAX_AUTOCORR
                u /= math.sqrt((1.0 + rho) / (1.0 - rho))
            drift_k = self._drift_k
            cap = self._drift_cap
            up += u - drift_k
            down -= u + drift_k
            up = 0.0 if up < 0.0 else (cap if up > cap else up)
            down = 0.0 if down < 0.0 else (cap if down > cap else down)
            self._cus_up = up
            self._cus_down = down
        drifting = up > drift_h or down > drift_h
        outlier = judged and (z > k or drifting)

        # Learn: robust (clipped) error correction; outliers only advance the trend.
        if outlier:
            self._level = base
            self._trend = trend * decay
        else:
            psi = r
            if known:
                limit = self._huber * scale
                if psi > limit:
                    psi = limit
                elif psi < -limit:
                    psi = -limit
            self._level = base + self._alpha * psi
            self._trend = trend * decay + self._beta * psi
        # The error joins the scale's window (capped, so one wild value cannot inflate it).
        if known:
            cap = 2.0 * k * scale
            if a > cap:
                a = cap
        if len(resid) >= self._window:
            old = resid.popleft()
            del ordered[bisect_left(ordered, old)]
            self._resid_sum -= old
        resid.append(a)
        insort(ordered, a)
        self._resid_sum += a
        if n % 256 == 0:  # keep the running sum from drifting
            self._resid_sum = math.fsum(resid)
        if self._settle:
            self._settle -= 1

        # Sustained same-side deviation: re-estimate level and trend (shift adaptation).
        side = 0
        if judged:
            if r > 0.0 and (z > kres or up > drift_h):
                side = 1
            elif r < 0.0 and (z > kres or down > drift_h):
                side = -1
        if side:
            if side != self._run_side:
                self._run_t.clear()
                self._run_y.clear()
                self._run_side = side
            self._run_t.append(t)
            self._run_y.append(x - seasonal)
            if len(self._run_t) >= self.config.adapt_after:
                self._rebaseline(t, scale)
        elif self._run_side:
            self._run_t.clear()
            self._run_y.clear()
            self._run_side = 0

        self._n = n + 1
        self._t_last = t
        self._buffer(t, x, p)

        if learning:
            return (0.0, False, None, None, False, False, self._open, True)
        score = z * z / (z * z + self._k2)
        if drifting:
            d = up if up > down else down
            drift_score = d * d / (d * d + drift_h * drift_h)
            if drift_score > score:
                score = drift_score
        abnormal = z > k or drifting
        inner = z < kres and not drifting
        if abnormal or self._open or self._streak or self._cool:
            opened, resolved = self._lifecycle(abnormal, score, inner)
        else:  # the common case: nothing open, nothing pending
            opened = resolved = False
        band = k * scale
        return (
            score,
            abnormal,
            forecast - band,
            forecast + band,
            opened,
            resolved,
            self._open,
            False,
        )

    def _rebaseline(self, t: float, scale: float) -> None:
        cadence = self._cadence or 1.0
        xs = [(ti - t) / cadence for ti in self._run_t]
        ys = self._run_y
        slope = theil_sen(xs, ys)
        m = len(xs)
        # Keep the old trend unless the run's slope clearly differs from it.
        stderr = 1.1 * scale * math.sqrt(12.0 / max(m * m * m - m, 1))
        if abs(slope - self._trend) > 3.0 * stderr:
            self._trend = slope
        level = median([y - self._trend * xi for xi, y in zip(xs, ys, strict=True)])
        delta = level - self._level
        self._level = level
        # Shift the buffered history before the run so the seasonal test sees one level.
        start = self._run_t[0]
        if self._buf_t and delta:
            self._buf_y = deque(
                y + delta if ti < start else y
                for ti, y in zip(self._buf_t, self._buf_y, strict=True)
            )
            self._bins = None
        self._run_t.clear()
        self._run_y.clear()
        self._run_side = 0
        self._cus_up = self._cus_down = 0.0

    # ------------------------------------------------------------ seasonality

    def _check_cadence(self) -> None:
        if not self.config.seasonality:
            return
        found = _season_phases(self._cadence) if len(self._deltas) >= 3 else None
        period, phases = found if found else (0.0, 0)
        if phases != self._phases or period != self._period:
            self._period = period
            self._phases = phases
            self._bin = period / phases if phases else 0.0
            if self._season is not None:
                self._season = None
            self._since_check = 0
            self._bins = None
            self._keep = self._season_keep()

    def _season_keep(self) -> int:
        phases = self._phases
        return max(
            SEASON_PERIODS_KEPT * phases,
            min(2 * SEASON_PERIODS_KEPT * phases, SEASON_POINTS_WANTED),
        )

    def _binned(self) -> list[deque[tuple[float, float]]]:
        """Each phase's buffered points, oldest first (built when first needed)."""
        bins = self._bins
        if bins is None:
            phases, period, width = self._phases, self._period, self._bin
            bins = [deque() for _ in range(phases)]
            for t, y in zip(self._buf_t, self._buf_y, strict=True):
                bins[int((t % period) / width + 0.5) % phases].append((t, y))
            # Slopes between consecutive points of a phase (timestamps only increase).
            self._bin_s = [
                deque((y1 - y0) / (t1 - t0) for (t0, y0), (t1, y1) in pairwise(same))
                for same in bins
            ]
            self._bins = bins
        return bins

    def _buffer(self, t: float, x: float, p: int) -> None:
        phases = self._phases
        buf_t = self._buf_t
        buf_y = self._buf_y
        if not phases:
            if self._n <= CADENCE_SAMPLES + 1:  # keep a little until the cadence is known
                buf_t.append(t)
                buf_y.append(x)
            elif buf_t:
                buf_t.clear()
                buf_y.clear()
            return
        buf_t.append(t)
        buf_y.append(x)
        bins = self._bins
        if bins is not None:
            same = bins[p]
            if same:
                t0, y0 = same[-1]
                self._bin_s[p].append((x - y0) / (t - t0))
            same.append((t, x))
        size = len(buf_t)
        keep = self._keep
        if size > keep:
            for _ in range(size - keep):
                t_old = buf_t.popleft()
                buf_y.popleft()
                if bins is not None:
                    old = int((t_old % self._period) / self._bin + 0.5) % phases
                    bins[old].popleft()
                    if self._bin_s[old]:
                        self._bin_s[old].popleft()
            size = keep
        # Every period while the buffer fills and no seasonality is adopted (so it is
        # adopted as soon as two periods show it); less often after that.
        since = self._since_check + 1
        every = phases if size < keep and self._season is None else RECHECK_PERIODS * phases
        if since >= every and size >= 2 * phases:
            self._since_check = 0
            self._check_season()
        else:
            self._since_check = since

    def _check_season(self) -> None:
        phases = self._phases
        # Trend from same-phase pairs one or more periods apart (seasonality cancels).
        bins = self._binned()
        slopes = sorted(chain.from_iterable(self._bin_s))
        if len(slopes) < phases:
            return
        slope = median_sorted(slopes)
        t_end = self._buf_t[-1]
        # Per phase: the detrended values (sorted), their median (the profile) and their
        # leave-one-out errors: each value's distance to the median of the phase's other
        # values, times sqrt((k - 1) / k). Sorted, the held-out median takes three values.
        binned = [sorted([y - slope * (t - t_end) for t, y in same]) for same in bins]
        profile: list[float | None] = [None] * phases
        errors: list[float] = []
        for p, values in enumerate(binned):
            k = len(values)
            if k < 2:
                if k:
                    profile[p] = values[0]
                continue
            shrink = LOO_SHRINK[k] if k < len(LOO_SHRINK) else math.sqrt((k - 1) / k)
            mid = (k - 1) // 2
            m = values[mid]
            if k % 2:
                profile[p] = m
                below = (values[mid + 1] + m) * 0.5
                above = (m + values[mid - 1]) * 0.5
                errors += [(below - y) * shrink for y in values[:mid]]
                errors.append(abs(m - (values[mid + 1] + values[mid - 1]) * 0.5) * shrink)
                errors += [(y - above) * shrink for y in values[mid + 1 :]]
            else:
                hi = values[mid + 1]
                profile[p] = (m + hi) / 2.0
                errors += [(hi - y) * shrink for y in values[: mid + 1]]
                errors += [(y - m) * shrink for y in values[mid + 1 :]]
        v = sorted(chain.from_iterable(binned))
        flat = trimmed_mean_distance(v, median_sorted(v))
        if len(errors) < phases or flat <= 0.0:
            return
        ratio = trimmed_mean(errors) / flat
        was = self._season is not None
        if ratio >= (0.85 if was else 0.7):
            if was:
                self._season = None
            return
        season = self._fill(profile)
        mean = math.fsum(season) / phases
        season = [s - mean for s in season]
        self._season = season
        if not was:  # re-anchor the level on the deseasonalised recent history
            self._adopt(season, slope, binned)

    def _adopt(self, season: list[float], slope: float, binned: list[list[float]]) -> None:
        """Seasonality switched on: re-anchor the level and trend, restart the errors."""
        phases, period, width = self._phases, self._period, self._bin
        buf_t, buf_y = self._buf_t, self._buf_y
        t_end = buf_t[-1]
        start = max(0, len(buf_t) - phases)
        self._level = median(
            [
                y - slope * (t - t_end) - season[int((t % period) / width + 0.5) % phases]
                for t, y in zip(islice(buf_t, start, None), islice(buf_y, start, None), strict=True)
            ]
        )
        self._trend = slope * self._cadence
        # The errors restart from the held-out ones (time order): each point's distance
        # to the median of its phase's other values. Those forecast with a profile from
        # k - 1 values, the live model with k: their variance is scaled by
        # (1 + 1/k) / (1 + 1/(k - 1)).
        shrink = [math.sqrt(1.0 - 1.0 / (k * k)) if k else 0.0 for k in map(len, binned)]
        dated: list[float] = []
        for t, y in zip(buf_t, buf_y, strict=True):
            p = int((t % period) / width + 0.5) % phases
            values = binned[p]
            if len(values) >= 2:
                w = y - slope * (t - t_end)
                dated.append(abs(w - held_out_median(values, bisect_left(values, w))) * shrink[p])
        window = self.config.scale_window
        fresh = dated[-window:]
        self._resid = deque(fresh)
        self._sorted = sorted(fresh)
        self._resid_sum = math.fsum(fresh)
        self._run_t.clear()
        self._run_y.clear()
        self._run_side = 0
        self._cus_up = self._cus_down = 0.0
        self._settle = self._settle_n

    @staticmethod
    def _fill(profile: list[float | None]) -> list[float]:
        """Empty phases take the mean of their nearest filled neighbours (circularly)."""
        n = len(profile)
        out = [value for value in profile if value is not None]
        if len(out) == n:
            return out
        out = []
        for p, value in enumerate(profile):
            if value is not None:
                out.append(value)
                continue
            left = right = None
            for d in range(1, n):
                if left is None:
                    left = profile[(p - d) % n]
                if right is None:
                    right = profile[(p + d) % n]
                if left is not None and right is not None:
                    break
            known = [x for x in (left, right) if x is not None]
            out.append(sum(known) / len(known) if known else 0.0)
        return out
