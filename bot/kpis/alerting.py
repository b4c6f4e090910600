"""One alert's whole life: opened, updated and resolved by measurements, "no data" when a
KPI falls silent, repeated while nobody looks, acknowledged or snoozed, and its one
Slack message (with its chart) kept current.

Modelled on Alertmanager: firing → resolved, a repeat interval, silences (snooze)
and "no data" as its own kind of alert. The decisions are pure (`decide`); the rest
applies them to the database and to Slack through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.alerts import (
    SNOOZES,
    AlertView,
    render_alert,
    render_repeat_reply,
    render_resolved_reply,
)
from bot.blocks.charts import KpiChart
from bot.core.actor import Actor
from bot.core.errors import Forbidden, NotFound, UserError
from bot.core.message import Message
from bot.core.tasks import Background
from bot.kpis.charting import chart_for, upload_chart
from bot.kpis.detection import Detector, Evaluation
from bot.slack.clients import SlackClients
from bot.slack.directory import Directory
from bot.slack.outbox import LEASE, SENDER_ID, NotReady, Outbox
from storage.db import Database
from storage.models import Alert, Kpi, OutboxMessage
from storage.repositories import TeamStore
from storage.repositories.kpis import Point
from storage.repositories.outbox import Planned

log = logging.getLogger(__name__)

ALERT_KINDS = ("alert", "alert_resolved", "alert_repeat")
EDIT_INTERVAL = 10.0  # seconds between edits of one alert's message (Slack: ~50/min)


# Decisions (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    opened_at: datetime
    last_value: float
    last_at: datetime
    low: float | None
    high: float | None
    worst_value: float


@dataclass(frozen=True)
class Update:
    last_value: float
    last_at: datetime
    low: float | None
    high: float | None
    worst_value: float | None  # None: keep the worst seen so far


@dataclass(frozen=True)
class Resolution:
    last_value: float
    last_at: datetime


@dataclass(frozen=True)
class Decision:
    """What a batch of verdicts does to a KPI's alerts (at most one of open/update/resolve)."""

    resolve_no_data: bool = False
    open: Opening | None = None
    update: Update | None = None
    resolve: Resolution | None = None


@dataclass(frozen=True)
class OpenRange:
    """What `decide` needs of the open out-of-range alert."""

    low: float | None
    high: float | None
    worst_value: float | None


def decide(
    open_range: OpenRange | None,
    no_data_open: bool,
    points: Sequence[Point],
    evaluations: Sequence[Evaluation],
    live_from: int = 0,
) -> Decision:
    """Turn the detector's verdicts on new points into at most one open alert per KPI.

    Any new value ends a "no data" alert. Without an open alert, one opens when the
    detector says an alert is open after the batch (at the batch's last opening, its
    worst value the most abnormal since) — but only if a *live* value is abnormal:
    points before `live_from` are history loaded in bulk, which trains the model but
    is not news. With an open alert, it is updated while the detector keeps it open,
    or resolved when the detector closed it.
    """
    final = evaluations[-1]
    last = points[-1]
    if open_range is None:
        live = evaluations[live_from:]
        if not final.alert_open or not any(e.abnormal for e in live):
            return Decision(resolve_no_data=no_data_open)
        opened = max(i for i, e in enumerate(evaluations) if e.opened or i == 0)
        if opened < live_from:  # an episode that began in the history: news from now on
            opened = next(
                i for i in range(live_from, len(live) + live_from) if evaluations[i].abnormal
            )
        episode = list(zip(points[opened:], evaluations[opened:], strict=True))
        worst = max(episode, key=lambda pair: pair[1].score)[0]
        return Decision(
            resolve_no_data=no_data_open,
            open=Opening(
                points[opened].at, last.value, last.at, final.low, final.high, worst.value
            ),
        )
    if not final.alert_open:
        return Decision(no_data_open, resolve=Resolution(last.value, last.at))
    worst_value = None
    if _further_out(points, evaluations, open_range):
        worst_value = max(zip(points, evaluations, strict=True), key=lambda p: p[1].score)[0].value
    return Decision(
        no_data_open, update=Update(last.value, last.at, final.low, final.high, worst_value)
    )


def _further_out(
    points: Sequence[Point], evaluations: Sequence[Evaluation], alert: OpenRange
) -> bool:
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


# Applying them ------------------------------------------------------------------------


@dataclass
class AlertBatch:
    """Alert messages an ingestion planned and claimed, ready to post; alerts to edit."""

    rows: list[OutboxMessage] = field(default_factory=list)
    composer: AlertComposer | None = None
    updated: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.rows and not self.updated


def _plan(kind: str, alert: Alert, channel: str, now: datetime) -> Planned:
    suffix = {"alert": "open", "alert_resolved": "resolved"}.get(kind)
    key = f"alert:{alert.id}:{suffix}" if suffix else f"alert:{alert.id}:repeat:{now:%Y%m%dT%H%M}"
    return Planned(
        kind=kind,
        dedupe_key=key,
        recipient=channel,
        channel_id=channel,
        ref_id=alert.id,
        due_at=now,
    )


async def apply_evaluations(
    store: TeamStore,
    kpi: Kpi,
    points: list[Point],
    evaluations: list[Evaluation],
    now: datetime,
    composer: AlertComposer,
    live_from: int = 0,
) -> AlertBatch:
    """Apply `decide` to the KPI's alerts in the caller's transaction; the messages it
    plans are claimed here and loaded, so they can be posted as soon as it commits."""
    open_alerts = {a.kind: a for a in await store.alerts.open_for([kpi.id])}
    current = open_alerts.get("range")
    no_data = open_alerts.get("no_data")
    decision = decide(
        None if current is None else OpenRange(current.low, current.high, current.worst_value),
        no_data is not None,
        points,
        evaluations,
        live_from,
    )
    planned: list[Planned] = []
    batch = AlertBatch()
    if no_data is not None and decision.resolve_no_data:
        no_data.resolved_at = now
        planned.append(
            _plan("alert_resolved", no_data, no_data.channel_id or kpi.channel_id or "", now)
        )
    if decision.open is not None:
        opening = decision.open
        current = Alert(
            team_id=kpi.team_id,
            kpi_id=kpi.id,
            kind="range",
            opened_at=opening.opened_at,
            last_value=opening.last_value,
            last_at=opening.last_at,
            low=opening.low,
            high=opening.high,
            worst_value=opening.worst_value,
            channel_id=kpi.channel_id,
            last_notified_at=now,
        )
        await store.alerts.add(current)
        if kpi.channel_id:
            planned.append(_plan("alert", current, kpi.channel_id, now))
    elif current is not None and decision.update is not None:
        update = decision.update
        current.last_value, current.last_at = update.last_value, update.last_at
        current.low, current.high = update.low, update.high
        if update.worst_value is not None:
            current.worst_value = update.worst_value
        batch.updated.append(current.id)
    elif current is not None and decision.resolve is not None:
        current.resolved_at = now
        current.last_value, current.last_at = decision.resolve.last_value, decision.resolve.last_at
        if current.channel_id:
            planned.append(_plan("alert_resolved", current, current.channel_id, now))
    await _claim(store, planned, now, composer, batch)
    return batch


async def _claim(
    store: TeamStore,
    planned: list[Planned],
    now: datetime,
    composer: AlertComposer,
    batch: AlertBatch,
) -> None:
    """Plan these messages and claim them for this process, loaded for posting."""
    if not planned:
        return
    await store.session.flush()
    await store.outbox.plan(planned, now)
    keys = [p.dedupe_key for p in planned]
    batch.rows = await store.outbox.claim_planned(keys, now, LEASE, SENDER_ID)
    if batch.rows:
        batch.composer = composer
        await composer.load(store, batch.rows)


async def reevaluate(
    store: TeamStore, kpi: Kpi, detector: Detector, now: datetime, composer: AlertComposer
) -> AlertBatch:
    """After a KPI's rules changed, its open alert follows the new rules at once: it
    resolves if they say the episode is over, else its card shows the range in force."""
    batch = AlertBatch()
    current = await store.alerts.open_of_kind(kpi.id, "range")
    if current is None:
        return batch
    if detector.alert_open:
        in_force = detector.normal_range()
        if in_force is not None:
            current.low, current.high = in_force
        batch.updated.append(current.id)
        return batch
    current.resolved_at = now
    planned = (
        [_plan("alert_resolved", current, current.channel_id, now)] if current.channel_id else []
    )
    await _claim(store, planned, now, composer, batch)
    return batch


async def check_no_data(store: TeamStore, now: datetime) -> int:
    """Open a "no data" alert for each KPI silent for longer than its expected interval."""
    opened = 0
    for kpi in await store.kpis.expecting_data():
        assert kpi.expected_interval_seconds is not None
        every = timedelta(seconds=kpi.expected_interval_seconds)
        if now - (kpi.last_measurement_at or kpi.created_at) <= every:
            continue
        if await store.alerts.open_of_kind(kpi.id, "no_data") is not None:
            continue
        # Lock the KPI as ingestion does and look again: a value may just have arrived.
        latest = await store.kpis.lock_latest_at(kpi.id)
        if latest is not None and now - latest <= every:
            continue
        alert = Alert(
            team_id=store.team_id,
            kpi_id=kpi.id,
            kind="no_data",
            opened_at=now,
            last_at=kpi.last_measurement_at,
            channel_id=kpi.channel_id,
            last_notified_at=now,
        )
        if not await store.alerts.add_unless_open(alert):
            continue
        await store.outbox.plan([_plan("alert", alert, kpi.channel_id or "", now)], now)
        opened += 1
    return opened


async def plan_repeats(store: TeamStore, now: datetime, interval: timedelta) -> int:
    """A threaded reminder for each open, unacknowledged alert nobody silenced."""
    due = await store.alerts.due_repeats(now, interval)
    await store.outbox.plan([_plan("alert_repeat", a, a.channel_id or "", now) for a in due], now)
    for alert in due:
        alert.last_notified_at = now
    return len(due)


# Slack --------------------------------------------------------------------------------


def alert_view(alert: Alert, kpi: Kpi, affects: tuple[str, ...] = ()) -> AlertView:
    return AlertView(
        alert_id=alert.id,
        kind=alert.kind,
        kpi_key=kpi.key,
        kpi_name=kpi.name,
        unit=kpi.unit,
        value=alert.last_value,
        value_at=alert.last_at,
        low=alert.low,
        high=alert.high,
        opened_at=alert.opened_at,
        resolved_at=alert.resolved_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        snoozed_until=alert.snoozed_until,
        expected_interval_seconds=kpi.expected_interval_seconds,
        chart_file_id=alert.chart_file_id,
        owner_id=kpi.owner_id,
        affects=affects,
        snoozed_by=alert.snoozed_by,
    )


async def affected(store: TeamStore, kpi_ids: set[int]) -> dict[int, tuple[str, ...]]:
    """Per KPI, the key results that follow it: `KR-3 of O-1`."""
    out: dict[int, tuple[str, ...]] = {}
    for kpi_id in kpi_ids:
        followers = await store.okrs.key_results_following(kpi_id)
        numbers = await store.okrs.numbers_by_id(kr.objective_id for kr in followers)
        out[kpi_id] = tuple(
            f"KR-{kr.number} of O-{numbers[kr.objective_id]}"
            for kr in sorted(followers, key=lambda kr: kr.number)
            if kr.objective_id in numbers
        )
    return out


@dataclass
class _Loaded:
    view: AlertView
    message_ts: str | None
    channel_id: str | None
    chart: KpiChart | None = None


class AlertComposer:
    """Composes alert posts (chart uploaded first, shown as an image block), resolved
    notes and repeats in the alert's thread; edits the post when it changed meanwhile."""

    kinds: tuple[str, ...] = ALERT_KINDS

    def __init__(self, fallback_zone: ZoneInfo) -> None:
        self._fallback_zone = fallback_zone
        self._loaded: dict[int, _Loaded] = {}
        self._stale: set[int] = set()  # alert posts to edit after recording them

    async def load(self, store: TeamStore, rows: list[OutboxMessage]) -> None:
        alerts = {a.id: a for a in await store.alerts.many(r.ref_id or 0 for r in rows)}
        kpis = {k.id: k for k in await store.kpis.many(a.kpi_id for a in alerts.values())}
        followers = await affected(store, {a.kpi_id for a in alerts.values()})
        zones: dict[str, str | None] | None = None
        for row in rows:
            alert = alerts.get(row.ref_id or 0)
            kpi = kpis.get(alert.kpi_id) if alert else None
            if alert is None or kpi is None:
                continue
            view = alert_view(alert, kpi, followers.get(kpi.id, ()))
            loaded = _Loaded(view, alert.message_ts, alert.channel_id)
            if row.kind == "alert" and alert.kind == "range":
                if zones is None:
                    zones = await store.workspace.zones()
                loaded.chart = await chart_for(
                    store, kpi, self._fallback_zone, alert.opened_at, zones
                )
            self._loaded[row.id] = loaded

    async def compose(self, client: AsyncWebClient, row: OutboxMessage) -> Message | None:
        loaded = self._loaded.get(row.id)
        if loaded is None:
            return None
        view = loaded.view
        if row.kind == "alert":
            if loaded.chart is not None and loaded.chart.points and view.chart_file_id is None:
                view = loaded.view = await _with_chart(client, view, loaded.chart)
            return render_alert(view)
        if loaded.message_ts is None:
            raise NotReady()
        if row.kind == "alert_resolved":
            return render_resolved_reply(view, loaded.message_ts)
        if view.resolved_at is not None or view.acknowledged_at is not None:
            return None
        return render_repeat_reply(view, loaded.message_ts)

    async def record(self, store: TeamStore, row: OutboxMessage) -> None:
        loaded = self._loaded.get(row.id)
        if row.kind != "alert" or loaded is None:
            return
        await store.alerts.set_message(
            loaded.view.alert_id, row.channel_id, row.message_ts, loaded.view.chart_file_id
        )
        # The episode may have moved on while the post was in flight: edit it after.
        alert = await store.alerts.get(loaded.view.alert_id)
        kpi = (await store.kpis.many([alert.kpi_id]))[0] if alert else None
        if alert is not None and kpi is not None:
            fresh = alert_view(alert, kpi, loaded.view.affects)
            if fresh != loaded.view:
                loaded.view = fresh
                self._stale.add(row.id)
        loaded.channel_id, loaded.message_ts = row.channel_id, row.message_ts

    async def after_send(self, client: AsyncWebClient, row: OutboxMessage) -> None:
        loaded = self._loaded.get(row.id)
        if loaded is None:
            return
        if row.kind == "alert_resolved" or row.id in self._stale:
            # A resolved note also turns the post itself to "resolved".
            await _edit(client, loaded.channel_id, loaded.message_ts, loaded.view)


async def _with_chart(client: AsyncWebClient, view: AlertView, chart: KpiChart) -> AlertView:
    """The view with its chart uploaded, so the post can show it as an image block."""
    return replace(view, chart_file_id=await upload_chart(client, chart))


async def _edit(
    client: AsyncWebClient, channel: str | None, ts: str | None, view: AlertView
) -> None:
    if not channel or not ts:
        return
    message = render_alert(view)
    try:
        await client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        log.warning(
            "alert update failed",
            extra={"alert_id": view.alert_id, "error": exc.response.get("error")},
        )


class AlertService:
    """Alerts as the rest of okrbot uses them: after ingestion, in the tick, on buttons."""

    def __init__(
        self,
        db: Database,
        clients: SlackClients,
        outbox: Outbox,
        background: Background,
        repeat_interval: timedelta,
        fallback_zone: ZoneInfo,
        edit_interval: float = EDIT_INTERVAL,
        *,
        directory: Directory,
    ) -> None:
        self._db = db
        self._directory = directory
        self._clients = clients
        self._outbox = outbox
        self._background = background
        self._repeat_interval = repeat_interval
        self._fallback_zone = fallback_zone
        self._edit_interval = edit_interval
        self._last_edit: dict[int, float] = {}
        self._edit_pending: set[int] = set()

    def deliver_soon(self, team_id: str, batch: AlertBatch, now: datetime) -> None:
        """The one rule after any ingestion (API, command, CSV, YAML) or rule change: post
        what it planned and edit what it changed, in the background, for its own team."""
        if batch.empty:
            return
        self._background.spawn(self._deliver(team_id, batch, now), "alert delivery")

    async def _deliver(self, team_id: str, batch: AlertBatch, now: datetime) -> None:
        if batch.rows and batch.composer is not None:
            await self._outbox.send_claimed(batch.rows, now, batch.composer)
        for alert_id in batch.updated:
            self.edit_soon(team_id, alert_id)

    def composer(self) -> AlertComposer:
        return AlertComposer(self._fallback_zone)

    async def flush(self, team_id: str, now: datetime) -> None:
        """Send every due alert message of this workspace."""
        await self._outbox.deliver(team_id, now, self.composer())

    async def plan(self, store: TeamStore, now: datetime) -> dict[str, int]:
        """The tick's alert steps, in the caller's transaction."""
        interval = self._repeat_interval
        workspace = await store.workspace.get()  # loaded by the tick already: no query
        if workspace is not None and workspace.alert_repeat_hours is not None:
            interval = timedelta(hours=workspace.alert_repeat_hours)
        return {
            "no-data alerts opened": await check_no_data(store, now),
            "alert reminders planned": await plan_repeats(store, now, interval),
        }

    # Buttons -----------------------------------------------------------------------------

    async def may_silence(self, actor: Actor, alert_id: int, now: datetime) -> None:
        """Who may acknowledge or snooze an alert: the KPI's owner, a workspace admin, or a
        member of the channel the alert is posted in (whoever is meant to watch it).
        Raises Forbidden (or NotFound for an alert not of this workspace)."""
        async with self._db.team(actor.team_id) as store:
            alert = await store.alerts.get(alert_id)
            kpis = await store.kpis.many([alert.kpi_id]) if alert else []
        if alert is None or not kpis:
            raise NotFound("there is no such alert in this workspace (it may have been deleted)")
        if kpis[0].owner_id == actor.user_id:
            return
        if (await self._directory.user(actor.team_id, actor.user_id, now)).is_admin:
            return
        channel = alert.channel_id
        if channel and await self._directory.in_channel(actor.team_id, channel, actor.user_id):
            return
        raise Forbidden(
            f"only the owner of `{kpis[0].key}`, a workspace admin or a member of "
            f"<#{channel}> can acknowledge or snooze this alert"
            if channel
            else f"only the owner of `{kpis[0].key}` or a workspace admin can silence it"
        )

    async def acknowledge(self, actor: Actor, alert_id: int, now: datetime) -> bool:
        await self.may_silence(actor, alert_id, now)
        async with self._db.team(actor.team_id) as store:
            alert = await store.alerts.get(alert_id)
            if alert is None:
                return False
            if alert.acknowledged_by is None:
                alert.acknowledged_by, alert.acknowledged_at = actor.user_id, now
        self.edit_soon(actor.team_id, alert_id)
        return True

    async def snooze(self, actor: Actor, alert_id: int, seconds: int, now: datetime) -> bool:
        if seconds not in SNOOZES:
            offered = ", ".join(SNOOZES.values())
            raise UserError(f"an alert snoozes for {offered}; nothing was changed")
        await self.may_silence(actor, alert_id, now)
        team_id, user_id = actor.team_id, actor.user_id
        async with self._db.team(team_id) as store:
            alert = await store.alerts.get(alert_id)
            if alert is None:
                return False
            alert.snoozed_until = now + timedelta(seconds=seconds)
            alert.snoozed_by = user_id
        log.info("alert snoozed", extra={"alert_id": alert_id, "by": user_id, "seconds": seconds})
        self.edit_soon(team_id, alert_id)
        return True

    # Edits, at most one per alert every edit interval --------------------------------------

    def edit_soon(self, team_id: str, alert_id: int) -> None:
        """Edit the alert's message to its current state: now, or once the last edit is
        an edit interval old; edits asked for meanwhile fold into that one."""
        if alert_id in self._edit_pending:
            return
        self._edit_pending.add(alert_id)
        last = self._last_edit.get(alert_id)
        wait = 0.0 if last is None else last + self._edit_interval - time.monotonic()
        self._background.spawn(self._edit_later(team_id, alert_id, max(0.0, wait)), "alert edit")

    async def _edit_later(self, team_id: str, alert_id: int, wait: float) -> None:
        try:
            if wait:
                await asyncio.sleep(wait)
        finally:
            self._edit_pending.discard(alert_id)
        self._last_edit[alert_id] = time.monotonic()
        async with self._db.team(team_id) as store:
            alert = await store.alerts.get(alert_id)
            kpis = await store.kpis.many([alert.kpi_id]) if alert else []
            followers = await affected(store, {alert.kpi_id}) if alert else {}
        if alert is None or not kpis or alert.message_ts is None:
            return  # not posted yet: the post will show the current state
        client = await self._clients.for_team(team_id)
        view = alert_view(alert, kpis[0], followers.get(alert.kpi_id, ()))
        await _edit(client, alert.channel_id, alert.message_ts, view)
