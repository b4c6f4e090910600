"""The alert lifecycle on Slack: one post per episode, edited as it changes, a threaded
note when it resolves, repeat reminders while unacknowledged, acknowledge and snooze.

Modelled on Alertmanager: firing → resolved, a repeat interval, silences (snooze)
and "no data" as its own kind of alert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.blocks.status import Block, Message, context, escape, header, section
from bot.kpis.service import open_alert, plan_message, recent_measurements
from bot.runtime.services import Services
from bot.slack import outbox
from storage.models import Alert, Kpi, OutboxMessage

log = logging.getLogger(__name__)

ALERT_KINDS = ("alert", "alert_resolved", "alert_repeat")
ACTION_ACK = "alert_ack"
ACTION_SNOOZE = "alert_snooze"
SNOOZES = {3600: "1 hour", 86400: "1 day", 604800: "1 week"}
CHART_POINTS = 120


@dataclass(frozen=True)
class AlertView:
    alert_id: int
    kind: str  # range | no_data
    kpi_key: str
    kpi_name: str
    unit: str | None
    value: float | None
    value_at: datetime | None
    low: float | None
    high: float | None
    opened_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    snoozed_until: datetime | None
    expected_interval_seconds: int | None


def _fmt(value: float | None, unit: str | None) -> str:
    if value is None:
        return "–"
    shown = f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if not unit:
        return shown
    return f"{shown}{unit}" if unit == "%" else f"{shown} {escape(unit)}"


def _when(at: datetime | None) -> str:
    return "–" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"


def _range(view: AlertView) -> str:
    if view.low is not None and view.high is not None:
        return f"{_fmt(view.low, None)} – {_fmt(view.high, view.unit)}"
    if view.low is not None:
        return f"at least {_fmt(view.low, view.unit)}"
    if view.high is not None:
        return f"at most {_fmt(view.high, view.unit)}"
    return "unknown"


def how_far_out(value: float, low: float | None, high: float | None) -> tuple[str, float] | None:
    """("above"|"below", distance) when outside [low, high], else None."""
    if high is not None and value > high:
        return "above", value - high
    if low is not None and value < low:
        return "below", low - value
    return None


def render_alert(view: AlertView) -> Message:
    """The alert's one message, in its current state (open, acknowledged, resolved)."""
    name = escape(view.kpi_name)
    if view.kind == "no_data":
        title = (
            f":white_check_mark: {view.kpi_name}: data is arriving again"
            if view.resolved_at
            else f":mailbox_with_no_mail: No data for {view.kpi_name}"
        )
        every = timedelta(seconds=view.expected_interval_seconds or 0)
        body = (
            f"*{name}* (`{view.kpi_key}`) expects a measurement every {every}; "
            f"the last arrived {_when(view.value_at)}."
        )
        blocks: list[Block] = [header(title), section(body)]
    else:
        out = how_far_out(view.value, view.low, view.high) if view.value is not None else None
        if view.resolved_at is not None:
            title = f":white_check_mark: {view.kpi_name} is back in its normal range"
        else:
            side = out[0] if out else "outside"
            title = f":rotating_light: {view.kpi_name} is {side} its normal range"
        fields = [
            f"*Value*\n{_fmt(view.value, view.unit)} at {_when(view.value_at)}",
            f"*Normal range*\n{_range(view)}",
        ]
        if out is not None and view.resolved_at is None:
            span = (view.high - view.low) if view.low is not None and view.high is not None else 0
            share = f" ({out[1] / span:.0%} of the range)" if span > 0 else ""
            fields.append(f"*Out by*\n{_fmt(out[1], view.unit)} {out[0]}{share}")
        fields.append(f"*Since*\n{_when(view.opened_at)}")
        blocks = [
            header(title),
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": text} for text in fields],
            },
        ]
    status = [f"`{view.kpi_key}`"]
    if view.resolved_at is not None:
        status.append(f"resolved {_when(view.resolved_at)}")
    if view.acknowledged_by:
        status.append(f"acknowledged by <@{view.acknowledged_by}> {_when(view.acknowledged_at)}")
    if view.snoozed_until and view.resolved_at is None:
        status.append(f"snoozed until {_when(view.snoozed_until)}")
    blocks.append(context(" · ".join(status)))
    if view.resolved_at is None:
        buttons: list[dict[str, Any]] = []
        if not view.acknowledged_by:
            buttons.append(
                {
                    "type": "button",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Acknowledge"},
                    "action_id": ACTION_ACK,
                    "value": str(view.alert_id),
                }
            )
        for seconds, label in SNOOZES.items():
            buttons.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": f"Snooze {label}"},
                    "action_id": f"{ACTION_SNOOZE}:{seconds}",
                    "value": f"{view.alert_id}:{seconds}",
                }
            )
        blocks.append({"type": "actions", "elements": buttons})
    return Message(title.split(" ", 1)[1] + f" ({view.kpi_key})", blocks)


def render_resolved_reply(view: AlertView, thread_ts: str) -> Message:
    if view.kind == "no_data":
        text = f":white_check_mark: Data for *{escape(view.kpi_name)}* is arriving again."
    else:
        text = (
            f":white_check_mark: Resolved: *{escape(view.kpi_name)}* is back in range at "
            f"{_fmt(view.value, view.unit)} ({_when(view.value_at)})."
        )
    return Message(text.replace("*", ""), [section(text)], thread_ts=thread_ts)


def render_repeat_reply(view: AlertView, thread_ts: str) -> Message:
    text = (
        f":bell: Still open: *{escape(view.kpi_name)}* is at {_fmt(view.value, view.unit)} "
        f"(normal {_range(view)}). Acknowledge or snooze it to stop these reminders."
    )
    return Message(text.replace("*", ""), [section(text)], thread_ts=thread_ts)


async def alert_view(services: Services, alert_id: int) -> tuple[AlertView, Alert] | None:
    async with services.db.session() as session:
        alert = await session.get(Alert, alert_id)
        if alert is None:
            return None
        kpi = await session.get(Kpi, alert.kpi_id)
        if kpi is None:
            return None
    view = AlertView(
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
    )
    return view, alert


def renderer(services: Services) -> outbox.Renderer:
    async def render(row: OutboxMessage) -> Message | None:
        assert row.ref_id is not None
        found = await alert_view(services, row.ref_id)
        if found is None:
            return None
        view, alert = found
        if row.kind == "alert":
            return render_alert(view)
        if alert.message_ts is None:
            raise outbox.NotReady()
        if row.kind == "alert_resolved":
            return render_resolved_reply(view, alert.message_ts)
        if alert.resolved_at is not None or alert.acknowledged_at is not None:
            return None
        return render_repeat_reply(view, alert.message_ts)

    return render


async def record_alert_posted(session: AsyncSession, row: OutboxMessage) -> None:
    """The alert learns its message (for edits and thread replies), with the outbox row."""
    if row.kind == "alert":
        await session.execute(
            update(Alert)
            .where(Alert.id == row.ref_id)
            .values(channel_id=row.channel_id, message_ts=row.message_ts)
        )


def after_send(services: Services) -> outbox.AfterSend:
    async def done(row: OutboxMessage) -> None:
        assert row.ref_id is not None
        if row.kind == "alert":
            await _upload_chart(services, row)
        if row.kind in {"alert", "alert_resolved"}:
            # The episode may have changed while the post was in flight.
            await refresh_alert_message(services, row.ref_id)

    return done


async def _upload_chart(services: Services, row: OutboxMessage) -> None:
    """The recent history with the range shaded, as the first reply in the alert's thread."""
    from bot.blocks.charts import kpi_chart  # matplotlib loads slowly: only when charting

    found = await alert_view(services, row.ref_id or 0)
    if found is None or row.channel_id is None or row.message_ts is None:
        return
    view, alert = found
    async with services.db.session() as session:
        points = await recent_measurements(session, alert.kpi_id, CHART_POINTS)
    png = kpi_chart(
        f"{view.kpi_name} ({view.kpi_key})", points, view.low, view.high, view.opened_at
    )
    client = await services.clients.for_team(row.team_id)
    try:
        await client.files_upload_v2(
            channel=row.channel_id,
            thread_ts=row.message_ts,
            content=png,
            filename=f"{view.kpi_key}.png",
            title=f"{view.kpi_name}: recent history",
        )
    except SlackApiError as exc:  # the alert itself is out; a missing chart is not fatal
        log.warning("chart upload failed", extra={"error": exc.response.get("error")})


async def refresh_alert_message(services: Services, alert_id: int) -> None:
    """Edit the alert's message to show its current state."""
    found = await alert_view(services, alert_id)
    if found is None:
        return
    view, alert = found
    if alert.channel_id is None or alert.message_ts is None:
        return  # not posted yet: the post will show the current state
    message = render_alert(view)
    client = await services.clients.for_team(alert.team_id)
    try:
        await client.chat_update(
            channel=alert.channel_id, ts=alert.message_ts, text=message.text, blocks=message.blocks
        )
    except SlackApiError as exc:
        log.warning(
            "alert update failed", extra={"alert_id": alert_id, "error": exc.response.get("error")}
        )


async def deliver(services: Services, now: datetime, updated: list[int] | None = None) -> None:
    """Send planned alert messages and refresh the messages of changed alerts."""
    await outbox.deliver(
        services, now, ALERT_KINDS, renderer(services), record_alert_posted, after_send(services)
    )
    for alert_id in updated or []:
        await refresh_alert_message(services, alert_id)


async def acknowledge(services: Services, team_id: str, alert_id: int, user_id: str) -> bool:
    now = services.clock()
    async with services.db.session() as session:
        alert = await session.get(Alert, alert_id)
        if alert is None or alert.team_id != team_id:
            return False
        if alert.acknowledged_by is None:
            alert.acknowledged_by, alert.acknowledged_at = user_id, now
    await refresh_alert_message(services, alert_id)
    return True


async def snooze(
    services: Services, team_id: str, alert_id: int, user_id: str, seconds: int
) -> bool:
    if seconds not in SNOOZES:
        return False
    now = services.clock()
    async with services.db.session() as session:
        alert = await session.get(Alert, alert_id)
        if alert is None or alert.team_id != team_id:
            return False
        alert.snoozed_until = now + timedelta(seconds=seconds)
    log.info("alert snoozed", extra={"alert_id": alert_id, "by": user_id, "seconds": seconds})
    await refresh_alert_message(services, alert_id)
    return True


async def plan_repeats(services: Services, team_id: str, now: datetime) -> int:
    """A threaded reminder for each open, unacknowledged, unsnoozed alert past its interval."""
    interval = timedelta(hours=services.settings.okrbot_alert_repeat_hours)
    async with services.db.session() as session:
        due = (
            await session.scalars(
                select(Alert).where(
                    Alert.team_id == team_id,
                    Alert.resolved_at.is_(None),
                    Alert.acknowledged_at.is_(None),
                    Alert.message_ts.is_not(None),
                    Alert.last_notified_at <= now - interval,
                    or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= now),
                )
            )
        ).all()
        for alert in due:
            await plan_message(
                session,
                team_id,
                "alert_repeat",
                f"alert:{alert.id}:repeat:{now:%Y%m%dT%H%M}",
                alert.channel_id or "",
                alert.id,
                now,
            )
            alert.last_notified_at = now
    return len(due)


async def check_no_data(services: Services, team_id: str, now: datetime) -> int:
    """Open a "no data" alert for each KPI silent for longer than its expected interval."""
    opened = 0
    async with services.db.session() as session:
        candidates = (
            await session.scalars(
                select(Kpi).where(
                    Kpi.team_id == team_id,
                    Kpi.expected_interval_seconds.is_not(None),
                    Kpi.channel_id.is_not(None),
                )
            )
        ).all()
        for kpi in candidates:
            assert kpi.expected_interval_seconds is not None
            since = kpi.last_measurement_at or kpi.created_at
            if now - since <= timedelta(seconds=kpi.expected_interval_seconds):
                continue
            if await open_alert(session, kpi.id, "no_data") is not None:
                continue
            # Lock the KPI as ingestion does and look again: a value may just have arrived.
            latest = await session.scalar(
                update(Kpi)
                .where(Kpi.id == kpi.id)
                .values(updated_at=Kpi.updated_at)
                .returning(Kpi.last_measurement_at)
                .execution_options(synchronize_session=False)
            )
            if latest is not None and now - latest <= timedelta(
                seconds=kpi.expected_interval_seconds
            ):
                continue
            alert = Alert(
                team_id=team_id,
                kpi_id=kpi.id,
                kind="no_data",
                opened_at=now,
                last_at=kpi.last_measurement_at,
                channel_id=kpi.channel_id,
                last_notified_at=now,
            )
            # The savepoint keeps a concurrent creator's unique-index win from failing the rest.
            try:
                async with session.begin_nested():
                    session.add(alert)
                    await session.flush()
            except IntegrityError:
                continue
            await plan_message(
                session,
                team_id,
                "alert",
                f"alert:{alert.id}:open",
                kpi.channel_id or "",
                alert.id,
                now,
            )
            opened += 1
    return opened
