"""The health of the KPIs an objective's key results follow, as plain data.

`/okr status`, the weekly digest and the App Home show it in one line per objective
("KPIs: signup_rate ok · api_latency alert since 13:00"): the KPIs are what says the
rest of the business is still fine while the team chases its key results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from storage.repositories.kpis import AlertSpan, HealthRow

HealthState = Literal["ok", "alert", "no_data", "waiting"]


@dataclass(frozen=True)
class KpiHealth:
    key: str
    state: HealthState
    since: datetime | None = None  # when the open alert began (alert, no_data)


def health_by_kpi(rows: Iterable[HealthRow]) -> dict[int, KpiHealth]:
    """A KPI with an open range alert is in alert (since its oldest one); with only a
    no-data alert it has no data; never measured, it is waiting for data; else ok."""
    keys: dict[int, str] = {}
    measured: dict[int, bool] = {}
    opened: dict[tuple[int, str], datetime] = {}
    for row in rows:
        keys[row.kpi_id] = row.key
        measured[row.kpi_id] = row.last_measurement_at is not None
        if row.alert_kind is not None and row.alert_opened_at is not None:
            kind = "no_data" if row.alert_kind == "no_data" else "alert"
            known = opened.get((row.kpi_id, kind))
            opened[(row.kpi_id, kind)] = min(known or row.alert_opened_at, row.alert_opened_at)
    health: dict[int, KpiHealth] = {}
    for kpi_id, key in keys.items():
        if (kpi_id, "alert") in opened:
            health[kpi_id] = KpiHealth(key, "alert", opened[(kpi_id, "alert")])
        elif (kpi_id, "no_data") in opened:
            health[kpi_id] = KpiHealth(key, "no_data", opened[(kpi_id, "no_data")])
        else:
            health[kpi_id] = KpiHealth(key, "ok" if measured[kpi_id] else "waiting")
    return health


def followed(kpi_ids: Iterable[int | None], health: dict[int, KpiHealth]) -> list[KpiHealth]:
    """The health of the KPIs these key results follow, once each, in their order."""
    seen: dict[int, KpiHealth] = {}
    for kpi_id in kpi_ids:
        if kpi_id is not None and kpi_id in health and kpi_id not in seen:
            seen[kpi_id] = health[kpi_id]
    return list(seen.values())


# Candidate improvement goals --------------------------------------------------------------

CANDIDATE_WINDOW = timedelta(weeks=4)
CANDIDATE_SHARE = 0.25  # abnormal for more than this share of the window


@dataclass(frozen=True)
class ImprovementCandidate:
    """A KPI out of its normal range so often that it deserves a key result of its own."""

    key: str
    name: str
    abnormal_share: float  # of the last four weeks


def improvement_candidates(
    spans: Iterable[AlertSpan], now: datetime, *, exclude: Iterable[int] = ()
) -> list[ImprovementCandidate]:
    """KPIs abnormal for more than a quarter of the last four weeks, worst first.

    Overlapping alerts of one KPI count once (the union of their spans), and KPIs in
    `exclude` (already followed by an active key result: already a goal) are left out.
    """
    start = now - CANDIDATE_WINDOW
    skip = set(exclude)
    by_kpi: dict[int, list[tuple[datetime, datetime]]] = {}
    names: dict[int, tuple[str, str]] = {}
    for span in spans:
        if span.kpi_id in skip:
            continue
        begin, end = max(span.opened_at, start), min(span.resolved_at or now, now)
        if end > begin:
            by_kpi.setdefault(span.kpi_id, []).append((begin, end))
            names[span.kpi_id] = (span.key, span.name)
    candidates = []
    for kpi_id, intervals in by_kpi.items():
        share = _covered(intervals) / CANDIDATE_WINDOW
        if share > CANDIDATE_SHARE:
            key, name = names[kpi_id]
            candidates.append(ImprovementCandidate(key, name, share))
    return sorted(candidates, key=lambda c: (-c.abnormal_share, c.key))


def _covered(intervals: list[tuple[datetime, datetime]]) -> timedelta:
    total, reach = timedelta(), None
    for begin, end in sorted(intervals):
        if reach is not None and begin < reach:
            begin = reach
        if end > begin:
            total += end - begin
            reach = end
    return total
