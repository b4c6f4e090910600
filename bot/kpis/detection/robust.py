"""Robust statistics the detector builds on: medians, trimmed means, Theil-Sen (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def median_sorted(ordered: Sequence[float]) -> float:
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def trimmed_mean(values: Sequence[float], trim: float = 0.1) -> float:
    """Mean without the largest `trim` share: robust to a few outliers, yet (unlike
    a median) it still sees a pattern that covers a minority of the phases."""
    ordered = sorted(values)
    keep = len(ordered) - int(len(ordered) * trim)
    return math.fsum(ordered[:keep]) / keep if keep else 0.0


def trimmed_mean_distance(ordered: Sequence[float], centre: float, trim: float = 0.1) -> float:
    """`_trimmed_mean` of the distances of sorted `ordered` to `centre` (its median),
    without sorting them again: the largest distances sit at the two ends."""
    n = len(ordered)
    drop = int(n * trim)
    if n - drop <= 0:
        return 0.0
    lo, hi = 0, n - 1
    for _ in range(drop):  # peel the `drop` largest distances off the ends
        if centre - ordered[lo] >= ordered[hi] - centre:
            lo += 1
        else:
            hi -= 1
    mid = n // 2  # ordered[:mid] <= centre <= ordered[mid:]
    below = [centre - y for y in ordered[lo:mid]]
    return math.fsum(below + [y - centre for y in ordered[mid : hi + 1]]) / (n - drop)


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> float:
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    return median(slopes) if slopes else 0.0


LOO_SHRINK = [0.0] + [math.sqrt((k - 1) / k) for k in range(1, 17)]  # by values per phase


def held_out_median(values: Sequence[float], j: int) -> float:
    """The median of sorted `values` without the one at index `j`."""
    k = len(values)
    mid = (k - 1) // 2
    a = values[mid] if mid < j else values[mid + 1]
    if (k - 1) % 2:
        return a
    b = values[mid - 1] if mid - 1 < j else values[mid]
    return (a + b) * 0.5
