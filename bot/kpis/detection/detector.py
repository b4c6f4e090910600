"""KPI anomaly alerts: streaming, causal, scale-free (pure Python, no I/O, no clock).

A `Detector` judges one KPI's measurements one at a time. Its whole state is a
small JSON-safe dict (`Detector.state()`, at most ~18 kB: big float arrays are
packed as base64 doubles), so a service can persist it per KPI and judge each new
measurement in O(1) without re-reading history; `backtest()` replays a history
through exactly the same code.

How a learned range works
-------------------------
1. Forecast. Three robust damped-Holt forecasters run side by side: flat, daily
   profile (sub-daily cadences; up to 288 phases) and weekly profile (cadences up
   to a day; up to 168 phases, so 5-minute data gets hourly weekly bins). The
   phase comes from the timestamp, so gaps and irregular spacing do not shift
   it. Seasonal models also keep a per-phase error scale (hourly for a day,
   6-hourly for a week) shrunk towards their overall scale, so a quiet night and
   a noisy day are judged each by its own noise. A seasonal model is used once it
   has seen two periods and its RMS error is below `season_gain` x the flat
   one's. Updates are Huber-clipped; `adapt_after` same-side surprises in a row
   re-anchor that model's level (a level shift becomes the new normal).
2. Standardise. Each model's error is divided by its slowly adapting robust
   scale (clipped mean absolute error), floored by the KPI's own resolution
   (a tenth of the smallest change seen) and magnitude (0.1% of the mean |value|),
   so the range never collapses.
3. Calibrate the value test (extreme-value theory, as in SPOT). The distribution
   of standardised errors above and below the forecast is kept, per model and
   side, as an exponentially forgetting log-spaced histogram (horizon `memory`).
   Below its 98% quantile u0 the tail probability p is read from the histogram;
   above, from a generalised Pareto tail fitted to the exceedances by
   probability-weighted moments (shape kept in [0, 0.5]). Heavy-tailed KPIs
   (tweet counts, bursty CPU) get wide ranges and light-tailed ones narrow
   ranges with the same `threshold` on the probability. Values beyond the alert
   threshold are learned as if at it, so an anomaly does not widen the range.
   A young tail is not trusted alone beyond what its data show: down to the tail
   probability p_c = CRED_N / (values it holds) -- where the histogram still rests on
   CRED_N = 20 values, as many as its Gaussian prior's pseudo-points -- the empirical
   tail is used alone; beyond p_c, its increments from p_c are averaged with a
   Gaussian reference's, weight m / (m + REF_WEIGHT) for the empirical one, m the
   exceedances of the 2% quantile it rests on (averaging at every level would judge a
   KPI whose big errors are frequent but few so far -- hourly spikes, bursts -- as
   nearly Gaussian). Errors are learned only once the model's scale rests on
   MIN_SCALE_N errors.
4. Context test (anomaly likelihood, as in Numenta's HTM detector): the mean of
   the `short_window` point surprises before this value (each capped at the
   threshold; the current one is left out so the two tests are independent) is
   judged by its own histogram + generalised Pareto tail, giving p_ctx: a run of
   moderately unusual values that no single value reveals.
   When the active model changes, the recent surprises (judged by the old model)
   are dropped and the context test restarts.
5. Combine with Fisher's method (the product p x p_ctx is chi-square with 4
   degrees of freedom under the null): surprise S = -log10(p_combined). The
   value is abnormal when S >= `threshold` (4: about one value in 10,000);
   score = S / (S + threshold), so a score of 0.5 or more means abnormal.
6. Young model: until the daily model may be adopted (two days of data),
   a value may be abnormal only if it also lies outside the range of every value
   seen so far, by at least the threshold's error (a model that has not seen a
   whole cycle cannot tell a new cycle's peak from an anomaly).

Alert lifecycle (episodes)
--------------------------
An alert opens when `consecutive` measurements in a row are abnormal. The
episode lasts while values stay surprising; it resolves after `resolve_after`
measurements in a row with S below `resolve_threshold` (static bounds: inside
the bounds shrunk by `static_hysteresis` x their width). During the episode and
for `cooldown` measurements after it no new alert opens (`recovering` is true):
one episode, one alert -- unless a value in the cool-down is far more surprising
than the last episode's peak (S >= `escalate` x the peak; with 2, p at most the
peak's p squared): that is a new, bigger event and opens an alert at once.
Nothing alerts while learning (< `min_history` values).

Timestamps: naive datetimes are UTC. A measurement whose timestamp is not later
than the last one (duplicate or out of order) is scored but changes nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import datetime
from itertools import accumulate
from typing import Any, NamedTuple

from bot.kpis.detection.config import DetectorConfig
from bot.kpis.detection.robust import (
    BPD,
    EDGES,
    GRID_P,
    GRID_STEP,
    LOG_MIN,
    MIDS,
    NBINS,
    PRIOR_WEIGHT,
    interp_ref,
    median,
    pack,
    prior_ctx,
    prior_hist,
    quantile,
    ref_grid,
    ref_u,
    scale_bins,
    unpack,
)

__all__ = ["DetectorConfig", "Detector", "Evaluation", "epoch"]

STATE_VERSION = 3  # 1 and 2 were the previous detector's: rebuild those by replaying
STATIC_COOLDOWN = 5  # values after a static alert resolves before a breach opens another
DAY = 86_400.0
WEEK = 7 * DAY
VALUE_LIMIT = 1e100
CADENCE_SAMPLES = 9
MIN_PHASES = 4
TAIL = 0.02  # the generalised-Pareto tail starts at the 98% quantile
MAX_SHAPE = 0.5
TAIL_MIN_EXCESS = 0.0  # the tail fit rests on at least this many exceedances ...
TAIL_MAX = 0.2  # ... as long as that is at most a fifth of the values
SHAPE_PRIOR = 0.05  # the tail shape assumed before the data say otherwise
REF_WEIGHT = (
    5.0  # exceedances at which the empirical tail and the Gaussian reference weigh the same
)
W_FULL = 0.99  # above this weight the empirical tail alone is used
SHAPE_PRIOR_WEIGHT = 0.0  # ... worth this many exceedances
YOUNG_DAYS = (
    2.0  # until the daily model may be adopted only values outside the range seen may alert
)
CRED_N = 20.0  # the empirical tail is used alone down to the probability CRED_N / values held
REFRESH = 32  # values between recomputations of the active tail tables
MIN_SCALE_N = 10  # errors a scale needs before standardised errors are learned
QUANTUM_SHARE = 0.1  # the scale's floor: this share of the smallest change seen
PHASE_SCALE_RATE = 0.05  # a phase's error scale averages about its last 20 errors
PHASE_SCALE_N = 20  # ... so it is worth at most 20 errors
COUNT_CAP = 20  # visit counts are kept up to this (only small counts change anything)
PHASE_PRIOR = 8.0  # the model's overall scale counts as 8 errors of the phase
LOG2 = math.log10(2.0)
_EPOCH = datetime(1970, 1, 1)


class Evaluation(NamedTuple):
    """The verdict on one measurement."""

    score: float
    """How abnormal the value looks, in [0, 1]; 0.5 or more means abnormal."""
    abnormal: bool
    """Outside the normal range, or the end of a surprising run of values."""
    low: float | None
    """The normal range used for this value (None while unknown or unbounded)."""
    high: float | None
    opened: bool
    """An alert opens exactly at this measurement."""
    resolved: bool
    """An open alert resolves exactly at this measurement."""
    alert_open: bool
    """Whether an alert is open after this measurement."""
    learning: bool
    """Not enough history yet to judge (never alerts)."""
    recovering: bool = False
    """In the cool-down after an episode (abnormal values open no new alert)."""
    reason: str = ""
    """'' | 'value' (one surprising value) | 'context' (a surprising run) | 'bounds'."""


Step = tuple[float, bool, float | None, float | None, bool, bool, bool, bool, bool, str]


def epoch(at: datetime) -> float:
    """Seconds since 1970 of an instant; naive datetimes are UTC."""
    if at.tzinfo is None:
        return (at - _EPOCH).total_seconds()
    return at.timestamp()


class Detector:
    """Streaming detector for one KPI; `update()` each measurement in time order."""

    def __init__(self, config: DetectorConfig | None = None, state: dict[str, Any] | None = None):
        self.config = c = config or DetectorConfig()
        self._static = c.static
        self._thr = c.threshold
        self._res_thr = c.resolve_threshold
        self._hdecay = 1.0 / (1.0 - 1.0 / c.memory)  # growth of the histograms' increment
        self._slam = 1.0 / c.scale_memory
        self._alpha = c.level_smoothing
        self._beta = c.trend_smoothing
        self._phi = c.trend_damping
        self._gamma = c.season_smoothing
        self._huber = c.huber
        # the probability at the threshold for one test (two tests with the likelihood)
        self._p_thr = 10.0**-c.threshold / (2.0 if c.likelihood else 1.0)
        self._log_w = math.log10(c.short_window)
        self._clip_mult = 1.0  # errors beyond the alert threshold are learned as at it
        self._inv_rho = 10.0**c.threshold
        self._lam = 1.0 / c.memory
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
        # Static bounds resolve on the first value back inside the bounds shrunk by the
        # hysteresis margin (the margin is what keeps a value on the bound from flapping),
        # and cool down only briefly: a new breach after that is news.
        self._resolve_after = 1 if self._static else c.resolve_after
        self._cooldown = min(c.cooldown, STATIC_COOLDOWN) if self._static else c.cooldown
        # lifecycle
        self._open = False
        self._streak = 0
        self._ok = 0
        self._cool = 0
        self._in_history = False  # the value being judged was loaded from the past
        self._opened_in_history = False  # the open (or last) episode began in the past
        # time and magnitude
        self._n = 0
        self._t0 = 0.0
        self._t_last = 0.0
        self._deltas: list[float] = []
        self._cadence = 0.0
        self._quantum = math.inf  # smallest positive change seen (the KPI's resolution)
        self._mag = 0.0  # mean |value| (the KPI's magnitude)
        self._last_x = 0.0
        # models 0 flat, 1 daily, 2 weekly: level, trend, mean squared error, scale,
        # |error / scale| histogram with its total weight
        self._lv = [0.0, 0.0, 0.0]
        self._tr = [0.0, 0.0, 0.0]
        self._err = [0.0, 0.0, 0.0]
        self._sc = [0.0, 0.0, 0.0]
        self._scn = [0, 0, 0]  # errors each scale has learned from
        # (index 3: the short average of capped point surprises, for the likelihood)
        # index k: errors above model k's forecast, k + 4: below it
        self._hist = [prior_hist() for _ in range(3)] + [prior_ctx(c.short_window)]
        self._hist += [prior_hist() for _ in range(3)]
        self._htot = [PRIOR_WEIGHT] * 7
        self._hw = 1.0  # current histogram increment (grows instead of decaying the counts)
        self._active = 0
        self._periods = [0.0, DAY, WEEK]
        self._nbins = [0, 0, 0]
        # Seasonal profiles per model (an empty list: no profile, e.g. the flat model 0).
        self._prof: list[list[float]] = [[], [], []]
        self._pcnt: list[list[int]] = [[], [], []]
        self._ss: list[list[float]] = [[], [], []]  # per-phase error scale
        self._nsb = [1, 1, 1]
        self._scnt: list[list[int]] = [[], [], []]
        self._runs: list[list[float]] = [[], [], []]  # per model: a run of same-side surprises
        self._sides = [0, 0, 0]
        self._since = 0  # points since the tail tables were refreshed
        self._erate = 10.0**-c.threshold  # excursions per value (long-run)
        self._excursion = False
        self._xmin = math.inf  # the range of the values seen so far
        self._xmax = -math.inf
        self._peak = 0.0  # the surprise peak of the last episode
        # anomaly likelihood
        self._ring: list[float] = []
        self._ring_sum = 0.0
        # derived, not saved: tail tables per model
        self._cdf: list[list[float]] = [[] for _ in range(7)]
        self._u_lo = [0.0] * 7
        self._q0 = [TAIL] * 7  # tail probability at u_lo
        self._w_emp = [1.0] * 7  # weight of the empirical tail (vs the reference)
        self._p_c = [0.0] * 7  # down to this tail probability the empirical tail is used alone
        self._u_grid: list[list[float]] = [[] for _ in range(7)]  # |u| at surprises 0, 0.25, ...
        self._a_tail = [0.0] * 7  # GPD shape
        self._gsig = [1.0] * 7  # GPD scale
        self._u_thr = [0.0] * 7
        self._u_res = [0.0] * 7  # |u| at the resolve threshold's probability
        self._loaded = False
        if state is not None:
            self._load(state)
        if not self._loaded:
            for k in range(7):
                self._refresh(k)

    # ---------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        """Everything needed to carry on later: JSON-safe, a few kB."""
        return {
            "v": STATE_VERSION,
            "life": [self._open, self._streak, self._ok, self._cool, self._opened_in_history],
            "n": self._n,
            "t": [self._t0, self._t_last],
            "deltas": list(self._deltas),
            "quantum": None if self._quantum == math.inf else self._quantum,
            "mag": self._mag,
            "last_x": self._last_x,
            "lv": list(self._lv),
            "tr": list(self._tr),
            "err": list(self._err),
            "sc": list(self._sc),
            "scn": list(self._scn),
            "hist": [pack(hk) for hk in self._hist],
            "htot": list(self._htot),
            "hw": self._hw,
            "active": self._active,
            "nbins": list(self._nbins),
            "prof": [pack(p) if p else None for p in self._prof],
            "pcnt": [list(p) if p else None for p in self._pcnt],
            "ss": [pack(p) if p else None for p in self._ss],
            "scnt": [list(p) if p else None for p in self._scnt],
            "runs": [list(self._sides), [list(r) for r in self._runs]],
            "since": self._since,
            "erate": [self._erate, self._excursion],
            "young": [  # the range of the values seen (none yet: infinite, saved as None)
                None if self._xmin == math.inf else self._xmin,
                None if self._xmax == -math.inf else self._xmax,
                self._peak,
            ],
            "ring": list(self._ring),
            "ring_sum": self._ring_sum,
            "cadence": self._cadence,
            # the tail tables as last refreshed (they lag the histograms on purpose):
            # the full tables of the active model and the context, the others' parameters
            "tails": [
                [pack(self._cdf[k]) for k in (self._active, self._active + 4, 3)],
                [
                    [
                        self._u_lo[k],
                        self._a_tail[k],
                        self._gsig[k],
                        self._u_thr[k],
                        self._u_res[k],
                        self._q0[k],
                        self._w_emp[k],
                        self._p_c[k],
                    ]
                    for k in range(7)
                ],
            ],
        }

    def _load(self, s: dict[str, Any]) -> None:
        if s.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported detector state version {s.get('v')!r}")
        try:
            o, st, ok, cool, past = s["life"]
            self._open, self._streak, self._ok, self._cool = bool(o), int(st), int(ok), int(cool)
            self._opened_in_history = bool(past)
            self._n = int(s["n"])
            self._t0, self._t_last = (float(x) for x in s["t"])
            self._deltas = [float(x) for x in s["deltas"]][-CADENCE_SAMPLES:]
            q = s["quantum"]
            self._quantum = math.inf if q is None else float(q)
            self._mag = float(s["mag"])
            self._last_x = float(s["last_x"])
            self._lv = [float(x) for x in s["lv"]]
            self._tr = [float(x) for x in s["tr"]]
            self._err = [float(x) for x in s["err"]]
            self._sc = [float(x) for x in s["sc"]]
            self._scn = [int(x) for x in s["scn"]]
            self._hist = [unpack(hk) for hk in s["hist"]]
            self._htot = [float(x) for x in s["htot"]]
            self._hw = float(s["hw"])
            self._active = int(s["active"])
            self._nbins = [int(x) for x in s["nbins"]]
            self._prof = [[] if p is None else unpack(p) for p in s["prof"]]
            self._pcnt = [[] if p is None else [int(x) for x in p] for p in s["pcnt"]]
            self._ss = [[] if p is None else unpack(p) for p in s["ss"]]
            self._scnt = [[] if p is None else [int(x) for x in p] for p in s["scnt"]]
            self._nsb = [1] + [
                scale_bins(k, nb) for k, nb in ((1, self._nbins[1]), (2, self._nbins[2]))
            ]
            sides, runs = s["runs"]
            self._sides = [int(x) for x in sides]
            self._runs = [[float(x) for x in r] for r in runs]
            if len(self._sides) != 3 or len(self._runs) != 3:
                raise ValueError("runs")
            self._since = int(s["since"])
            er, ex = s["erate"]
            self._erate, self._excursion = float(er), bool(ex)
            lo, hi, peak = s["young"]
            self._xmin = math.inf if lo is None else float(lo)
            self._xmax = -math.inf if hi is None else float(hi)
            self._peak = float(peak)
            self._ring = [float(x) for x in s["ring"]][-self.config.short_window :]
            self._ring_sum = float(s["ring_sum"])
            self._cadence = float(s["cadence"])
            tables, params = s["tails"]
            if len(tables) != 3 or len(params) != 7:
                raise ValueError("tails")
            for k, table in zip(
                (self._active, self._active + 4, 3), map(unpack, tables), strict=True
            ):
                if len(table) != NBINS + 1:
                    raise ValueError("tail table")
                self._cdf[k] = table
            for k, par in enumerate(params):
                if len(par) != 8:
                    raise ValueError("tail parameters")
                (
                    self._u_lo[k],
                    self._a_tail[k],
                    self._gsig[k],
                    self._u_thr[k],
                    self._u_res[k],
                    self._q0[k],
                    self._w_emp[k],
                    self._p_c[k],
                ) = (float(x) for x in par)
            for k in (self._active, self._active + 4, 3):
                self._build_grid(k)
            self._loaded = True
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt detector state: {exc}") from None
        three = (
            self._lv,
            self._tr,
            self._err,
            self._sc,
            self._scn,
            self._nbins,
            self._prof,
            self._pcnt,
            self._ss,
            self._scnt,
        )
        if (
            any(len(v) != 3 for v in three)
            or len(self._hist) != 7
            or len(self._htot) != 7
            or any(len(h) != NBINS for h in self._hist)
            or not 0 <= self._active < 3
            or any(len(p) != nb for p, nb in zip(self._prof, self._nbins, strict=True))
            or any(len(p) != nb for p, nb in zip(self._pcnt, self._nbins, strict=True))
            or any(
                bool(p) != bool(q) or (bool(p) and len(p) != nb)
                for p, q, nb in zip(self._ss, self._prof, self._nsb, strict=True)
            )
            or (self._active and not self._prof[self._active])
            or self._hw <= 0.0
            or any(h <= 0.0 for h in self._htot)
        ):
            raise ValueError("corrupt detector state: shapes")

    # -------------------------------------------------------------- queries
    @property
    def learning(self) -> bool:
        """True while a learned range has too little history to judge (never for bounds)."""
        return not self._static and self._n < self.config.min_history

    @property
    def alert_open(self) -> bool:
        return self._open

    def _floor(self) -> float:
        """The smallest scale: a tenth of the KPI's resolution, or 0.1% of its magnitude."""
        q = self._quantum
        f = 1e-3 * self._mag
        if q != math.inf and QUANTUM_SHARE * q > f:
            f = QUANTUM_SHARE * q
        return f if f > 1e-12 else 1e-12

    def _forecast(self, t: float) -> tuple[float, float]:
        """(forecast, steps ahead) of the active model at time t."""
        a = self._active
        cad = self._cadence or 1.0
        steps = (t - self._t_last) / cad
        if steps < 0.0:
            steps = 0.0
        phi = self._phi
        tsum = self._tr[a] * (phi * (1.0 - phi**steps) / (1.0 - phi) if phi < 1.0 else steps)
        f = self._lv[a] + tsum
        prof = self._prof[a]
        if a and prof:
            nb = self._nbins[a]
            per = self._periods[a]
            f += prof[int((t % per) / per * nb) % nb]
        return f, steps

    def normal_range(self, at: datetime | None = None) -> tuple[float | None, float | None] | None:
        """The normal range for a measurement at `at` (default: the next expected one).

        Static bounds are returned as given (None for an open side); a learned range
        is None while learning. Nothing is changed.
        """
        c = self.config
        if self._static:
            return (c.min_value, c.max_value)
        if self.learning or self._n == 0:
            return None
        t = self._t_last + (self._cadence or 1.0) if at is None else epoch(at)
        f, steps = self._forecast(t)
        a = self._active
        floor = self._floor()
        scale = self._phase_scale(a, t)
        scale = scale if scale > floor else floor
        if steps > 1.5:
            scale *= math.sqrt(1.0 + (steps - 1.0) * self._alpha * self._alpha)
        return (f - self._u_thr[a + 4] * scale, f + self._u_thr[a] * scale)

    def _phase_scale(self, k: int, t: float) -> float:
        ss = self._ss[k]
        if not k or not ss:
            return self._sc[k]
        per = self._periods[k]
        j = int((t % per) / per * self._nsb[k]) % self._nsb[k]
        w = min(self._scnt[k][j], PHASE_SCALE_N)
        return (w * ss[j] + PHASE_PRIOR * self._sc[k]) / (w + PHASE_PRIOR)

    # ---------------------------------------------------------- tail model
    def _refresh(self, k: int) -> None:
        """Recompute model k's tail table and its generalised-Pareto tail (as in SPOT).

        Exceedances over the q0 quantile u0 are fitted by probability-weighted
        moments (Hosking & Wallis) from the histogram. q0 is TAIL (2%) once the
        histogram holds enough values, larger while it is young so that the fit
        always rests on about TAIL_MIN_EXCESS exceedances. The fitted shape is
        shrunk towards SHAPE_PRIOR with SHAPE_PRIOR_WEIGHT pseudo-exceedances (a
        credibility weight: a young tail estimate neither explodes on two large
        values nor collapses on none), then kept in [0, MAX_SHAPE]."""
        h = self._hist[k]
        tot = self._htot[k]
        n_eff = tot / self._hw  # values the histogram holds (forgetting included)
        q0 = TAIL_MIN_EXCESS / n_eff if n_eff > 0.0 else 1.0
        if q0 < TAIL:
            q0 = TAIL
        elif q0 > TAIL_MAX:
            q0 = TAIL_MAX
        # tail[b] = P(|u| >= lower edge of bin b): sums from the top bin down, as a loop would
        tail = [a / tot for a in accumulate(reversed(h))]
        tail.reverse()
        tail.append(0.0)
        self._cdf[k] = tail
        u0 = quantile(tail, q0)
        # exceedances: bin mid-points above u0 (the bin holding u0 contributes its share)
        b0 = b1 = 0.0
        wsum = 0.0
        above = 0.0  # exceedance mass above the current bin, for the plotting position
        for b in range(NBINS - 1, 0, -1):
            lo_edge = EDGES[b]
            if EDGES[b + 1] <= u0:
                break
            mass = h[b] / tot
            if lo_edge < u0:  # partial bin: the share above u0
                mass = tail[b] - q0 if tail[b] > q0 else 0.0
                mass = min(mass, h[b] / tot)
                mid = math.sqrt(u0 * EDGES[b + 1])
            else:
                mid = MIDS[b]
            if mass <= 0.0:
                continue
            y = mid - u0
            surv = (above + 0.5 * mass) / q0  # exceedance survival at y
            b0 += mass * y
            b1 += mass * y * surv
            wsum += mass
            above += mass
        xi = SHAPE_PRIOR
        if wsum > 0.0 and b0 > 0.0:
            b0 /= wsum
            b1 /= wsum
            den = b0 - 2.0 * b1
            xi_hat = 2.0 - b0 / den if den > 1e-12 * b0 else MAX_SHAPE
            if xi_hat > MAX_SHAPE:
                xi_hat = MAX_SHAPE
            elif xi_hat < -MAX_SHAPE:
                xi_hat = -MAX_SHAPE
            m = wsum * n_eff  # exceedances behind the fit
            xi = (m * xi_hat + SHAPE_PRIOR_WEIGHT * SHAPE_PRIOR) / (m + SHAPE_PRIOR_WEIGHT)
            if xi < 0.0:  # keep it unbounded
                xi = 0.0
            sig = b0 * (1.0 - xi)  # the same mean excess under the shrunk shape
        else:
            sig = 0.0
        if sig <= 0.0:
            sig = max(u0, 1e-3) * (1.0 - xi)
        self._u_lo[k] = u0
        self._a_tail[k] = xi
        self._gsig[k] = sig
        self._q0[k] = q0
        # credibility of the empirical tail: exceedances of the 2% quantile it rests on
        m = TAIL * n_eff
        self._w_emp[k] = m / (m + REF_WEIGHT)
        pc = CRED_N / n_eff if n_eff > 0.0 else 1.0
        self._p_c[k] = pc if pc < 1.0 else 1.0
        a = self._active
        if k == 3 or k == a or k == a + 4:  # only these tails are read value by value
            self._build_grid(k)
        # |u| at the alert threshold and at the resolve threshold
        self._u_thr[k] = self._u_at(k, self._p_thr)
        self._u_res[k] = self._u_at(k, 10.0**-self.config.resolve_threshold)

    def _tail_p(self, k: int, u: float) -> float:
        """P(|U| >= u) under model k's error distribution: the empirical (EVT) estimate
        while it rests on enough values; before, its quantiles are averaged with those
        of a Gaussian reference (weight w_emp = m / (m + REF_WEIGHT), m the exceedances
        of the 2% quantile the fit rests on), read from a table of surprises."""
        if self._w_emp[k] >= W_FULL:
            return self._emp_p(k, u)
        us = self._u_grid[k]
        i = bisect_right(us, u)
        if i == 0:
            return 1.0
        if i >= len(us):  # beyond the table: extrapolate its last segment
            i = len(us) - 1
        u_a, u_b = us[i - 1], us[i]
        s_a = (i - 1) * GRID_STEP
        sv = s_a + GRID_STEP * (u - u_a) / (u_b - u_a) if u_b > u_a else s_a + GRID_STEP
        return 10.0**-sv if sv < 300.0 else 1e-300

    def _emp_u(self, k: int, p: float) -> float:
        """|u| with empirical tail probability p (the inverse of _emp_p)."""
        q0 = self._q0[k]
        if p < q0:
            xi, sig = self._a_tail[k], self._gsig[k]
            q = p / q0
            return self._u_lo[k] + (sig / xi * (q**-xi - 1.0) if xi > 1e-9 else -sig * math.log(q))
        return quantile(self._cdf[k], p)

    def _build_grid(self, k: int) -> None:
        """|u| of the blended tail at surprises 0, GRID_STEP, ... (while it is blended)."""
        w = self._w_emp[k]
        if w < W_FULL:
            ref = ref_grid(self.config.short_window if k == 3 else 0)
            emp_u = self._emp_u
            v = 1.0 - w
            pc = self._p_c[k]
            if pc <= 0.0:
                self._u_grid[k] = [
                    w * emp_u(k, p) + v * r for p, r in zip(GRID_P, ref, strict=True)
                ]
                return
            # the empirical tail alone where it rests on CRED_N values or more; beyond,
            # the empirical and the reference increments from that point are blended
            uc = emp_u(k, pc)
            rc = interp_ref(ref, pc)
            self._u_grid[k] = [
                emp_u(k, p) if p >= pc else uc + w * (emp_u(k, p) - uc) + v * (r - rc)
                for p, r in zip(GRID_P, ref, strict=True)
            ]

    def _u_at(self, k: int, p: float) -> float:
        """|u| at tail probability p under _tail_p."""
        w = self._w_emp[k]
        if w >= W_FULL:
            return self._emp_u(k, p)
        win = self.config.short_window if k == 3 else 0
        pc = self._p_c[k]
        if pc <= 0.0:
            return w * self._emp_u(k, p) + (1.0 - w) * ref_u(p, win)
        if p >= pc:
            return self._emp_u(k, p)
        uc = self._emp_u(k, pc)
        return (
            uc
            + w * (self._emp_u(k, p) - uc)
            + (1.0 - w) * (ref_u(p, win) - interp_ref(ref_grid(win), pc))
        )

    def _emp_p(self, k: int, u: float) -> float:
        """P(|U| >= u) from model k's histogram and generalised-Pareto tail."""
        u0 = self._u_lo[k]
        if u >= u0:
            xi = self._a_tail[k]
            y = (u - u0) / self._gsig[k]
            if xi > 1e-9:
                above: float = self._q0[k] * (1.0 + xi * y) ** (-1.0 / xi)
                return above
            return self._q0[k] * math.exp(-y) if y < 700.0 else 0.0
        if u < 1e-3:
            return 1.0
        xb = (math.log10(u) - LOG_MIN) * BPD
        b = int(xb) + 1
        tail = self._cdf[k]
        return tail[b] - (xb - b + 1) * (tail[b] - tail[b + 1])

    # ------------------------------------------------------------- update
    def update(self, at: datetime, value: float, history: bool = False) -> Evaluation:
        """Judge one measurement, learn from it, and advance the alert lifecycle.

        `history` marks values loaded in bulk from the past: an episode that opened
        among them leaves no cool-down behind, so it cannot mute a live incident.
        """
        self._in_history = history
        return Evaluation._make(self._step(epoch(at), float(value)))

    def _step(self, t: float, x: float) -> Step:
        if not -VALUE_LIMIT <= x <= VALUE_LIMIT:
            if not math.isfinite(x):
                raise ValueError(f"measurement {x!r} is not a finite number")
            x = math.copysign(VALUE_LIMIT, x)
        if self._static:
            return self._static_step(t, x)
        if self._n and t <= self._t_last:
            return self._peek(t, x)
        return self._learned_step(t, x)

    def _static_step(self, t: float, x: float) -> Step:
        c = self.config
        lo, hi = c.min_value, c.max_value
        if lo is not None and x < lo:
            d = lo - x
        elif hi is not None and x > hi:
            d = x - hi
        else:
            d = 0.0
        score = 0.0 if d <= 0.0 else 0.5 + 0.5 * d / (d + self._width)
        abnormal = d > 0.0
        reason = "bounds" if abnormal else ""
        if self._n and t <= self._t_last:
            return (
                score,
                abnormal,
                lo,
                hi,
                False,
                False,
                self._open,
                False,
                self._cool > 0,
                reason,
            )
        self._n += 1
        self._t_last = t
        inner = self._inner_lo <= x <= self._inner_hi
        opened, resolved = self._lifecycle(abnormal, inner)
        return (
            score,
            abnormal,
            lo,
            hi,
            opened,
            resolved,
            self._open,
            False,
            self._cool > 0,
            reason,
        )

    def _lifecycle(self, abnormal: bool, inner: bool, strong: bool = False) -> tuple[bool, bool]:
        c = self.config
        if self._open:
            self._ok = self._ok + 1 if inner else 0
            if self._ok >= self._resolve_after:
                self._open = False
                self._ok = 0
                self._streak = 0
                self._cool = 0 if self._opened_in_history else self._cooldown
                return False, True
            return False, False
        if self._cool:
            if strong:  # far stronger than the threshold: a new event, not the old one's tail
                self._cool = 0
                self._open = True
                self._opened_in_history = self._in_history
                self._streak = 0
                self._ok = 0
                return True, False
            self._cool -= 1
            self._streak = 0
            return False, False
        self._streak = self._streak + 1 if abnormal else 0
        if self._streak >= c.consecutive:
            self._open = True
            self._opened_in_history = self._in_history
            self._streak = 0
            self._ok = 0
            return True, False
        return False, False

    def _peek(self, t: float, x: float) -> Step:
        """A measurement not after the last one: scored against the model, not learned."""
        if self.learning:
            return (0.0, False, None, None, False, False, self._open, True, self._cool > 0, "")
        a = self._active
        f, _ = self._forecast(t)
        floor = self._floor()
        scale = self._phase_scale(a, t)
        scale = scale if scale > floor else floor
        p = self._tail_p(a if x >= f else a + 4, abs(x - f) / scale)
        surprise = -math.log10(p) if p > 1e-300 else 300.0
        if self.config.likelihood:
            surprise = surprise - LOG2 if surprise > LOG2 else 0.0
        abnormal = surprise >= self._thr
        return (
            surprise / (surprise + self._thr),
            abnormal,
            f - self._u_thr[a + 4] * scale,
            f + self._u_thr[a] * scale,
            False,
            False,
            self._open,
            False,
            self._cool > 0,
            "value" if abnormal else "",
        )

    def _setup_seasons(self) -> None:
        """(Re)size the seasonal profiles for the current cadence."""
        c = self.config
        cad = self._cadence
        for k in (1, 2):
            per = self._periods[k]
            nb = 0
            if c.seasonality and cad > 0.0:
                phases = int(per / cad + 0.5)
                if phases >= MIN_PHASES and (k == 2 or cad <= DAY / MIN_PHASES):
                    nb = min(phases, c.max_bins if k == 2 else c.max_daily_bins)
            if nb != self._nbins[k]:
                self._nbins[k] = nb
                self._prof[k] = [0.0] * nb if nb else []
                self._pcnt[k] = [0] * nb if nb else []
                self._nsb[k] = scale_bins(k, nb)
                self._ss[k] = [self._sc[0]] * self._nsb[k] if nb else []
                self._scnt[k] = [0] * self._nsb[k] if nb else []
                self._lv[k] = self._lv[0]
                self._tr[k] = self._tr[0]
                self._err[k] = self._err[0]
                self._sc[k] = self._sc[0]
                self._scn[k] = 0
                for side in (0, 4):
                    self._hist[k + side] = list(self._hist[side])
                    self._htot[k + side] = self._htot[side]
                    self._refresh(k + side)
                if self._active == k:
                    self._active = 0

    def _learned_step(self, t: float, x: float) -> Step:
        c = self.config
        n = self._n
        if n == 0:
            self._n = 1
            self._t0 = self._t_last = t
            self._lv = [x, x, x]
            self._mag = abs(x)
            self._xmin = self._xmax = x
            self._last_x = x
            return (0.0, False, None, None, False, False, self._open, True, False, "")

        # cadence: the median of recent intervals
        dt = t - self._t_last
        deltas = self._deltas
        deltas.append(dt)
        if len(deltas) > CADENCE_SAMPLES:
            del deltas[0]
        if dt != self._cadence or n < 12:
            cad = median(deltas)
            if cad != self._cadence:
                self._cadence = cad
                self._setup_seasons()
        steps = dt / self._cadence
        d = abs(x - self._last_x)
        if 0.0 < d < self._quantum:
            self._quantum = d
        mag = self._mag = self._mag + (abs(x) - self._mag) / (n + 1 if n < 100 else 100)
        floor = 1e-3 * mag  # = self._floor(), inlined
        q = self._quantum
        if q != math.inf and QUANTUM_SHARE * q > floor:
            floor = QUANTUM_SHARE * q
        if floor < 1e-12:
            floor = 1e-12

        phi = self._phi
        if steps == 1.0:
            decay = damp = phi
        else:
            decay = phi**steps
            damp = phi * (1.0 - decay) / (1.0 - phi) if phi < 1.0 else steps
        gap = math.sqrt(1.0 + (steps - 1.0) * self._alpha * self._alpha) if steps > 1.5 else 1.0
        lv, tr, err, sc, scn = self._lv, self._tr, self._err, self._sc, self._scn
        active = self._active
        alpha, beta, gamma, huber = self._alpha, self._beta, self._gamma, self._huber
        hw = self._hw * self._hdecay
        elam = 1.0 / (n if n < 200 else 200)
        slam = self._slam
        learning = n < c.min_history
        adapt_after = c.adapt_after
        ecap = 0.0
        fa = 0.0
        p = 1.0
        scale_act = 0.0
        profs, nbins, periods, sss, nsbs = (
            self._prof,
            self._nbins,
            self._periods,
            self._ss,
            self._nsb,
        )
        hists, htot, u_thr, u_res = self._hist, self._htot, self._u_thr, self._u_res
        runs, sides, pcnts, scnts = self._runs, self._sides, self._pcnt, self._scnt
        clip_mult = self._clip_mult
        log10 = math.log10
        for k in (0, 1, 2) if active == 0 else (active, 0, 3 - active):
            prof = profs[k]
            if k and not prof:
                continue
            base = lv[k] + tr[k] * damp
            f = base
            if k:
                nb = nbins[k]
                per = periods[k]
                i = int((t % per) / per * nb) % nb
                f += prof[i]
            e = x - f
            ae = e if e >= 0.0 else -e
            if k:
                ss = sss[k]
                j = i * nsbs[k] // nb
                # a phase's own scale, shrunk towards the model's overall one while the
                # phase has few errors (PHASE_PRIOR of them count as much as its own)
                wj = scnts[k][j]
                if wj > PHASE_SCALE_N:
                    wj = PHASE_SCALE_N
                scale = (wj * ss[j] + PHASE_PRIOR * sc[k]) / (wj + PHASE_PRIOR)
            else:
                scale = sc[0]
            if scale < floor:
                scale = floor
            u = ae / (scale * gap)
            # tail probability under this model's own error distribution
            hk = k if e >= 0.0 else k + 4
            if k == active:
                fa, scale_act = f, scale
                p = self._tail_p(hk, u)
                if p < 1e-300:
                    p = 1e-300
                ecap = 10.0 * scale
            if k:
                cnt = pcnts[k]
                if cnt[i] < COUNT_CAP:  # (only small counts matter: first visit, 1/count)
                    cnt[i] += 1
                if cnt[i] == 1:  # first visit of a phase: its whole deviation is the profile
                    prof[i] = x - base
                    continue
            # learn the error distribution (beyond the threshold counts as at it), once
            # the scale rests on a few errors (before, u is meaningless)
            if scn[k] >= MIN_SCALE_N:
                ub = u_thr[hk] * clip_mult
                if u < ub:
                    ub = u
                if ub < 1e-3:
                    b = 0
                else:
                    b = int((log10(ub) - LOG_MIN) * BPD) + 1
                    if b >= NBINS:
                        b = NBINS - 1
                hists[hk][b] += hw
                htot[hk] += hw
            # model selection: mean squared error, each capped at 10 active scales
            ce = ae if ae < ecap else ecap
            err[k] += elam * (ce * ce - err[k])
            # robust error correction
            lim = huber * scale
            psi = e if -lim <= e <= lim else (lim if e > 0.0 else -lim)
            if k:
                g = gamma if cnt[i] * gamma >= 1.0 else 1.0 / cnt[i]
                prof[i] += g * (1.0 - alpha) * psi
                cap = 3.0 * scale
                scnt = scnts[k]
                if scnt[j] < COUNT_CAP:
                    scnt[j] += 1
                g = PHASE_SCALE_RATE if scnt[j] * PHASE_SCALE_RATE >= 1.0 else 1.0 / scnt[j]
                ss[j] += g * ((ae if ae < cap or scnt[j] == 1 else cap) - ss[j])
            lv[k] = base + alpha * psi
            tr[k] = tr[k] * decay + beta * psi
            # level shift: a run of same-side surprises re-anchors this model's level
            if u >= u_res[hk]:
                side = 1 if e > 0.0 else -1
                run = runs[k]
                if side != sides[k]:
                    sides[k] = side
                    run.clear()
                run.append(e)
                if len(run) >= adapt_after:
                    lv[k] += median(run)
                    tr[k] = 0.0
                    run.clear()
                    sides[k] = 0
            elif sides[k]:
                runs[k].clear()
                sides[k] = 0
            cap = 3.0 * (sc[k] if sc[k] > floor else floor)
            nk = scn[k] = scn[k] + 1
            if nk > 1:  # a running mean at first, then exponential forgetting
                sc[k] += (slam if nk * slam >= 1.0 else 1.0 / nk) * (
                    (ae if ae < cap else cap) - sc[k]
                )
            else:
                sc[k] = ae

        s_point = -math.log10(p) if p > 1e-300 else 300.0
        surprise = s_point
        reason = "value"
        if c.likelihood:
            # anomaly likelihood: how unusual is the recent average surprise, judged by
            # its own history (histogram and generalised-Pareto tail, like the values)
            # The average is over the values before this one, so that the two tests
            # are (nearly) independent under the null, as Fisher's method requires.
            ring = self._ring
            raw = s_point if s_point < self._thr else self._thr
            w = c.short_window
            full = len(ring) >= w
            m = self._ring_sum / w
            ring.append(raw)
            self._ring_sum += raw
            if len(ring) > w:
                self._ring_sum -= ring.pop(0)
            if full:
                if c.combine == "fisher":
                    pc = self._tail_p(3, m)
                    if pc > 1.0:
                        pc = 1.0
                    pp = p * pc
                    if pp < 1e-300:
                        pp = 1e-300
                    pf = pp * (1.0 - math.log(pp))  # Fisher: chi-square with 4 df
                    surprise = -math.log10(pf) + LOG2 if pf < 1.0 else 0.0
                    reason = "context" if pc < p else "value"
                elif m > self._u_lo[3]:
                    pc = self._tail_p(3, m)
                    # about one independent average per window: per value, the same false
                    # alarm rate allows a window-times larger probability (Bonferroni)
                    s_ctx = (-math.log10(pc) if pc > 1e-300 else 300.0) + self._log_w
                    if s_ctx > s_point:
                        surprise = s_ctx
                        reason = "context"
                ub = self._u_thr[3]
                if m < ub:
                    ub = m
                if ub < 1e-3:
                    b = 0
                else:
                    b = int((math.log10(ub) - LOG_MIN) * BPD) + 1
                    if b >= NBINS:
                        b = NBINS - 1
                self._hist[3][b] += hw
                self._htot[3] += hw
            surprise = surprise - LOG2 if surprise > LOG2 else 0.0  # two tests: Bonferroni
        # excursion-rate control: a KPI whose surprises come in more (separate) excursions
        # than calibration promises (about 10**-threshold per value) gets a higher bar
        thr = self._thr
        if c.rate_control:
            f = self._erate * self._inv_rho
            if f > 1.0:
                thr += math.log10(f)
            start = 0.0
            if surprise >= thr:
                if not self._excursion:
                    self._excursion = True
                    start = 1.0
            elif surprise < self._res_thr:
                self._excursion = False
            self._erate += self._lam * (start - self._erate)
        abnormal = surprise >= thr and not learning
        if abnormal and t - self._t0 <= YOUNG_DAYS * DAY:
            # a young model has not seen a whole cycle: only a value outside every value
            # seen so far may be abnormal
            # (by as much as the threshold's error beyond the nearest one)
            if x > self._xmax:
                abnormal = x - self._xmax >= self._u_thr[active] * scale_act * gap
            elif x < self._xmin:
                abnormal = self._xmin - x >= self._u_thr[active + 4] * scale_act * gap
            else:
                abnormal = False
            if not abnormal:  # (the score stays below 0.5 when the value is not abnormal)
                surprise = 0.999 * thr
        if x < self._xmin:
            self._xmin = x
        if x > self._xmax:
            self._xmax = x
        self._hw = hw
        if hw > 1e6:  # renormalise the histograms
            inv = 1.0 / hw
            self._hist = [[h * inv for h in hk] for hk in self._hist]
            self._htot = [h * inv for h in self._htot]
            self._hw = 1.0

        # tail tables: the active model's and the context's every REFRESH values, the
        # others' (used only for clipping and re-anchoring) every 4 x REFRESH
        since = self._since + 1
        if since % REFRESH == 0:
            self._refresh(active)
            self._refresh(active + 4)
            self._refresh(3)
            if since >= 4 * REFRESH:
                since = 0
                for k in (0, 1, 2):
                    if k != active and (k == 0 or self._prof[k]):
                        self._refresh(k)
                        self._refresh(k + 4)
        self._since = since

        # model choice: a seasonal one once it has seen two periods and clearly wins
        if c.seasonality:
            best = 0
            best_err = err[0] * c.season_gain * c.season_gain
            for k in (1, 2):
                if self._prof[k] and t - self._t0 >= 2.0 * self._periods[k]:
                    e_k = err[k] * (0.9 if k == active else 1.0)
                    if e_k < best_err:
                        best, best_err = k, e_k
            if best != active:
                self._active = best
                self._refresh(best)
                self._refresh(best + 4)
                # the recent surprises were judged by another model: the context restarts
                self._ring.clear()
                self._ring_sum = 0.0

        self._n = n + 1
        self._t_last = t
        self._last_x = x

        if learning:
            return (0.0, False, None, None, False, False, self._open, True, False, "")
        if abnormal or self._open or self._cool or self._streak:
            # escalation: in the cool-down, a value far more surprising than the last
            # episode's peak (p at most its square, with escalate = 2) is a new event
            strong = False
            if self._open:
                if surprise > self._peak:
                    self._peak = surprise
            elif self._cool and abnormal and c.escalate > 0.0:
                strong = surprise > c.escalate * self._peak
            opened, resolved = self._lifecycle(abnormal, surprise < self._res_thr, strong)
            if opened:
                self._peak = surprise
        else:
            opened = resolved = False
        band = scale_act * gap
        return (
            surprise / (surprise + thr),
            abnormal,
            fa - self._u_thr[active + 4] * band,
            fa + self._u_thr[active] * band,
            opened,
            resolved,
            self._open,
            False,
            self._cool > 0,
            reason if abnormal else "",
        )
