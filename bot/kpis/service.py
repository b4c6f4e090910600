"""KPIs: definitions, ingestion of measurements and the alert decisions they lead to.

Ingestion locks the KPI's row (an UPDATE, which serialises writers on both
PostgreSQL and SQLite), upserts the measurements in bulk, feeds the new ones to
the KPI's streaming detector (its state lives on the row, so nothing rereads
the history) and opens, updates or resolves the one open alert — all in one
transaction. Posting to Slack happens after commit, through the outbox.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import Forbidden, NotFound, UserError
from bot.kpis import commands as cmd
from bot.kpis.detection.detector import Detector, DetectorConfig, Evaluation
from bot.okrs.service import Actor, Done
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import Alert, CheckIn, KeyResult, Kpi, Measurement, OutboxMessage
from storage.repository import ensure_workspace, upsert_insert

MAX_BATCH = 10_000
REPLAY_LIMIT = 5_000  # measurements replayed to rebuild a detector after a rule change


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float


@dataclass
class IngestResult:
    stored: int
    kpi_id: int
    updated_alerts: list[int] = field(default_factory=list)
    planned_messages: int = 0


def detector_config(kpi: Kpi) -> DetectorConfig:
    return DetectorConfig(
        min_value=kpi.min_value,
        max_value=kpi.max_value,
        min_history=kpi.min_history,
        consecutive=kpi.consecutive,
    )


async def plan_message(
    session: AsyncSession,
    team_id: str,
    kind: str,
    dedupe_key: str,
    recipient: str,
    ref_id: int,
    now: datetime,
) -> None:
    """An outbox row for an alert post or thread reply (sent once, after commit)."""
    statement = (
        upsert_insert(session, OutboxMessage)
        .values(
            team_id=team_id,
            kind=kind,
            dedupe_key=dedupe_key,
            recipient=recipient,
            channel_id=recipient,
            ref_id=ref_id,
            state="pending",
            due_at=now,
            attempts=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["team_id", "dedupe_key"])
    )
    await session.execute(statement)


class KpiService:
    def __init__(self, db: Database, directory: Directory) -> None:
        self.db = db
        self.directory = directory

    @staticmethod
    async def find(session: AsyncSession, team_id: str, key: str) -> Kpi:
        kpi: Kpi | None = await session.scalar(
            select(Kpi).where(Kpi.team_id == team_id, Kpi.key == key)
        )
        if kpi is None:
            raise NotFound(f"there is no KPI `{key}` in this workspace (see `/kpi list`)")
        return kpi

    async def _may_change(self, actor: Actor, kpi: Kpi, now: datetime) -> None:
        if kpi.owner_id == actor.user_id:
            return
        if not (await self.directory.user(actor.team_id, actor.user_id, now)).is_admin:
            raise Forbidden(f"only the owner of `{kpi.key}` or a workspace admin can change it")

    # Definitions ---------------------------------------------------------------

    async def add(self, actor: Actor, command: cmd.KpiAdd, now: datetime) -> Done:
        settings = command.settings
        channel = actor.channel_id
        if settings.channel is not None:
            channel = await self.directory.resolve_channel(actor.team_id, settings.channel)
        owner = actor.user_id
        if settings.owner is not None:
            owner = await self.directory.resolve_user(actor.team_id, settings.owner)
        async with self.db.session() as session:
            await ensure_workspace(session, actor.team_id, now)
            exists = await session.scalar(
                select(Kpi.id).where(Kpi.team_id == actor.team_id, Kpi.key == command.key)
            )
            if exists is not None:
                raise UserError(
                    f"a KPI `{command.key}` already exists: change it with `/kpi edit "
                    f"{command.key} …`",
                    cmd.USAGE["add"],
                )
            kpi = Kpi(
                team_id=actor.team_id,
                key=command.key,
                name=settings.name or command.key,
                unit=settings.unit,
                channel_id=channel,
                owner_id=owner,
                min_value=settings.min_value,
                max_value=settings.max_value,
                consecutive=settings.consecutive or 1,
                min_history=settings.min_history or 30,
                expected_interval_seconds=settings.expected_interval_seconds,
                created_at=now,
                updated_at=now,
            )
            session.add(kpi)
        return Done(f":bar_chart: Created KPI *{kpi.key}* ({kpi.name}). {describe_range(kpi)}")

    async def edit(self, actor: Actor, command: cmd.KpiEdit, now: datetime) -> Done:
        settings = command.settings
        channel = owner = None
        if settings.channel is not None:
            channel = await self.directory.resolve_channel(actor.team_id, settings.channel)
        if settings.owner is not None:
            owner = await self.directory.resolve_user(actor.team_id, settings.owner)
        async with self.db.session() as session:
            kpi = await self.find(session, actor.team_id, command.key)
            await self._may_change(actor, kpi, now)
            before = detector_config(kpi)
            values: dict[str, object] = {
                "name": settings.name,
                "unit": settings.unit,
                "channel_id": channel,
                "owner_id": owner,
                "min_value": settings.min_value,
                "max_value": settings.max_value,
                "expected_interval_seconds": settings.expected_interval_seconds,
                "consecutive": settings.consecutive,
                "min_history": settings.min_history,
            }
            for name, value in values.items():
                if value is not None:
                    setattr(kpi, name, value)
            cleared = {"min": "min_value", "max": "max_value", "every": "expected_interval_seconds"}
            for word in settings.clear:
                setattr(kpi, cleared[word], None)
            if (
                kpi.min_value is not None
                and kpi.max_value is not None
                and (kpi.min_value > kpi.max_value)
            ):
                raise UserError(
                    f"`min` ({kpi.min_value:g}) would be above `max` ({kpi.max_value:g})",
                    cmd.USAGE["edit"],
                )
            kpi.updated_at = now
            if detector_config(kpi) != before:
                await replay_detector(session, kpi)
        return Done(f":pencil2: Updated KPI *{kpi.key}*. {describe_range(kpi)}")

    async def delete(self, actor: Actor, key: str, now: datetime) -> Done:
        async with self.db.session() as session:
            kpi = await self.find(session, actor.team_id, key)
            await self._may_change(actor, kpi, now)
            await session.execute(
                update(KeyResult)
                .where(KeyResult.team_id == actor.team_id, KeyResult.kpi_id == kpi.id)
                .values(kpi_id=None)
            )
            await session.delete(kpi)
        return Done(f":wastebasket: Deleted KPI *{key}* and its measurements.")

    # Reading -------------------------------------------------------------------

    async def summary(self, team_id: str, key: str, recent: int = 0) -> dict[str, Any]:
        """The KPI with its latest value, normal range and alert state (API and /kpi show)."""
        async with self.db.session() as session:
            kpi = await self.find(session, team_id, key)
            count = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Measurement)
                    .where(Measurement.kpi_id == kpi.id)
                )
                or 0
            )
            history = await recent_measurements(session, kpi.id, max(recent, 1))
            alerts = (
                await session.scalars(
                    select(Alert).where(Alert.kpi_id == kpi.id, Alert.resolved_at.is_(None))
                )
            ).all()
        return kpi_summary(kpi, count, history, alerts)

    async def summaries(self, team_id: str) -> list[dict[str, Any]]:
        """Every KPI of the workspace with its latest value and state, in three queries."""
        async with self.db.session() as session:
            kpis = (
                await session.scalars(select(Kpi).where(Kpi.team_id == team_id).order_by(Kpi.key))
            ).all()
            ids = [k.id for k in kpis]
            latest_at = (
                select(Measurement.kpi_id, func.max(Measurement.at).label("at"))
                .where(Measurement.kpi_id.in_(ids))
                .group_by(Measurement.kpi_id)
                .subquery()
            )
            latest = {
                row.kpi_id: (row.at, row.value)
                for row in await session.execute(
                    select(Measurement.kpi_id, Measurement.at, Measurement.value).join(
                        latest_at,
                        (latest_at.c.kpi_id == Measurement.kpi_id)
                        & (latest_at.c.at == Measurement.at),
                    )
                )
            }
            open_alerts = (
                await session.scalars(
                    select(Alert).where(Alert.kpi_id.in_(ids), Alert.resolved_at.is_(None))
                )
            ).all()
        by_kpi: dict[int, list[Alert]] = {}
        for alert in open_alerts:
            by_kpi.setdefault(alert.kpi_id, []).append(alert)
        return [
            kpi_summary(
                kpi, None, [latest[kpi.id]] if kpi.id in latest else [], by_kpi.get(kpi.id, [])
            )
            for kpi in kpis
        ]

    # Ingestion -----------------------------------------------------------------

    async def ingest(
        self, team_id: str, key: str, points: list[Point], source: str, now: datetime
    ) -> IngestResult:
        """Store points (upsert on time) and evaluate the new ones, all or nothing."""
        if len(points) > MAX_BATCH:
            raise UserError(f"at most {MAX_BATCH:,} measurements per request, not {len(points):,}")
        for point in points:
            if not math.isfinite(point.value):
                raise UserError(f"value at {point.at.isoformat()} must be a finite number")
        latest: dict[datetime, Point] = {}
        for point in points:  # a later duplicate of the same instant wins
            latest[point.at] = point
        unique = sorted(latest.values(), key=lambda p: p.at)
        async with self.db.session() as session:
            # A no-op UPDATE that returns the row takes its lock in one statement.
            locked = await session.execute(
                update(Kpi)
                .where(Kpi.team_id == team_id, Kpi.key == key)
                .values(updated_at=Kpi.updated_at)
                .returning(Kpi)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            kpi = locked.scalar_one_or_none()
            if kpi is None:
                raise NotFound(f"there is no KPI `{key}` in this workspace")
            kpi_id = kpi.id
            last = kpi.last_measurement_at
            fresh = [p for p in unique if last is None or p.at > last]
            await _store(session, team_id, kpi_id, unique, fresh, source)
            result = IngestResult(stored=len(unique), kpi_id=kpi_id)
            if not fresh:
                return result
            detector = Detector(
                detector_config(kpi), json.loads(kpi.detector_state) if kpi.detector_state else None
            )
            evaluations = [detector.update(p.at, p.value) for p in fresh]
            kpi.detector_state = json.dumps(detector.state())
            kpi.last_measurement_at = fresh[-1].at
            await _apply_alerts(session, kpi, fresh, evaluations, now, result)
            await _follow(session, kpi, fresh[-1])
        return result


async def _store(
    session: AsyncSession,
    team_id: str,
    kpi_id: int,
    points: list[Point],
    fresh: list[Point],
    source: str,
) -> None:
    """Insert the points newer than any stored one; upsert the rest (replacing values).

    Newer points cannot conflict: the KPI's row lock is held and `last_measurement_at`
    is the newest stored time, so they take the cheaper plain INSERT.
    """
    newer = {p.at for p in fresh}

    def rows(selected: list[Point]) -> list[dict[str, Any]]:
        return [
            {"team_id": team_id, "kpi_id": kpi_id, "at": p.at, "value": p.value, "source": source}
            for p in selected
        ]

    # Core statements on the session's connection: the ORM's bulk path costs twice as much.
    connection = await session.connection()
    table: Any = Measurement.__table__
    for chunk in _chunks(rows(fresh), 5_000):
        await connection.execute(insert(table), chunk)
    older = rows([p for p in points if p.at not in newer])
    for chunk in _chunks(older, 2_000):
        statement = upsert_insert(session, table)
        statement = statement.on_conflict_do_update(
            index_elements=["kpi_id", "at"],
            set_={"value": statement.excluded.value, "source": statement.excluded.source},
        )
        await connection.execute(statement, chunk)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def recent_measurements(
    session: AsyncSession, kpi_id: int, limit: int
) -> list[tuple[datetime, float]]:
    """The newest `limit` measurements of a KPI, oldest first."""
    rows = await session.execute(
        select(Measurement.at, Measurement.value)
        .where(Measurement.kpi_id == kpi_id)
        .order_by(Measurement.at.desc())
        .limit(limit)
    )
    return [(at, value) for at, value in reversed(rows.all())]


async def replay_detector(session: AsyncSession, kpi: Kpi) -> None:
    """Rebuild the detector from recent history after its rules changed."""
    detector = Detector(detector_config(kpi))
    for at, value in await recent_measurements(session, kpi.id, REPLAY_LIMIT):
        detector.update(at, value)
    kpi.detector_state = json.dumps(detector.state())


async def open_alert(session: AsyncSession, kpi_id: int, kind: str) -> Alert | None:
    found: Alert | None = await session.scalar(
        select(Alert).where(Alert.kpi_id == kpi_id, Alert.kind == kind, Alert.resolved_at.is_(None))
    )
    return found


async def _apply_alerts(
    session: AsyncSession,
    kpi: Kpi,
    points: list[Point],
    evaluations: list[Evaluation],
    now: datetime,
    result: IngestResult,
) -> None:
    """Turn the detector's verdicts into at most one open alert per KPI."""
    open_alerts = {
        alert.kind: alert
        for alert in await session.scalars(
            select(Alert).where(Alert.kpi_id == kpi.id, Alert.resolved_at.is_(None))
        )
    }
    no_data = open_alerts.get("no_data")
    if no_data is not None:
        no_data.resolved_at = now
        await plan_message(
            session,
            kpi.team_id,
            "alert_resolved",
            f"alert:{no_data.id}:resolved",
            no_data.channel_id or kpi.channel_id or "",
            no_data.id,
            now,
        )
        result.planned_messages += 1
    current = open_alerts.get("range")
    final = evaluations[-1]
    if current is None and final.alert_open:
        opened_index = max(i for i, e in enumerate(evaluations) if e.opened or i == 0)
        episode = list(zip(points[opened_index:], evaluations[opened_index:], strict=True))
        worst = max(episode, key=lambda pair: pair[1].score)[0]
        current = Alert(
            team_id=kpi.team_id,
            kpi_id=kpi.id,
            kind="range",
            opened_at=points[opened_index].at,
            last_value=points[-1].value,
            last_at=points[-1].at,
            low=final.low,
            high=final.high,
            worst_value=worst.value,
            channel_id=kpi.channel_id,
            last_notified_at=now,
        )
        session.add(current)
        await session.flush()
        if kpi.channel_id:
            await plan_message(
                session,
                kpi.team_id,
                "alert",
                f"alert:{current.id}:open",
                kpi.channel_id,
                current.id,
                now,
            )
            result.planned_messages += 1
        return
    if current is None:
        return
    if final.alert_open:
        current.last_value, current.last_at = points[-1].value, points[-1].at
        current.low, current.high = final.low, final.high
        if _further_out(points, evaluations, current):
            current.worst_value = max(
                zip(points, evaluations, strict=True), key=lambda pair: pair[1].score
            )[0].value
        result.updated_alerts.append(current.id)
        return
    current.resolved_at = now
    current.last_value, current.last_at = points[-1].value, points[-1].at
    if current.channel_id:
        await plan_message(
            session,
            kpi.team_id,
            "alert_resolved",
            f"alert:{current.id}:resolved",
            current.channel_id,
            current.id,
            now,
        )
        result.planned_messages += 1


def _further_out(points: list[Point], evaluations: list[Evaluation], alert: Alert) -> bool:
    """Whether this batch holds a value further from the range than the worst so far."""
    if alert.worst_value is None:
        return True

    def distance(value: float) -> float:
        if alert.high is not None and value > alert.high:
            return value - alert.high
        if alert.low is not None and value < alert.low:
            return alert.low - value
        return 0.0

    worst = distance(alert.worst_value)
    return any(
        e.abnormal and distance(p.value) > worst for p, e in zip(points, evaluations, strict=True)
    )


async def _follow(session: AsyncSession, kpi: Kpi, latest: Point) -> None:
    """Key results that follow this KPI take its newest value, as a `kpi` check-in."""
    followers = (
        await session.scalars(
            select(KeyResult).where(KeyResult.team_id == kpi.team_id, KeyResult.kpi_id == kpi.id)
        )
    ).all()
    for key_result in followers:
        key_result.current_value = latest.value
        key_result.updated_at = latest.at
        session.add(
            CheckIn(
                team_id=kpi.team_id,
                key_result_id=key_result.id,
                value=latest.value,
                source="kpi",
                created_at=latest.at,
            )
        )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def kpi_summary(
    kpi: Kpi,
    count: int | None,
    history: list[tuple[datetime, float]],
    open_alerts: Iterable[Alert],
) -> dict[str, Any]:
    """Plain data about one KPI: what the API returns and `/kpi show|list` render."""
    static = kpi.min_value is not None or kpi.max_value is not None
    expected = None
    if not static and kpi.detector_state:
        expected = Detector(detector_config(kpi), json.loads(kpi.detector_state)).normal_range()
    learning = not static and (count is None or count < kpi.min_history) and expected is None
    normal = {
        "source": "static" if static else "learned",
        "min": kpi.min_value if static else (expected[0] if expected else None),
        "max": kpi.max_value if static else (expected[1] if expected else None),
        "learning": learning,
        "min_history": kpi.min_history,
    }
    state, alert_info = "ok", None
    for alert in sorted(open_alerts, key=lambda a: a.kind != "range"):
        if alert.kind == "no_data":
            state = state if state != "ok" else "no_data"
        else:
            state = "open"
            if alert.acknowledged_at is not None:
                state = "acknowledged"
            if alert.snoozed_until is not None:
                state = "snoozed"
        alert_info = alert_info or {
            "id": alert.id,
            "kind": alert.kind,
            "since": _iso(alert.opened_at),
            "value": alert.last_value,
            "acknowledged_by": alert.acknowledged_by,
            "snoozed_until": _iso(alert.snoozed_until),
        }
    latest = history[-1] if history else None
    summary: dict[str, Any] = {
        "key": kpi.key,
        "name": kpi.name,
        "unit": kpi.unit,
        "channel": kpi.channel_id,
        "owner": kpi.owner_id,
        "latest": {"value": latest[1], "at": _iso(latest[0])} if latest else None,
        "normal_range": normal,
        "alert": {"state": state, **({"open": alert_info} if alert_info else {})},
        "expected_interval_seconds": kpi.expected_interval_seconds,
        "consecutive": kpi.consecutive,
    }
    if count is not None:
        summary["measurements"] = count
        summary["recent"] = [{"value": v, "at": _iso(at)} for at, v in history]
    return summary


def describe_range(kpi: Kpi) -> str:
    unit = f" {kpi.unit}" if kpi.unit and kpi.unit != "%" else (kpi.unit or "")
    if kpi.min_value is not None and kpi.max_value is not None:
        return f"Normal range: {kpi.min_value:g}–{kpi.max_value:g}{unit}."
    if kpi.min_value is not None:
        return f"Normal range: at least {kpi.min_value:g}{unit}."
    if kpi.max_value is not None:
        return f"Normal range: at most {kpi.max_value:g}{unit}."
    return (
        f"Its normal range is learned from its history (alerts start after "
        f"{kpi.min_history} measurements)."
    )


def points_from(pairs: Iterable[tuple[datetime, float]]) -> list[Point]:
    return [Point(at, value) for at, value in pairs]
