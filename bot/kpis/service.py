"""KPIs: definitions (`/kpi add|edit|delete`), what they look like now, and ingestion.

`new_kpi` and `change_kpi` are the one way a KPI is created or changed (commands and
YAML import alike): defaults come from `bot.kpis.rules`, and a change of rules
rebuilds the detector from recent history at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.blocks.charts import KpiChart
from bot.core.actor import Actor
from bot.core.errors import Forbidden, NotFound, UserError
from bot.core.numbers import describe_range
from bot.core.outcome import Done, Emoji, Strong
from bot.core.times import iso
from bot.kpis import commands as cmd
from bot.kpis.alerting import AlertBatch, AlertService, reevaluate
from bot.kpis.charting import chart_for
from bot.kpis.detection import DetectorConfig, backtest
from bot.kpis.ingest import IngestResult, ingest, replayed_detector
from bot.kpis.rules import DEFAULTS, detector_of, rules_of
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import Alert, Kpi
from storage.repositories import TeamStore
from storage.repositories.kpis import Point

REPLAY_HISTORY = 50_000  # measurements a backtest of a stored KPI replays at most
RULE_FIELDS = ("min_value", "max_value", "consecutive", "min_history")


class KpiService:
    def __init__(
        self, db: Database, directory: Directory, alerts: AlertService, fallback_zone: ZoneInfo
    ) -> None:
        self._db = db
        self._directory = directory
        self._alerts = alerts
        self._fallback_zone = fallback_zone

    async def _may_change(
        self, actor: Actor, kpi: Kpi, now: datetime, what: str = "change it"
    ) -> None:
        if kpi.owner_id == actor.user_id:
            return
        if not (await self._directory.user(actor.team_id, actor.user_id, now)).is_admin:
            raise Forbidden(f"only the owner of `{kpi.key}` or a workspace admin can {what}")

    # Definitions ---------------------------------------------------------------

    async def add(self, actor: Actor, command: cmd.KpiAdd, now: datetime) -> Done:
        settings = command.settings
        channel = actor.channel_id
        if settings.channel is not None:
            channel = await self._directory.resolve_channel(actor.team_id, settings.channel)
        owner = actor.user_id
        if settings.owner is not None:
            owner = await self._directory.resolve_user(actor.team_id, settings.owner)
        async with self._db.team(actor.team_id) as store:
            await store.workspace.ensure(now)
            if await store.kpis.by_key(command.key) is not None:
                raise UserError(
                    f"a KPI `{command.key}` already exists: change it with `/kpi edit "
                    f"{command.key} …`",
                    cmd.USAGE["add"],
                )
            kpi = await new_kpi(
                store,
                command.key,
                now,
                name=settings.name or command.key,
                unit=settings.unit,
                channel_id=channel,
                owner_id=owner,
                min_value=settings.min_value,
                max_value=settings.max_value,
                consecutive=settings.consecutive or DEFAULTS.consecutive,
                min_history=settings.min_history or DEFAULTS.min_history,
                expected_interval_seconds=settings.expected_interval_seconds,
            )
        return Done(
            Emoji("bar_chart"),
            " Created KPI ",
            Strong(kpi.key),
            f" ({kpi.name}). {describe_rules(kpi)}",
        )

    async def edit(self, actor: Actor, command: cmd.KpiEdit, now: datetime) -> Done:
        settings = command.settings
        channel = owner = None
        if settings.channel is not None:
            channel = await self._directory.resolve_channel(actor.team_id, settings.channel)
        if settings.owner is not None:
            owner = await self._directory.resolve_user(actor.team_id, settings.owner)
        async with self._db.team(actor.team_id) as store:
            kpi = await kpi_keyed(store, command.key)
            await self._may_change(actor, kpi, now)
            values: dict[str, Any] = {
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
            changes = {name: value for name, value in values.items() if value is not None}
            cleared = {"min": "min_value", "max": "max_value", "every": "expected_interval_seconds"}
            changes.update({cleared[word]: None for word in settings.clear})
            low = changes.get("min_value", kpi.min_value)
            high = changes.get("max_value", kpi.max_value)
            if low is not None and high is not None and low > high:
                raise UserError(
                    f"`min` ({low:g}) would be above `max` ({high:g})", cmd.USAGE["edit"]
                )
            before = rules_of(kpi)
            await change_kpi(store, kpi, changes, now)
            batch = AlertBatch()
            if rules_of(kpi) != before:
                batch = await reevaluate(store, kpi, detector_of(kpi), now, self._alerts.composer())
        self._alerts.deliver_soon(actor.team_id, batch, now)
        return Done(Emoji("pencil2"), " Updated KPI ", Strong(kpi.key), f". {describe_rules(kpi)}")

    async def delete(self, actor: Actor, key: str, now: datetime) -> Done:
        async with self._db.team(actor.team_id) as store:
            kpi = await kpi_keyed(store, key)
            await self._may_change(actor, kpi, now)
            await store.okrs.stop_following(kpi.id)
            await store.kpis.delete(kpi)
        return Done(Emoji("wastebasket"), " Deleted KPI ", Strong(key), " and its measurements.")

    # Reading -------------------------------------------------------------------

    async def summary(self, team_id: str, key: str, recent: int = 0) -> dict[str, Any]:
        """The KPI with its latest value, normal range and alert state (API and /kpi show)."""
        async with self._db.team(team_id) as store:
            kpi = await kpi_keyed(store, key)
            count = await store.kpis.count(kpi.id)
            history = await store.kpis.recent(kpi.id, max(recent, 1))
            alerts = await store.alerts.open_for([kpi.id])
        return kpi_summary(kpi, count, history, alerts)

    async def summaries(self, team_id: str) -> list[dict[str, Any]]:
        """Every KPI of the workspace with its latest value and state, in three queries."""
        async with self._db.team(team_id) as store:
            kpis = await store.kpis.all()
            ids = [k.id for k in kpis]
            latest = await store.kpis.latest_of(ids)
            open_alerts = await store.alerts.open_for(ids)
        by_kpi: dict[int, list[Alert]] = {}
        for alert in open_alerts:
            by_kpi.setdefault(alert.kpi_id, []).append(alert)
        return [
            kpi_summary(
                kpi, None, [latest[kpi.id]] if kpi.id in latest else [], by_kpi.get(kpi.id, [])
            )
            for kpi in kpis
        ]

    async def chart(self, team_id: str, key: str) -> KpiChart:
        """The KPI's recent values with the range each was judged by (`/kpi show`)."""
        async with self._db.team(team_id) as store:
            return await chart_for(store, await kpi_keyed(store, key), self._fallback_zone)

    async def replay(
        self, team_id: str, key: str, days: int, now: datetime
    ) -> tuple[list[tuple[datetime, float]], datetime, DetectorConfig]:
        """A stored KPI's history (up to REPLAY_HISTORY values, older ones train the model),
        the start of the last `days`, and its current rules: for backtests."""
        async with self._db.team(team_id) as store:
            kpi = await kpi_keyed(store, key)
            history = await store.kpis.recent(kpi.id, REPLAY_HISTORY)
        return history, now - timedelta(days=days), rules_of(kpi).detector_config()

    async def alerts_in(self, team_id: str, key: str, days: int, now: datetime) -> int:
        """How many alerts the KPI's current rules would have opened in the last `days`."""
        history, since, config = await self.replay(team_id, key, days, now)
        return sum(alert for at, _, _, alert in backtest(history, config) if at >= since)

    # Ingestion -----------------------------------------------------------------

    async def record(self, actor: Actor, key: str, point: Point, now: datetime) -> IngestResult:
        """`/kpi record`: one value from a person, who must own the KPI or be an admin
        (a value can overwrite another or open an alert)."""
        async with self._db.team(actor.team_id) as store:
            kpi = await kpi_keyed(store, key)
        await self._may_change(actor, kpi, now, "record its values")
        return await self.ingest(actor.team_id, key, [point], "command", now)

    async def ingest(
        self, team_id: str, key: str, points: list[Point], source: str, now: datetime
    ) -> IngestResult:
        """Store points (upsert on time) and evaluate the new ones, all or nothing; alert
        messages follow in the background (the caller's reply never waits for them)."""
        async with self._db.team(team_id) as store:
            result = await ingest(store, key, points, source, now, self._alerts.composer())
        self._alerts.deliver_soon(team_id, result.alerts, now)
        return result


async def kpi_keyed(store: TeamStore, key: str) -> Kpi:
    kpi = await store.kpis.by_key(key)
    if kpi is None:
        raise NotFound(f"there is no KPI `{key}` in this workspace (see `/kpi list`)")
    return kpi


async def new_kpi(store: TeamStore, key: str, now: datetime, **values: Any) -> Kpi:
    """A new KPI; rules not given take the product's defaults."""
    values.setdefault("consecutive", DEFAULTS.consecutive)
    values.setdefault("min_history", DEFAULTS.min_history)
    kpi = Kpi(team_id=store.team_id, key=key, created_at=now, updated_at=now, **values)
    await store.kpis.add(kpi)
    return kpi


async def change_kpi(store: TeamStore, kpi: Kpi, changes: dict[str, Any], now: datetime) -> bool:
    """Apply changes; returns whether anything changed. New rules rebuild the detector by
    replaying recent history, so the next value is judged by the rules in force."""
    before = rules_of(kpi)
    changed = False
    for name, value in changes.items():
        if getattr(kpi, name) != value:
            setattr(kpi, name, value)
            changed = True
    if not changed:
        return False
    kpi.updated_at = now
    if rules_of(kpi) != before:
        kpi.detector_state = json.dumps((await replayed_detector(store, kpi)).state())
    return True


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
        try:
            expected = detector_of(kpi).normal_range()
        except ValueError:  # an earlier detector's state: rebuilt at the next value
            expected = None
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
            "since": iso(alert.opened_at),
            "value": alert.last_value,
            "acknowledged_by": alert.acknowledged_by,
            "snoozed_until": iso(alert.snoozed_until),
        }
    latest = history[-1] if history else None
    summary: dict[str, Any] = {
        "key": kpi.key,
        "name": kpi.name,
        "unit": kpi.unit,
        "channel": kpi.channel_id,
        "owner": kpi.owner_id,
        "latest": {"value": latest[1], "at": iso(latest[0])} if latest else None,
        "normal_range": normal,
        "alert": {"state": state, **({"open": alert_info} if alert_info else {})},
        "expected_interval_seconds": kpi.expected_interval_seconds,
        "consecutive": kpi.consecutive,
    }
    if count is not None:
        summary["measurements"] = count
        summary["recent"] = [{"value": v, "at": iso(at)} for at, v in history]
    return summary


def describe_rules(kpi: Kpi) -> str:
    """The normal range a KPI is held to, in words (plain text)."""
    if kpi.min_value is not None or kpi.max_value is not None:
        return f"Normal range: {describe_range(kpi.min_value, kpi.max_value, kpi.unit)}."
    return (
        f"Its normal range is learned from its history (alerts start after "
        f"{kpi.min_history} measurements)."
    )
