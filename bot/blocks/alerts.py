"""Block Kit for KPI alerts: the one message per episode and its threaded replies (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.blocks.common import (
    Block,
    Message,
    context,
    escape,
    header,
    section,
    slack_datetime,
    value_with_unit,
)
from bot.core.numbers import describe_range
from bot.core.times import describe_every

ACTION_ACK = "alert_ack"
ACTION_SNOOZE = "alert_snooze"
SNOOZES = {3600: "1 hour", 86400: "1 day", 604800: "1 week"}


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
    chart_file_id: str | None = None  # an uploaded chart the message shows as an image
    owner_id: str | None = None  # mentioned: the one person an alert should ping
    affects: tuple[str, ...] = ()  # key results that follow this KPI, e.g. "KR-3 of O-1"
    snoozed_by: str | None = None


def _when(at: datetime | None) -> str:
    """A moment in each reader's own Slack zone (an alert is read across zones); the
    UTC fallback is for clients that cannot format dates."""
    return "–" if at is None else slack_datetime(at)


def how_far_out(value: float, low: float | None, high: float | None) -> tuple[str, float] | None:
    """("above"|"below", distance) when outside [low, high], else None."""
    if high is not None and value > high:
        return "above", value - high
    if low is not None and value < low:
        return "below", low - value
    return None


def _normal_range(view: AlertView) -> str:
    if view.low is None and view.high is None:
        return "unknown"
    return escape(describe_range(view.low, view.high, view.unit))


def render_alert(view: AlertView) -> Message:
    """The alert's one message, in its current state (open, acknowledged, resolved)."""
    name = escape(view.kpi_name)
    if view.kind == "no_data":
        title = (
            f":white_check_mark: {view.kpi_name}: data is arriving again"
            if view.resolved_at
            else f":mailbox_with_no_mail: No data for {view.kpi_name}"
        )
        every = describe_every(view.expected_interval_seconds or 60)
        body = (
            f"*{name}* (`{escape(view.kpi_key)}`) expects a measurement {every}; "
            f"the last arrived {_when(view.value_at)}."
        )
        blocks: list[Block] = [header(title), section(body)]
    else:
        out = how_far_out(view.value, view.low, view.high) if view.value is not None else None
        if view.resolved_at is not None:
            title = f":white_check_mark: {view.kpi_name} is back in its normal range"
        elif out is None and view.value is not None and (view.low, view.high) != (None, None):
            # Open, but the latest value is inside: the episode is ending, not yet over.
            title = f":hourglass_flowing_sand: {view.kpi_name} is back in range, confirming…"
        else:
            side = out[0] if out else "outside"
            title = f":rotating_light: {view.kpi_name} is {side} its normal range"
        fields = [
            f"*Value*\n{value_with_unit(view.value, view.unit)} at {_when(view.value_at)}",
            f"*Normal range*\n{_normal_range(view)}",
        ]
        if out is not None and view.resolved_at is None:
            span = (view.high - view.low) if view.low is not None and view.high is not None else 0
            share = f" ({out[1] / span:.0%} of the range)" if span > 0 else ""
            fields.append(f"*Out by*\n{value_with_unit(out[1], view.unit)} {out[0]}{share}")
        fields.append(f"*Since*\n{_when(view.opened_at)}")
        blocks = [
            header(title),
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": text} for text in fields],
            },
        ]
        if view.chart_file_id:
            blocks.append(
                {
                    "type": "image",
                    "slack_file": {"id": view.chart_file_id},
                    "alt_text": f"{view.kpi_name}: recent values and the normal range"[:2000],
                }
            )
    who = []
    if view.owner_id:
        who.append(f"Owner <@{view.owner_id}>")
    if view.affects:
        who.append("affects " + ", ".join(escape(kr) for kr in view.affects))
    if who:
        blocks.append(context(" · ".join(who)))
    status = [f"`{escape(view.kpi_key)}`"]
    if view.resolved_at is not None:
        status.append(f"resolved {_when(view.resolved_at)}")
    if view.acknowledged_by:
        status.append(f"acknowledged by <@{view.acknowledged_by}> {_when(view.acknowledged_at)}")
    if view.snoozed_until and view.resolved_at is None:
        by = f" by <@{view.snoozed_by}>" if view.snoozed_by else ""
        status.append(f"snoozed{by} until {_when(view.snoozed_until)}")
    blocks.append(context(" · ".join(status)))
    if view.resolved_at is None:
        blocks.append({"type": "actions", "elements": _buttons(view)})
    return Message(escape(title.split(" ", 1)[1]) + f" ({escape(view.kpi_key)})", blocks)


def _buttons(view: AlertView) -> list[dict[str, Any]]:
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
    return buttons


def render_resolved_reply(view: AlertView, thread_ts: str) -> Message:
    name = escape(view.kpi_name)
    if view.kind == "no_data":
        text = f":white_check_mark: Data for *{name}* is arriving again."
    else:
        text = (
            f":white_check_mark: Resolved: *{name}* is back in range at "
            f"{value_with_unit(view.value, view.unit)} ({_when(view.value_at)})."
        )
    return Message(text.replace("*", ""), [section(text)], thread_ts=thread_ts)


def render_repeat_reply(view: AlertView, thread_ts: str) -> Message:
    text = (
        f":bell: Still open: *{escape(view.kpi_name)}* is at "
        f"{value_with_unit(view.value, view.unit)} (normal {_normal_range(view)}). "
        "Acknowledge or snooze it to stop these reminders."
    )
    return Message(text.replace("*", ""), [section(text)], thread_ts=thread_ts)
