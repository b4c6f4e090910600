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
from datetime import datetime

from bot.core.errors import NotFound, UserError
from bot.core.times import implausible
from bot.kpis.alerting import AlertBatch, apply_evaluations
from bot.kpis.rules import detector_of
from storage.models import CheckIn, Kpi
from storage.repositories import TeamStore
from storage.repositories.kpis import Point

MAX_BATCH = 10_000


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
    store: TeamStore, key: str, points: list[Point], source: str, now: datetime
) -> IngestResult:
    """Store points (upsert on time) and evaluate the new ones."""
    unique = check_points(points, now)
    kpi = await store.kpis.lock(key)
    if kpi is None:
        raise NotFound(f"there is no KPI `{key}` in this workspace")
    last = kpi.last_measurement_at
    fresh = [p for p in unique if last is None or p.at > last]
    await store.kpis.store(kpi.id, unique, fresh, source)
    result = IngestResult(stored=len(unique), kpi_id=kpi.id)
    if not fresh:
        return result
    detector = detector_of(kpi)
    evaluations = [detector.update(p.at, p.value) for p in fresh]
    kpi.detector_state = json.dumps(detector.state())
    kpi.last_measurement_at = fresh[-1].at
    result.alerts = await apply_evaluations(store, kpi, fresh, evaluations, now)
    await _follow(store, kpi, fresh[-1])
    return result


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
