"""The statistics behind the detector: robust medians, error histograms with a Gaussian
prior, extreme-value tails and the reference distributions young tails are blended with.

Pure functions of lists of floats; packed states (base64 doubles) keep them exact.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from operator import neg
from typing import Any

# |standardised error| histograms: log-spaced, BPD bins per decade from 10**LOG_MIN.
BPD = 8
LOG_MIN = -3
NBINS = 9 * BPD + 2  # bin 0: below 1e-3 (and zeros); last bin: 1e6 and beyond
PRIOR_WEIGHT = 20.0  # pseudo-points of a Gaussian prior in the histogram
GRID_STEP = 0.5  # surprise step of the blended tail table
GRID_N = 25  # ... up to a surprise of 12 (linear beyond)
LN10 = math.log(10.0)
MAE_TO_SD = math.sqrt(2.0 / math.pi)  # |u| is in mean-absolute-error units: z = 0.798 u
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def gauss_surprise(z: float) -> float:
    """-log10 of the upper Gaussian tail probability Q(z)."""
    if z <= 0.0:
        return 0.0 if z < -8 else -math.log10(1.0 - 0.5 * math.erfc(-z / math.sqrt(2.0)))
    if z < 8.0:
        return -math.log10(0.5 * math.erfc(z / math.sqrt(2.0)))
    # asymptotic: Q(z) ~ phi(z) / z
    return (0.5 * z * z + math.log(z * math.sqrt(2.0 * math.pi))) / LN10


def bin_lo(b: int) -> float:
    """Lower edge of histogram bin b (b >= 1)."""
    edge: float = 10.0 ** (LOG_MIN + (b - 1) / BPD)
    return edge


def prior_hist() -> list[float]:
    """PRIOR_WEIGHT pseudo-points of |N(0,1)| / sqrt(2/pi) (unit mean absolute value)."""
    h = [0.0] * NBINS
    c = math.sqrt(2.0 / math.pi)
    prev = 0.0
    for b in range(1, NBINS):
        edge = bin_lo(b) * c  # in units of sigma
        cdf = math.erf(edge / math.sqrt(2.0))
        h[b - 1] += (cdf - prev) * PRIOR_WEIGHT
        prev = cdf
    h[NBINS - 1] += (1.0 - prev) * PRIOR_WEIGHT
    return h


def prior_ctx(window: int) -> list[float]:
    """PRIOR_WEIGHT pseudo-points of the short average of surprises -log10(U), U uniform
    (normal approximation: mean and sd 1/ln 10, the sd divided by sqrt(window))."""
    h = [0.0] * NBINS
    mean = 1.0 / math.log(10.0)
    sd = mean / math.sqrt(window)
    prev = 0.0
    for b in range(1, NBINS):
        cdf = 0.5 * math.erfc(-(bin_lo(b) - mean) / (sd * math.sqrt(2.0)))
        h[b - 1] += (cdf - prev) * PRIOR_WEIGHT
        prev = cdf
    h[NBINS - 1] += (1.0 - prev) * PRIOR_WEIGHT
    return h


EDGES = [0.0] + [10.0 ** (LOG_MIN + (b - 1) / BPD) for b in range(1, NBINS + 1)]
MIDS = [0.0] + [10.0 ** (LOG_MIN + (b - 0.5) / BPD) for b in range(1, NBINS)] + [0.0]
MIDS[NBINS - 1] = EDGES[NBINS - 1] * 10.0 ** (0.5 / BPD)


def quantile(tail: list[float], p: float) -> float:
    """|u| with tail probability p (log-linear inside a bin) from a tail table."""
    # the last bin b in 1 .. NBINS - 1 with tail[b] >= p (tail is non-increasing)
    b = bisect_right(tail, -p, 1, NBINS, key=neg) - 1
    if b >= 1:
        hi_t = tail[b + 1]
        frac = (tail[b] - p) / (tail[b] - hi_t) if tail[b] > hi_t else 0.0
        u: float = 10.0 ** (LOG_MIN + (b - 1 + frac) / BPD)
        return u
    return 10.0**LOG_MIN


def pack(values: list[float]) -> str:
    """Floats as base64 of little-endian doubles: exact and about 40% shorter than JSON."""
    import base64
    import struct

    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode("ascii")


def unpack(text: Any) -> list[float]:
    import base64
    import binascii
    import struct

    if not isinstance(text, str):
        raise ValueError("packed floats expected")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(str(exc)) from None
    if len(raw) % 8:
        raise ValueError("packed floats: bad length")
    values = list(struct.unpack(f"<{len(raw) // 8}d", raw))
    if not all(math.isfinite(v) for v in values):
        raise ValueError("packed floats: not finite")
    return values


# reference |u| at the grid's surprises (precomputed by _ref_u_solve, to 9 digits, so that
# start-up stays cheap): Gaussian errors, and the mean of 12 uniform surprises
REF: dict[int, list[float]] = {
    0: [
        1.77635684e-14,
        1.25612137,
        2.0615183,
        2.69355588,
        3.22832328,
        3.69916497,
        4.12406367,
        4.51397427,
        4.87613381,
        5.21560907,
        5.53610589,
        5.84042888,
        6.13075966,
        6.40883381,
        6.67605835,
        6.93359229,
        7.18240351,
        7.42330996,
        7.65701018,
        7.88410621,
        8.10512122,
        8.32051322,
        8.5306858,
        8.73599676,
        8.93676504,
    ],
    12: [
        0.000110885248,
        0.484062241,
        0.600706071,
        0.69466473,
        0.77774578,
        0.854199292,
        0.926107609,
        0.994667118,
        1.06063706,
        1.12453341,
        1.18672491,
        1.24748545,
        1.30702469,
        1.36550723,
        1.42306491,
        1.47980517,
        1.5358169,
        1.59117456,
        1.64594121,
        1.70017081,
        1.7539099,
        1.80719897,
        1.86007345,
        1.91256458,
        1.96470003,
    ],
}


def interp_ref(grid: list[float], p: float) -> float:
    """The reference's |u| at tail probability p, interpolated in the grid of surprises."""
    x = -math.log10(p) / GRID_STEP if p < 1.0 else 0.0
    i = int(x)
    if i >= GRID_N - 1:
        i = GRID_N - 2
    return grid[i] + (x - i) * (grid[i + 1] - grid[i])


def ref_sf(x: float, window: int) -> float:
    """Reference tail P(X >= x). window 0: |u| of a Gaussian error in mean-absolute-error
    units; window w: the mean of w independent surprises -log10(U), U uniform (a gamma
    variable: P = exp(-y) sum_{j<w} y^j / j!, y = w x ln 10)."""
    if not window:
        return math.erfc(x * MAE_TO_SD * _INV_SQRT2)
    y = window * x * LN10
    term = total = 1.0
    for j in range(1, window):
        term *= y / j
        total += term
    return math.exp(-y) * total if y < 700.0 else 0.0


GRID_P = [10.0 ** -(j * GRID_STEP) for j in range(GRID_N)]
REF_U_CACHE: dict[tuple[float, int], float] = {}


def ref_u(p: float, window: int = 0) -> float:
    """x with reference tail probability p (bisection; cached)."""
    x = REF_U_CACHE.get((p, window))
    if x is None:
        x = REF_U_CACHE[(p, window)] = ref_u_solve(p, window)
    return x


def ref_u_solve(p: float, window: int) -> float:
    lo, hi = 0.0, 40.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if ref_sf(mid, window) > p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def ref_grid(window: int = 0) -> list[float]:
    """The reference's x at surprises 0, GRID_STEP, ... (computed once per window)."""
    grid = REF.get(window)
    if grid is None:
        grid = REF[window] = [ref_u_solve(p, window) for p in GRID_P]
    return grid


def scale_bins(k: int, nb: int) -> int:
    """Phases of a seasonal error scale: hourly for a day, 6-hourly for a week."""
    return min(nb, 24 if k == 1 else 28) if nb else 1
