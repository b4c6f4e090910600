"""Block Kit rendering: pure functions from report data to message payloads.

Every message carries a plain-text fallback and stays inside Slack's limits
(50 blocks, 3000 characters a section) for any workspace size: beyond a
handful of objectives the summary turns compact, and beyond what fits it says
how many it left out and how to see them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.okrs.service import format_number
from bot.okrs.status import KeyResultView, ObjectiveView, StatusReport

Block = dict[str, Any]

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
FULL_MODE_MAX_OBJECTIVES = 12
STATUS_EMOJI = {
    "on_track": ":large_green_circle:",
    "at_risk": ":large_yellow_circle:",
    "off_track": ":red_circle:",
    None: ":white_circle:",
}
STATUS_LABEL = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}
# `<` and `>` are control characters in mrkdwn, even inside backticks.
DETAIL_HINT = "Details of one objective: `/okr status O-&lt;n&gt;`"


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[Block]
    thread_ts: str | None = None  # set for replies in a thread

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def progress_bar(fraction: float, width: int = 10) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def percent(fraction: float) -> str:
    return f"{round(fraction * 100)}%"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip_mrkdwn(text: str, limit: int) -> str:
    """Clip mrkdwn without ending inside an escape (`&amp;`) or a mention (`<@U…>`)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    if cut.rfind("&") > cut.rfind(";"):
        cut = cut[: cut.rfind("&")]
    return cut + "…"


def section(text: str) -> Block:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _clip_mrkdwn(text, SECTION_LIMIT)},
    }


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip_mrkdwn(text, 3000)}]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, HEADER_LIMIT)}}


def _plain(text: str) -> str:
    """Header blocks are plain text: spell out <@U…>/<#C…> references Slack won't render."""
    import re

    return re.sub(r"<[@#]([A-Z0-9]+)(?:\|([^>]*))?>", lambda m: m.group(2) or m.group(1), text)


def escape(text: str) -> str:
    """Escape user text for mrkdwn so a title cannot inject mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def value_with_unit(value: float | None, unit: str | None) -> str:
    shown = format_number(value)
    if unit is None or value is None:
        return shown
    return f"{shown}{unit}" if unit == "%" else f"{shown} {escape(unit)}"


def key_result_value(kr: KeyResultView) -> str:
    if kr.kind == "boolean":
        return "done" if kr.progress >= 1 else "not done yet"
    if kr.kind == "range":
        window = f"{format_number(kr.low)}–{value_with_unit(kr.high, kr.unit)}"
        inside = "inside" if kr.progress >= 1 else "outside"
        if kr.current is None:
            return f"no value yet (keep within {window})"
        return f"{value_with_unit(kr.current, kr.unit)} ({inside} {window})"
    return f"{format_number(kr.current)} → {value_with_unit(kr.target, kr.unit)}"


def person(user_id: str, names: dict[str, str] | None) -> str:
    """A known display name (no notification when a report is posted in a channel),
    else a mention, which Slack renders as the name."""
    name = (names or {}).get(user_id)
    return escape(name) if name else f"<@{user_id}>"


def key_result_line(kr: KeyResultView, names: dict[str, str] | None = None) -> str:
    """One line per key result: status, id, title, value vs target, progress, flags."""
    parts = [
        f"{STATUS_EMOJI.get(kr.status, ':white_circle:')} *KR-{kr.number}* {escape(kr.title)}",
        key_result_value(kr),
        f"{percent(kr.progress)}",
    ]
    if kr.confidence is not None:
        parts.append(f"confidence {kr.confidence}/10")
    parts.append(person(kr.owner_id, names))
    line = " · ".join(parts)
    flags = []
    if kr.behind_pace and kr.expected is not None:
        gap = round((kr.expected - kr.progress) * 100)
        said = " though marked on track" if kr.status == "on_track" else ""
        flags.append(
            f":warning: {gap} pts behind pace{said} (expected {percent(kr.expected)} by now)"
        )
    if kr.stale:
        flags.append(":hourglass: no check-in last period")
    if flags:
        line += "\n      " + " · ".join(flags)
    return line


def objective_heading(objective: ObjectiveView, names: dict[str, str] | None = None) -> str:
    parent = f" · under O-{objective.parent_number}" if objective.parent_number else ""
    done = "" if objective.status == "active" else f" · _{objective.status}_"
    return (
        f"*O-{objective.number} {escape(objective.title)}*{done}\n"
        f"`{progress_bar(objective.progress)}` *{percent(objective.progress)}* · "
        f"{person(objective.owner_id, names)} · {objective.cycle}{parent}"
    )


def pack_lines(lines: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Group lines into chunks that each fit one section."""
    return ["\n".join(group) for group in _group_lines(lines, limit)]


def _group_lines(lines: list[str], limit: int = SECTION_LIMIT) -> list[list[str]]:
    """Group lines so that each group, joined by newlines, fits one section.

    Callers count what they show by group length: a line may itself contain newlines.
    """
    groups: list[list[str]] = []
    size = 0
    for line in lines:
        line = _clip_mrkdwn(line, limit)
        if groups and size + 1 + len(line) <= limit:
            groups[-1].append(line)
            size += 1 + len(line)
        else:
            groups.append([line])
            size = len(line)
    return groups


def _summary_line(report: StatusReport) -> str:
    objectives = report.objectives
    key_results = [kr for o in objectives for kr in o.key_results]
    at_risk = sum(o.at_risk for o in objectives)
    behind = sum(o.behind for o in objectives)
    stale = sum(1 for kr in key_results if kr.stale)
    parts = [
        f"{len(objectives)} objective{'s' if len(objectives) != 1 else ''}",
        f"{len(key_results)} key result{'s' if len(key_results) != 1 else ''}",
        f"average progress {percent(report.average_progress)}",
    ]
    if at_risk:
        parts.append(f"{at_risk} at risk or off track")
    if behind:
        parts.append(f"{behind} behind pace")
    if stale:
        parts.append(f"{stale} without a check-in last period")
    return " · ".join(parts)


def _title_blocks(title: str) -> tuple[Block, str | None]:
    """A header, plus the scope as mrkdwn when it names a channel or user.

    Header blocks are plain text, where `<#C…>` would show as a bare id; the
    mention goes to a context line, where Slack renders it as #channel or @name.
    """
    head, _, scope = title.partition(" · ")
    if scope and "<" in scope:
        return header(head), scope
    return header(_plain(title)), None


def render_status(report: StatusReport) -> Message:
    title_block, scope = _title_blocks(report.title)
    if not report.objectives:
        return Message(
            text=_plain(report.empty_message),
            blocks=[title_block, section(report.empty_message)],
        )
    if report.detail:
        return _render_detail(report.objectives[0], report)
    summary = _summary_line(report)
    fallback = f"{_plain(report.title)}: {summary}"
    summary_line = f"{scope} · {summary}" if scope else summary
    blocks: list[Block] = [title_block, context(summary_line)]
    if len(report.objectives) <= FULL_MODE_MAX_OBJECTIVES:
        for objective in report.objectives:
            blocks.append(section(objective_heading(objective, report.names)))
            blocks.extend(_key_result_sections(objective, budget=2, names=report.names))
            blocks.append({"type": "divider"})
        blocks.pop()
        if len(blocks) <= MAX_BLOCKS - 1:
            blocks.append(context(DETAIL_HINT))
            return Message(fallback, blocks)
    return Message(fallback, _compact_blocks(report, blocks[:2]))


def _key_result_sections(
    objective: ObjectiveView, budget: int, names: dict[str, str] | None = None
) -> list[Block]:
    if not objective.key_results:
        return [
            context(
                f"No key results yet — add one with `/okr kr add O-{objective.number} "
                '"Title" from X to Y`'
            )
        ]
    lines = [key_result_line(kr, names) for kr in objective.key_results]
    groups = _group_lines(lines)
    if len(groups) <= budget:
        return [section("\n".join(group)) for group in groups]
    shown = groups[: budget - 1]
    hidden = len(lines) - sum(len(group) for group in shown)
    return [section("\n".join(group)) for group in shown] + [
        context(f"… and {hidden} more key results — see `/okr status O-{objective.number}`")
    ]


def _compact_line(objective: ObjectiveView, names: dict[str, str] | None = None) -> str:
    extras = [f"{len(objective.key_results)} KRs"]
    if objective.at_risk:
        extras.append(f":large_yellow_circle: {objective.at_risk} at risk")
    if objective.behind:
        extras.append(f":warning: {objective.behind} behind pace")
    return (
        f"`{progress_bar(objective.progress)}` {percent(objective.progress)} "
        f"*O-{objective.number}* {escape(_clip(objective.title, 80))} · "
        f"{person(objective.owner_id, names)} · " + " · ".join(extras)
    )


def _compact_blocks(report: StatusReport, head: list[Block]) -> list[Block]:
    """One line per objective, packed into sections; say plainly what did not fit."""
    groups = _group_lines([_compact_line(o, report.names) for o in report.objectives])
    room = MAX_BLOCKS - len(head) - 1
    blocks = head + [section("\n".join(group)) for group in groups[:room]]
    shown = sum(len(group) for group in groups[:room])
    hidden = len(report.objectives) - shown
    tail = DETAIL_HINT
    if hidden:
        tail = (
            f"{hidden} more objectives not shown — narrow it with `/okr status #channel`, "
            f"`/okr status @user` or `/okr status O-&lt;n&gt;`"
        )
    blocks.append(context(tail))
    return blocks


def _render_detail(objective: ObjectiveView, report: StatusReport) -> Message:
    blocks: list[Block] = [
        header(_plain(report.title)),
        section(objective_heading(objective, report.names)),
    ]
    if objective.channel_id:
        blocks.append(context(f"Reports to <#{objective.channel_id}>"))
    if not objective.key_results:
        blocks.extend(_key_result_sections(objective, budget=1))
    room = MAX_BLOCKS - len(blocks) - 1
    per_key_result = 2
    fits = room // per_key_result
    for kr in objective.key_results[:fits]:
        blocks.append({"type": "divider"})
        blocks.append(section(key_result_line(kr, report.names) + "\n" + _history(kr)))
    hidden = len(objective.key_results) - fits
    if hidden > 0:
        blocks.append(context(f"… and {hidden} more key results not shown"))
    text = (
        f"O-{objective.number} {escape(objective.title)}: {percent(objective.progress)} "
        f"across {len(objective.key_results)} key results"
    )
    return Message(text, blocks)


def _history(kr: KeyResultView) -> str:
    if not kr.recent:
        return "_No check-ins yet._"
    lines = []
    for check_in in kr.recent:
        status = STATUS_LABEL.get(check_in.status or "", "no status")
        note = f" — “{escape(_clip(check_in.note, 200))}”" if check_in.note else ""
        author = f" · <@{check_in.author_id}>" if check_in.author_id else ""
        lines.append(
            f"> {check_in.at:%Y-%m-%d} · {value_with_unit(check_in.value, kr.unit)} · "
            f"{status}{author}{note}"
        )
    return "\n".join(lines)


def render_error(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def render_home(report: StatusReport) -> dict[str, Any]:
    """The App Home tab: the viewer's own objectives and key results."""
    message = render_status(report)
    blocks = [
        header("Your OKRs"),
        *message.blocks[1:],
        {"type": "divider"},
        context(
            "Type `/okr help` in any channel for commands · "
            "`/okr status` shows a channel's objectives"
        ),
    ]
    return {"type": "home", "blocks": blocks[:100]}
