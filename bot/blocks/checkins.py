"""Block Kit for the check-in flow: prompt DMs, reminders, the modal and digests (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.blocks.common import (
    MAX_BLOCKS,
    Block,
    Message,
    clip,
    context,
    escape,
    escape_keeping_references,
    header,
    number,
    pack_lines,
    percent,
    plural,
    progress_bar,
    section,
    value_with_unit,
)
from bot.blocks.goals import candidate_blocks
from bot.blocks.habits import AwayOwner, away_line
from bot.blocks.kpis import kpi_health_line
from bot.blocks.status import STATUS_EMOJI
from bot.core.kpi_health import ImprovementCandidate, KpiHealth
from bot.core.progress import STATUSES

MODAL_MAX_KEY_RESULTS = 16  # 6 blocks each, under the 100-block modal limit
CHECKIN_CALLBACK = "checkin_submit"
MAX_CANDIDATES = 3  # candidate improvement goals named in one digest
ACTION_OPEN_ONE = "checkin_open_one"
ACTION_NO_CHANGE = "checkin_same"
ACTION_OPEN_ALL = "checkin_open_all"
ACTION_SKIP = "checkin_skip"


@dataclass(frozen=True)
class Recorded:
    """What one check-in stored, for confirmations and the prompt it answered."""

    key_result_number: int
    title: str
    value: float | None
    status: str | None
    confidence: int | None
    note: str | None
    unit: str | None
    on_behalf_of: str | None = None  # the owner, when someone else entered it
    # `same` / `no change`: the period answered, the value as it was.
    no_change: bool = False


def recorded_facts(recorded: Recorded) -> str:
    """`150 teams · at risk · confidence 7/10 — “note”` as mrkdwn."""
    parts = []
    if recorded.no_change:
        parts.append("no change")
    if recorded.value is not None:
        parts.append(value_with_unit(recorded.value, recorded.unit))
    if recorded.status:
        parts.append(STATUSES[recorded.status])
    if recorded.confidence is not None:
        parts.append(f"confidence {recorded.confidence}/10")
    line = " · ".join(parts)
    if recorded.note:
        line += f" — “{escape(recorded.note)}”"
    return line


def describe_recorded(recorded: Recorded) -> str:
    """`*KR-4* Title · 150 teams · at risk — “note”` as mrkdwn."""
    line = (
        f"*KR-{recorded.key_result_number}* {escape(recorded.title)} · {recorded_facts(recorded)}"
    )
    if recorded.on_behalf_of:
        line += f" (for <@{recorded.on_behalf_of}>)"
    return line


def render_recorded(recorded: list[Recorded]) -> str:
    """The DM confirmation after a free-text check-in."""
    lines = "\n".join(f"• {describe_recorded(item)}" for item in recorded)
    return f":white_check_mark: Recorded:\n{lines}"


LINE_QUOTE = 80
PROBLEMS_SHOWN = 20


def _quoted_line(text: str) -> str:
    shown = text if len(text) <= LINE_QUOTE else text[: LINE_QUOTE - 1] + "…"
    plain = shown.replace("`", "'")
    return f"`{escape(plain)}`"


def render_reply(
    recorded: list[Recorded],
    problems: list[tuple[int, str, str]],
    *,
    edited: bool,
    replaced: int,
    help_text: str,
) -> str:
    """The DM answer to a free-text check-in: what was stored, then each line that was
    not, with its number and the reason (`problems` are (line, text, reason))."""
    parts = []
    if recorded:
        title = "Updated from your edited message" if edited else "Recorded"
        lines = "\n".join(f"• {describe_recorded(item)}" for item in recorded)
        parts.append(f":white_check_mark: {title}:\n{lines}")
    elif edited and replaced:
        taken = "the check-in" if replaced == 1 else f"the {replaced} check-ins"
        parts.append(
            ":pencil2: Your edited message has no check-in in it any more, "
            f"so I took back {taken} it had recorded."
        )
    if problems:
        shown = [
            f"• line {line} {_quoted_line(text)}: {escape_keeping_references(reason)}"
            for line, text, reason in problems[:PROBLEMS_SHOWN]
        ]
        if len(problems) > PROBLEMS_SHOWN:
            shown.append(f"• …and {len(problems) - PROBLEMS_SHOWN} more lines like these")
        lines = "\n".join(shown)
        lead = "Not recorded, I could not read" if recorded else "I could not read that"
        parts.append(f":warning: {lead}:\n{lines}")
        if not recorded:
            parts.append(help_text)
    if not parts:
        parts.append(help_text)
    return "\n".join(parts)


def render_taken_back(count: int) -> str:
    """The DM answer when a person deletes a message that had recorded check-ins."""
    taken = "the check-in" if count == 1 else f"the {count} check-ins"
    return f":wastebasket: You deleted your message, so I took back {taken} it had recorded."


def render_small_talk(kind: str, help_text: str) -> str:
    """A friendly one-liner for `thanks!`, `ok`, `hi` or an emoji; `help` gets the help."""
    if kind == "greeting":
        return (
            ":wave: Hi! Whenever you have an update, reply here with a key result and "
            "its value, one per line (`help` shows how)."
        )
    if kind == "thanks":
        return "You're welcome! :slightly_smiling_face:"
    return f":wave: I collect your weekly OKR check-ins. {help_text} Or use `/okr checkin`."


@dataclass(frozen=True)
class KeyResultLine:
    number: int
    title: str
    kind: str
    current: float | None
    target: float | None
    low: float | None
    high: float | None
    unit: str | None
    progress: float
    status: str | None = None
    confidence: int | None = None
    # What this prompt recorded for it, if anything.
    recorded: Recorded | None = None


@dataclass(frozen=True)
class PromptView:
    prompt_id: int
    period_start: datetime
    key_results: list[KeyResultLine]
    skipped: bool = False
    answered: bool = False


def _where_it_stands(kr: KeyResultLine) -> str:
    if kr.kind == "boolean":
        return "done" if kr.progress >= 1 else "not done yet"
    if kr.kind == "range":
        window = f"{number(kr.low)}–{value_with_unit(kr.high, kr.unit)}"
        last = f"last {value_with_unit(kr.current, kr.unit)}" if kr.current is not None else None
        return f"{last or 'no value yet'} · keep within {window}"
    last = f"last {number(kr.current)}" if kr.current is not None else "no value yet"
    return f"{last} → target {value_with_unit(kr.target, kr.unit)} · {percent(kr.progress)}"


# Push notifications show the first line only: name this many key results, then count.
PUSH_KEY_RESULTS = 3


def _push_text(title: str, key_results: list[KeyResultLine]) -> str:
    """`Your weekly check-in: where do KR-2 Signups and KR-5 Churn stand?` — with titles,
    since a bare id means nothing on a lock screen."""
    named = [f"KR-{kr.number} {escape(clip(kr.title, 40))}" for kr in key_results]
    shown = named[:PUSH_KEY_RESULTS]
    if len(named) > PUSH_KEY_RESULTS:
        shown.append(f"{len(named) - PUSH_KEY_RESULTS} more")
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    return (
        f"{title}: where do {listed} stand?"
        if len(named) > 1
        else f"{title}: where does {listed} stand?"
    )


def _reply_hint(key_results: list[KeyResultLine]) -> str:
    """The DM example, with one of the recipient's own key results (not someone else's)."""
    kr = key_results[0]
    value = ("done" if kr.progress < 1 else "not done") if kr.kind == "boolean" else _example(kr)
    return (
        f"Or just reply here, e.g. `KR-{kr.number} {value}` or "
        f"`KR-{kr.number} {value} at risk: what changed`"
    )


def _carried(kr: KeyResultLine) -> str:
    """What a check-in keeps unless it says otherwise (the carry-over rule), as mrkdwn."""
    parts = []
    if kr.status in STATUSES:
        parts.append(f"status _{STATUSES[kr.status]}_")
    if kr.confidence is not None:
        parts.append(f"confidence {kr.confidence}/10")
    if not parts:
        return ""
    return f"Keeps {' and '.join(parts)} unless you change it"


def render_prompt(view: PromptView, *, reminder: bool = False) -> Message:
    """The weekly DM: per key result what it stands at, with Update and No change (or what
    was recorded), then Update all. A reminder says which key results are still missing."""
    week = f"{view.period_start:%b} {view.period_start.day}"
    title = "Reminder: your weekly check-in" if reminder else "Your weekly check-in"
    blocks: list[Block] = [header(f"{title} · week of {week}")]
    if view.skipped:
        blocks.append(
            section(":palm_tree: You're out this week — no reminders. See you next week!")
        )
        return Message(f"{title}: skipped this week", blocks)
    pending = [kr for kr in view.key_results if not kr.recorded]
    if reminder and pending:
        names = ", ".join(f"*KR-{kr.number}* {escape(kr.title)}" for kr in pending)
        blocks.append(section(f":hourglass: Still to check in: {names}"))
    room = (MAX_BLOCKS - len(blocks) - 3) // 2
    for kr in view.key_results[:room]:
        text = f"*KR-{kr.number}* {escape(kr.title)}\n{_where_it_stands(kr)}"
        if kr.recorded:
            text += f"\n:white_check_mark: Recorded {recorded_facts(kr.recorded)}"
            blocks.append(section(text))
            continue
        blocks.append(section(text))
        value = json.dumps({"prompt": view.prompt_id, "kr": kr.number})
        blocks.append(
            {
                "type": "actions",
                "block_id": f"kr{kr.number}_actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Update"},
                        "action_id": f"{ACTION_OPEN_ONE}:{kr.number}",
                        "value": value,
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "No change"},
                        "action_id": f"{ACTION_NO_CHANGE}:{kr.number}",
                        "value": value,
                    },
                ],
            }
        )
    if pending:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Update all"},
                        "action_id": ACTION_OPEN_ALL,
                        "value": str(view.prompt_id),
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Out this week"},
                        "action_id": ACTION_SKIP,
                        "value": str(view.prompt_id),
                    },
                ],
            }
        )
        blocks.append(context(_reply_hint(pending)))
    else:
        blocks.append(context(":tada: All recorded for this week — thank you!"))
    if not view.key_results:
        return Message(f"{title} · week of {week}", blocks)
    if not reminder:
        return Message(_push_text(title, view.key_results), blocks)
    if not pending:
        return Message(f"{title}: all recorded", blocks)
    return Message(_push_text(title, pending), blocks)  # names only what is still missing


def render_saved(recorded: list[Recorded]) -> dict[str, Any]:
    """The modal after Save: what was stored, so every save is confirmed."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Check-in saved"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": [section(render_recorded(recorded))],
    }


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


STATUS_OPTIONS = [_option(label.capitalize(), key) for key, label in STATUSES.items()]
CONFIDENCE_OPTIONS = [_option(f"{n}/10", str(n)) for n in range(11)]
BOOLEAN_OPTIONS = [_option("Done", "done"), _option("Not done", "not done")]
NO_CHANGE_OPTIONS = [_option("No change this week", "same")]


def checkin_modal(key_results: list[KeyResultLine], metadata: dict[str, Any]) -> dict[str, Any]:
    """One group of inputs per key result; all optional, validated on submit."""
    shown = key_results[:MODAL_MAX_KEY_RESULTS]
    blocks: list[Block] = []
    for kr in shown:
        n = kr.number
        carried = _carried(kr)
        blocks.append(
            section(
                f"*KR-{n}* {escape(kr.title)}\n{_where_it_stands(kr)}"
                + (f"\n{carried}" if carried else "")
            )
        )
        if kr.kind == "boolean":
            value_element: dict[str, Any] = {
                "type": "static_select",
                "action_id": "value",
                "placeholder": {"type": "plain_text", "text": "Done?"},
                "options": BOOLEAN_OPTIONS,
            }
        else:
            value_element = {
                "type": "plain_text_input",
                "action_id": "value",
                "placeholder": {"type": "plain_text", "text": f"e.g. {_example(kr)}"},
            }
        unit = f" ({kr.unit})" if kr.unit else ""
        blocks.append(_input(f"kr{n}_value", f"New value{unit}", value_element))
        blocks.append(
            _input(
                f"kr{n}_same",
                "Or",
                {"type": "checkboxes", "action_id": "same", "options": NO_CHANGE_OPTIONS},
            )
        )
        # Not pre-filled: an empty Save must stay empty; the section says what carries over.
        status_select: dict[str, Any] = {
            "type": "static_select",
            "action_id": "status",
            "options": STATUS_OPTIONS,
        }
        blocks.append(_input(f"kr{n}_status", "Status", status_select))
        confidence: dict[str, Any] = {
            "type": "static_select",
            "action_id": "confidence",
            "options": CONFIDENCE_OPTIONS,
        }
        blocks.append(_input(f"kr{n}_confidence", "Confidence", confidence))
        blocks.append(
            _input(
                f"kr{n}_note",
                "Note",
                {"type": "plain_text_input", "action_id": "note", "multiline": True},
            )
        )
    hidden = len(key_results) - len(shown)
    if hidden:
        blocks.append(
            context(
                f"{plural(hidden, 'more key result', 'more key results')}: "
                "use `/okr checkin KR-&lt;n&gt;` for them"
            )
        )
    return {
        "type": "modal",
        "callback_id": CHECKIN_CALLBACK,
        "title": {"type": "plain_text", "text": "Weekly check-in"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _example(kr: KeyResultLine) -> str:
    if kr.current is not None:
        return number(kr.current)
    return number(kr.low if kr.kind == "range" else kr.target)


def _input(block_id: str, label: str, element: dict[str, Any]) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


# Digest -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestKeyResult:
    number: int
    title: str
    unit: str | None
    value_before: float | None
    value_now: float | None
    status: str | None
    note: str | None
    late: bool = False  # checked in after the digest was first posted


@dataclass(frozen=True)
class DigestObjective:
    number: int
    title: str
    progress_before: float
    progress_now: float
    key_results: list[DigestKeyResult]
    kpis: list[KpiHealth] = field(default_factory=list)  # of the KPIs its KRs follow


@dataclass(frozen=True)
class DigestView:
    channel_id: str
    period_start: datetime
    period_end: datetime
    objectives: list[DigestObjective]
    missing_owners: list[str] = field(default_factory=list)
    # KPIs abnormal for more than a quarter of the last four weeks that no KR follows.
    candidates: list[ImprovementCandidate] = field(default_factory=list)
    away: list[AwayOwner] = field(default_factory=list)  # instead of "not checked in"


def render_digest(view: DigestView) -> Message:
    """Progress per objective, what changed, what is at risk, who has not checked in."""
    week = f"{view.period_start:%b} {view.period_start.day}"
    blocks: list[Block] = [header(f"Weekly OKR digest · week of {week}")]
    lines = []
    for objective in view.objectives:
        delta = round((objective.progress_now - objective.progress_before) * 100)
        change = f"+{delta}" if delta > 0 else str(delta)
        lines.append(
            f"*O-{objective.number} {escape(objective.title)}*\n"
            f"`{progress_bar(objective.progress_now)}` {percent(objective.progress_now)} "
            f"({change} pts this week)"
        )
        if objective.kpis:
            lines.append(kpi_health_line(objective.kpis, view.period_end))
        for kr in objective.key_results:
            moved = ""
            if kr.value_now is not None and kr.value_before != kr.value_now:
                moved = f" {number(kr.value_before)} → {value_with_unit(kr.value_now, kr.unit)}"
            flagged = kr.status in {"at_risk", "off_track"}
            if not moved and not flagged:
                continue
            emoji = STATUS_EMOJI.get(kr.status, ":white_circle:")
            note = f" — “{escape(kr.note)}”" if flagged and kr.note else ""
            status = f" · {STATUSES[kr.status]}" if kr.status in STATUSES else ""
            colon = ":" if moved else ""
            late = " · _late check-in_" if kr.late else ""
            lines.append(
                f"{emoji} KR-{kr.number} {escape(kr.title)}{colon}{moved}{status}{late}{note}"
            )
    chunks = pack_lines(lines)
    candidates = candidate_blocks(view.candidates[:MAX_CANDIDATES])
    room = MAX_BLOCKS - len(blocks) - 2 - len(candidates) - (1 if view.away else 0)
    blocks.extend(section(chunk) for chunk in chunks[:room])
    if len(chunks) > room:
        blocks.append(context("More in `/okr status` for this channel."))
    blocks.extend(candidates)
    if view.away:
        blocks.append(context(away_line(view.away)))
    if view.missing_owners:
        names = ", ".join(f"<@{user}>" for user in view.missing_owners)
        blocks.append(context(f":hourglass: Not checked in this week: {names}"))
    else:
        blocks.append(context(":white_check_mark: Everyone checked in this week."))
    average = (
        sum(o.progress_now for o in view.objectives) / len(view.objectives)
        if view.objectives
        else 0.0
    )
    text = (
        f"Weekly OKR digest: {plural(len(view.objectives), 'objective')}, "
        f"average {percent(average)}, "
        f"{len(view.missing_owners)} not checked in"
    )
    return Message(text, blocks)
