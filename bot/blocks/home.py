"""The App Home tab: what one person has to do and watch, within Slack's 100 blocks.

Sections, in order: Due now (with Update, Update all and Out this week), My key results
(value, progress, pace, trend), Objectives I own (with their key results' owners), Open
KPI alerts (with Acknowledge) and, for admins, the workspace's settings. Each section
shows its first items and a "Show more" button; the whole view never exceeds the limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.blocks.alerts import ACTION_ACK
from bot.blocks.common import (
    Block,
    clip,
    context,
    escape,
    header,
    percent,
    person,
    progress_bar,
    section,
    value_with_unit,
)
from bot.core.progress import STATUSES
from bot.core.schedule import WEEKDAYS, WeeklySlot

MAX_HOME_BLOCKS = 100
# Items shown per section before "Show more", and how many more each click shows.
FIRST_PAGE = {"due": 8, "mine": 10, "owned": 6, "alerts": 5}
PAGE_STEP = 10

ACTION_HOME_UPDATE = "home_update"  # value: key result number
ACTION_HOME_UPDATE_ALL = "home_update_all"
ACTION_HOME_SKIP = "home_skip"
ACTION_HOME_MORE = "home_more"  # value: section name
ACTION_HOME_SETTINGS = "home_settings"
ACTION_HOME_GET_STARTED = "home_get_started"
SETTINGS_CALLBACK = "home_settings_submit"

STATUS_EMOJI = {
    "on_track": ":large_green_circle:",
    "at_risk": ":large_yellow_circle:",
    "off_track": ":red_circle:",
}
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class HomeKeyResult:
    number: int
    title: str
    objective_number: int
    owner_id: str
    kind: str
    unit: str | None
    value: float | None
    target_text: str  # e.g. "→ 200 teams", "inside 0–1.5 s", "done or not"
    progress: float
    behind_pace: bool
    expected: float
    status: str | None
    confidence: int | None
    trend: tuple[float, ...] = ()  # oldest first, last values checked in


@dataclass(frozen=True)
class HomeObjective:
    number: int
    title: str
    cycle: str
    progress: float
    key_results: tuple[HomeKeyResult, ...]


@dataclass(frozen=True)
class HomeAlert:
    alert_id: int
    kpi_key: str
    kpi_name: str
    channel_id: str | None
    value: float | None
    unit: str | None
    state: str  # "open", "acknowledged", "snoozed", "no_data"
    since_text: str


@dataclass(frozen=True)
class HomeSettings:
    slot: WeeklySlot
    reminder_hours: float
    digest_delay_hours: float
    alert_repeat_hours: float


@dataclass(frozen=True)
class HomeView:
    user_id: str
    period_text: str  # "week of Dec 7"
    skipped: bool
    due: tuple[HomeKeyResult, ...]
    mine: tuple[HomeKeyResult, ...]
    owned: tuple[HomeObjective, ...]
    alerts: tuple[HomeAlert, ...]
    names: dict[str, str] = field(default_factory=dict)
    settings: HomeSettings | None = None  # admins only


def sparkline(values: tuple[float, ...]) -> str:
    """A trend in eight heights: the last check-ins, scaled between their own min and max."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[3] * len(values)
    return "".join(SPARKS[round((v - low) / (high - low) * (len(SPARKS) - 1))] for v in values)


def _kr_text(kr: HomeKeyResult) -> str:
    emoji = STATUS_EMOJI.get(kr.status or "", ":white_circle:")
    value = "no value yet" if kr.value is None else value_with_unit(kr.value, kr.unit)
    if kr.kind == "boolean":  # a yes/no key result reads done or not, never 0 or 1
        value = "done" if kr.value is not None and kr.value >= 1 else "not done yet"
    parts = [f"{value} {escape(kr.target_text)}".strip(), percent(kr.progress)]
    if kr.confidence is not None:
        parts.append(f"confidence {kr.confidence}/10")
    trend = sparkline(kr.trend) if kr.kind != "boolean" else ""
    if trend:
        parts.append(f"`{trend}`")
    line = f"{emoji} *KR-{kr.number}* {escape(clip(kr.title, 120))}\n" + " · ".join(parts)
    if kr.behind_pace:
        line += f"\n:warning: behind pace (expected {percent(kr.expected)} by now)"
    return line


def _update_button(kr: HomeKeyResult) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": "Update"},
        "action_id": f"{ACTION_HOME_UPDATE}:{kr.number}",
        "value": str(kr.number),
    }


def _more(section_name: str, hidden: int) -> Block:
    return {
        "type": "actions",
        "block_id": f"more_{section_name}",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": f"Show more ({hidden} more)"},
                "action_id": f"{ACTION_HOME_MORE}:{section_name}",
                "value": section_name,
            }
        ],
    }


def _due_blocks(view: HomeView, limit: int) -> list[Block]:
    blocks: list[Block] = [header(f"Due now · {view.period_text}")]
    if view.skipped:
        return [*blocks, context(":palm_tree: You are out this week: no check-in is asked.")]
    if not view.due:
        return [*blocks, context(":white_check_mark: Nothing due: every key result is updated.")]
    blocks.extend(_key_result_rows(view.due, limit, "due"))
    blocks.append(
        {
            "type": "actions",
            "block_id": "due_actions",
            "elements": [
                {
                    "type": "button",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Update all"},
                    "action_id": ACTION_HOME_UPDATE_ALL,
                    "value": "due",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Out this week"},
                    "action_id": ACTION_HOME_SKIP,
                    "value": "skip",
                },
            ],
        }
    )
    return blocks


def _mine_blocks(view: HomeView, limit: int) -> list[Block]:
    blocks: list[Block] = [header("My key results")]
    if not view.mine:
        empty = section(
            "You have no key results yet. When someone makes you the owner of one, it shows "
            "here and okrbot asks you about it once a week."
        )
        empty["accessory"] = {
            "type": "button",
            "text": {"type": "plain_text", "text": "How to start"},
            "action_id": ACTION_HOME_GET_STARTED,
            "value": "start",
        }
        return [*blocks, empty]
    return [*blocks, *_key_result_rows(view.mine, limit, "mine")]


def get_started_modal() -> dict[str, Any]:
    """What a newcomer types to set up their first objective and key result."""
    steps = (
        '*1.* In a channel, create an objective: `/okr objective add "Grow weekly active '
        'teams"` (it reports to that channel).\n'
        '*2.* Give it a key result you own: `/okr kr add O-1 "Weekly active teams" from 120 '
        "to 200 unit teams` (add `owner @name` to give it to someone else).\n"
        "*3.* Each week okrbot sends you a DM asking where it stands; reply there or use "
        "the Update button on this tab.\n"
        "*4.* `/okr status` shows a channel's objectives, `/okr status @me` yours, and "
        "`/okr help` every command."
    )
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Getting started"},
        "close": {"type": "plain_text", "text": "Got it"},
        "blocks": [section(steps)],
    }


def _key_result_rows(
    key_results: tuple[HomeKeyResult, ...], limit: int, section_name: str
) -> list[Block]:
    """One section per key result with its Update button, then Show more if some are left."""
    rows: list[Block] = []
    for kr in key_results[:limit]:
        block = section(_kr_text(kr))
        block["accessory"] = _update_button(kr)
        rows.append(block)
    if len(key_results) > limit:
        rows.append(_more(section_name, len(key_results) - limit))
    return rows


def _owned_blocks(view: HomeView, limit: int) -> list[Block]:
    blocks: list[Block] = [header("Objectives I own")]
    if not view.owned:
        return [*blocks, context("You own no active objective.")]
    for objective in view.owned[:limit]:
        lines = [
            f"*O-{objective.number}* {escape(clip(objective.title, 150))}",
            f"`{progress_bar(objective.progress)}` {percent(objective.progress)} · "
            f"{escape(objective.cycle)}",
        ]
        for kr in objective.key_results[:8]:
            emoji = STATUS_EMOJI.get(kr.status or "", ":white_circle:")
            flag = " · :warning: behind pace" if kr.behind_pace else ""
            if kr.kind == "boolean":
                done = kr.value is not None and kr.value >= 1
                shown = "done" if done else "not done yet"
            else:
                shown = percent(kr.progress)
            lines.append(
                f"{emoji} KR-{kr.number} {escape(clip(kr.title, 80))} · {shown}"
                f" · {person(kr.owner_id, view.names)}{flag}"
            )
        hidden = len(objective.key_results) - 8
        if hidden > 0:
            lines.append(f"…and {hidden} more: `/okr status O-{objective.number}`")
        if not objective.key_results:
            lines.append("_no key results yet_")
        blocks.append(section("\n".join(lines)))
    if len(view.owned) > limit:
        blocks.append(_more("owned", len(view.owned) - limit))
    return blocks


ALERT_STATE = {
    "open": ":rotating_light: open",
    "acknowledged": ":eyes: acknowledged",
    "snoozed": ":zzz: snoozed",
    "no_data": ":mailbox_with_no_mail: no data",
}


def _alert_blocks(view: HomeView, limit: int) -> list[Block]:
    blocks: list[Block] = [header("Open KPI alerts")]
    if not view.alerts:
        return [*blocks, context(":white_check_mark: No open alert in your channels or KPIs.")]
    for alert in view.alerts[:limit]:
        where = f" in <#{alert.channel_id}>" if alert.channel_id else ""
        value = "" if alert.value is None else f" · {value_with_unit(alert.value, alert.unit)}"
        block = section(
            f"*{escape(clip(alert.kpi_name, 100))}* (`{escape(alert.kpi_key)}`){where}\n"
            f"{ALERT_STATE.get(alert.state, alert.state)}{value} · since {alert.since_text}"
        )
        if alert.state in ("open", "no_data"):
            block["accessory"] = {
                "type": "button",
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "action_id": ACTION_ACK,
                "value": str(alert.alert_id),
            }
        blocks.append(block)
    if len(view.alerts) > limit:
        blocks.append(_more("alerts", len(view.alerts) - limit))
    return blocks


def _settings_blocks(settings: HomeSettings) -> list[Block]:
    reminder = _hours(settings.reminder_hours)
    digest = _hours(settings.digest_delay_hours)
    repeat = _hours(settings.alert_repeat_hours)
    block = section(
        f"Check-ins every *{settings.slot.describe()}* (each owner's time zone) · reminder "
        f"after *{reminder}* · digest *{digest}* after a period closes · alert reminders "
        f"every *{repeat}*"
    )
    block["accessory"] = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Edit settings"},
        "action_id": ACTION_HOME_SETTINGS,
        "value": "settings",
    }
    return [header("Workspace settings (admins)"), block]


def _hours(hours: float) -> str:
    if hours == 0:
        return "right away"
    if hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{hours:g} h"


def render_home_tab(view: HomeView, pages: dict[str, int] | None = None) -> dict[str, Any]:
    """The Home tab view; `pages` holds how many items each section shows (Show more)."""
    limits = {**FIRST_PAGE, **(pages or {})}
    parts = [
        _due_blocks(view, limits["due"]),
        _mine_blocks(view, limits["mine"]),
        _owned_blocks(view, limits["owned"]),
        _alert_blocks(view, limits["alerts"]),
    ]
    if view.settings is not None:
        parts.append(_settings_blocks(view.settings))
    blocks: list[Block] = []
    for index, part in enumerate(parts):
        if index:
            blocks.append({"type": "divider"})
        blocks.extend(part)
    if len(blocks) > MAX_HOME_BLOCKS:
        # Show more asked for more than fits: keep the start, say what was cut.
        blocks = blocks[: MAX_HOME_BLOCKS - 1]
        blocks.append(context("The Home tab is full: `/okr status @me` lists everything."))
    return {"type": "home", "callback_id": "okrbot_home", "blocks": blocks}


def settings_modal(settings: HomeSettings) -> dict[str, Any]:
    """Admins change the weekly check-in slot and the delays (in hours)."""

    def option(index: int) -> dict[str, Any]:
        return {
            "text": {"type": "plain_text", "text": WEEKDAYS[index].capitalize()},
            "value": str(index),
        }

    def hours_input(block_id: str, label: str, value: float, hint: str) -> Block:
        return {
            "type": "input",
            "block_id": block_id,
            "label": {"type": "plain_text", "text": label},
            "hint": {"type": "plain_text", "text": hint},
            "element": {
                "type": "number_input",
                "action_id": "hours",
                "is_decimal_allowed": True,
                "initial_value": f"{value:g}",
            },
        }

    return {
        "type": "modal",
        "callback_id": SETTINGS_CALLBACK,
        "title": {"type": "plain_text", "text": "okrbot settings"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "weekday",
                "label": {"type": "plain_text", "text": "Check-in day"},
                "element": {
                    "type": "static_select",
                    "action_id": "weekday",
                    "options": [option(i) for i in range(7)],
                    "initial_option": option(settings.slot.weekday),
                },
            },
            {
                "type": "input",
                "block_id": "time",
                "label": {"type": "plain_text", "text": "Check-in time (HH:MM, owner's zone)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "time",
                    "initial_value": settings.slot.local_time,
                },
            },
            hours_input(
                "reminder",
                "Reminder after (hours)",
                settings.reminder_hours,
                "more than 0, up to 144",
            ),
            hours_input("digest", "Digest delay (hours)", settings.digest_delay_hours, "0 to 144"),
            hours_input(
                "escalation",
                "Alert reminders every (hours)",
                settings.alert_repeat_hours,
                "more than 0, up to 720",
            ),
        ],
    }


def with_note(view: dict[str, Any], note: str) -> dict[str, Any]:
    """A check-in modal with every key result's note prefilled (message shortcut)."""
    blocks = []
    for block in view.get("blocks", []):
        element = block.get("element") if block.get("type") == "input" else None
        if element and element.get("action_id") == "note":
            block = {**block, "element": {**element, "initial_value": clip(note, 3000)}}
        blocks.append(block)
    return {**view, "blocks": blocks}


def note_from_message(text: str, permalink: str | None) -> str:
    """The note a message shortcut proposes: the message's text, then its link."""
    body = clip(" ".join(text.split()), 2500)
    return f"{body}\n{permalink}" if permalink else body


def status_label(status: str | None) -> str:
    return STATUSES.get(status or "", "no status yet")


def page_value(pages: dict[str, int]) -> str:
    return json.dumps(pages, sort_keys=True)
