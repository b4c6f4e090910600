"""Block Kit for `/kpi list` and `/kpi show` (pure: summaries in, messages out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.blocks.charts import sparkline
from bot.blocks.common import (
    MAX_BLOCKS,
    Block,
    Message,
    context,
    escape,
    header,
    pack_lines,
    section,
    slack_datetime,
    slack_time,
    value_with_unit,
)
from bot.core.kpi_health import KpiHealth
from bot.core.numbers import describe_range
from bot.core.times import describe_every

STATE_EMOJI = {
    "ok": ":large_green_circle:",
    "open": ":rotating_light:",
    "acknowledged": ":eyes:",
    "snoozed": ":zzz:",
    "no_data": ":mailbox_with_no_mail:",
}


def kpi_health_line(kpis: list[KpiHealth], now: datetime | None = None) -> str:
    """One line: "KPIs: `signup_rate` ok · `api_latency` alert since 13:00" (empty for
    an objective whose key results follow no KPI)."""
    if not kpis:
        return ""
    parts = []
    for kpi in kpis:
        key = f"`{escape(kpi.key)}`"
        since = slack_time(kpi.since, now or kpi.since) if kpi.since else ""
        if kpi.state == "alert" and since:
            parts.append(f":rotating_light: {key} alert since {since}")
        elif kpi.state == "no_data" and since:
            parts.append(f":mailbox_with_no_mail: {key} no data since {since}")
        elif kpi.state == "waiting":
            parts.append(f"{key} waiting for data")
        else:
            parts.append(f"{key} ok")
    return "KPIs: " + " · ".join(parts)


def _value(value: float | None, unit: str | None) -> str:
    return "no data yet" if value is None else value_with_unit(value, unit)


def _range(summary: dict[str, Any]) -> str:
    normal = summary["normal_range"]
    if normal["learning"]:
        return f"learning (alerts start after {normal['min_history']} measurements)"
    low, high = normal["min"], normal["max"]
    if low is None and high is None:
        return "not known yet"
    kind = "" if normal["source"] == "static" else " (learned)"
    return escape(describe_range(low, high, summary.get("unit"))) + kind


# A KPI that has never had a value is neither fine nor alerting: a neutral marker.
WAITING_EMOJI = ":white_circle:"


def _line(summary: dict[str, Any]) -> str:
    state = summary["alert"]["state"]
    latest = summary["latest"]
    value = _value(latest["value"], summary.get("unit")) if latest else "no data yet"
    emoji = STATE_EMOJI[state]
    if state == "ok" and (latest is None or latest.get("value") is None):
        emoji = WAITING_EMOJI
    return (
        f"{emoji} *{summary['key']}* {escape(summary['name'])} · {value} · "
        f"normal {_range(summary)}" + ("" if state == "ok" else f" · _{state.replace('_', ' ')}_")
    )


def _instant(text: str) -> datetime:
    """An instant from the summaries' ISO form (`2026-11-25T10:00:00Z`)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def render_kpi_list(summaries: list[dict[str, Any]]) -> Message:
    if not summaries:
        text = 'No KPIs yet. Add one with `/kpi add signup_rate "Signup conversion" min 2 max 5`.'
        return Message(text, [section(text)])
    chunks = pack_lines([_line(s) for s in summaries])
    room = MAX_BLOCKS - 2
    blocks: list[Block] = [header(f"KPIs ({len(summaries)})")]
    blocks += [section(chunk) for chunk in chunks[:room]]
    if len(chunks) > room:
        blocks.append(context("More KPIs than fit here: see one with `/kpi show KEY`."))
    alerting = sum(1 for s in summaries if s["alert"]["state"] != "ok")
    return Message(f"{len(summaries)} KPIs, {alerting} alerting", blocks)


def render_kpi_show(
    summary: dict[str, Any], alerts_30_days: int | None = None, chart_file_id: str | None = None
) -> Message:
    """One KPI: its state, its chart (or a sparkline), and how its rules would have done."""
    recent = summary.get("recent", [])
    values = [point["value"] for point in recent]
    blocks: list[Block] = [
        header(f"{summary['name']} ({summary['key']})"[:150]),
        section(_line(summary)),
    ]
    if chart_file_id:
        blocks.append(
            {
                "type": "image",
                "slack_file": {"id": chart_file_id},
                "alt_text": f"{summary['name']}: recent values and the normal range"[:2000],
            }
        )
    elif values:
        # In each reader's own zone: `/kpi show` may be read anywhere.
        first = slack_datetime(_instant(recent[0]["at"]))
        last = slack_datetime(_instant(recent[-1]["at"]))
        blocks.append(
            section(
                f"`{sparkline(values)}`\n{len(values)} latest values, {first} → {last} · "
                f"low {value_with_unit(min(values), None)} · "
                f"high {value_with_unit(max(values), None)}"
            )
        )
    normal = summary["normal_range"]
    notes = [f"{summary.get('measurements', 0)} measurements"]
    if normal["learning"]:
        notes.append(
            f"not alerting yet: the normal range is learned once there are "
            f"{normal['min_history']} measurements"
        )
    if summary.get("expected_interval_seconds"):
        notes.append(f"expects data {describe_every(summary['expected_interval_seconds'])}")
    if alerts_30_days is not None and not normal["learning"]:
        would = "alert" if alerts_30_days == 1 else "alerts"
        notes.append(
            f"its current rules would have raised {alerts_30_days} {would} in the last 30 days"
        )
    if summary.get("channel"):
        notes.append(f"alerts go to <#{summary['channel']}>")
    blocks.append(context(" · ".join(notes)))
    return Message(f"{summary['key']}: {_line(summary)}".replace("*", ""), blocks)


def render_kpi_recorded(summary: dict[str, Any], value: float, at: datetime) -> str:
    """The reply to `/kpi record`: what was stored, and whether the KPI is alerting."""
    state = summary["alert"]["state"]
    suffix = "" if state == "ok" else f" The KPI is alerting ({state.replace('_', ' ')})."
    return (
        f":white_check_mark: Recorded {value_with_unit(value, None)} for "
        f"*{escape(summary['key'])}* at {at:%Y-%m-%d %H:%M} UTC.{suffix}"
    )
