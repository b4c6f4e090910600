"""Storing measurements and judging the new ones, in one transaction per batch.

Ingestion locks the KPI's row (an UPDATE, which serialises writers on both
PostgreSQL and SQLite), stores the measurements in bulk, feeds the new ones to
the KPI's streaming detector (its state lives on the row, so nothing rereads the
history), applies the alert decisions and moves the key results that follow the
KPI — all or nothing. Alert messages it plans are claimed in the same
transaction, so the process that received the value posts them right after.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.errors import NotFound, UserError
from bot.core.times import implausible
from bot.kpis.alerting import AlertBatch, AlertComposer, apply_evaluations
from bot.kpis.detection import Detector
from bot.kpis.rules import detector_of, rules_of
from storage.models import CheckIn, Kpi
from storage.repositories import TeamStore
from storage.repositories.kpis import Point

MAX_BATCH = 10_000
REPLAY_LIMIT = 5_000  # measurements replayed to rebuild a detector
LIVE_TAIL = 3  # the newest values of any batch count as live, however old they are


def live_from(points: list[Point], now: datetime, every_seconds: int | None) -> int:
    """Where the live values of a batch begin: its last LIVE_TAIL, and any value within
    the KPI's expected interval of `now`. Older ones are history: they train the model,
    but an alert is not news about them."""
    start = max(0, len(points) - LIVE_TAIL)
    if every_seconds:
        recent = now - timedelta(seconds=every_seconds)
        while start > 0 and points[start - 1].at >= recent:
            start -= 1
    return start


@dataclass
class IngestResult:
    stored: int
    kpi_id: int
    alerts: AlertBatch = field(default_factory=AlertBatch)


def check_points(points: list[Point], now: datetime) -> list[Point]:
    """Finite values at plausible times, at most MAX_BATCH; a later duplicate of the
    same instant wins."""
    if len(points) > MAX_BATCH:
        raise UserError(f"at most {MAX_BATCH:,} measurements per request, not {len(points):,}")
    latest: dict[datetime, Point] = {}
    for point in points:
        if not math.isfinite(point.value):
            raise UserError(f"value at {point.at.isoformat()} must be a finite number")
        if problem := implausible(point.at, now):
            raise UserError(problem)
        latest[point.at] = point
    return sorted(latest.values(), key=lambda p: p.at)


async def ingest(
    store: TeamStore,
    key: str,
    points: list[Point],
    source: str,
    now: datetime,
    composer: AlertComposer,
) -> IngestResult:
    """Store points (upsert on time) and evaluate the new ones."""
    unique = check_points(points, now)
    kpi = await store.kpis.lock(key)
    if kpi is None:
        raise NotFound(f"there is no KPI `{key}` in this workspace")
    last = kpi.last_measurement_at
    fresh = [p for p in unique if last is None or p.at > last]
    result = IngestResult(stored=len(unique), kpi_id=kpi.id)
    if not fresh:
        await store.kpis.store(kpi.id, unique, fresh, source)
        return result
    try:
        detector = detector_of(kpi)
    except ValueError:  # saved by an earlier detector (or damaged): rebuild it from history
        detector = await replayed_detector(store, kpi)
    live = live_from(fresh, now, kpi.expected_interval_seconds)
    evaluations = [detector.update(p.at, p.value, i < live) for i, p in enumerate(fresh)]
    judged = [Point(p.at, p.value, e.low, e.high) for p, e in zip(fresh, evaluations, strict=True)]
    await store.kpis.store(kpi.id, unique, judged, source)
    kpi.detector_state = json.dumps(detector.state())
    kpi.last_measurement_at = fresh[-1].at
    result.alerts = await apply_evaluations(store, kpi, judged, evaluations, now, composer, live)
    await _follow(store, kpi, fresh[-1])
    return result


async def replayed_detector(store: TeamStore, kpi: Kpi) -> Detector:
    """The KPI's detector under its current rules, rebuilt from its recent history."""
    detector = Detector(rules_of(kpi).detector_config())
    for at, value in await store.kpis.recent(kpi.id, REPLAY_LIMIT):
        detector.update(at, value)
    return detector


async def _follow(store: TeamStore, kpi: Kpi, latest: Point) -> None:
    """Key results that follow this KPI take its newest value, as a `kpi` check-in."""
    for key_result in await store.okrs.key_results_following(kpi.id):
        key_result.current_value = latest.value
        key_result.updated_at = latest.at
        await store.checkins.add(
            CheckIn(
                team_id=kpi.team_id,
                key_result_id=key_result.id,
                value=latest.value,
                source="kpi",
                created_at=latest.at,
            )
        )
