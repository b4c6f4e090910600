"""Block Kit rendering: pure functions from report data to message payloads.

Every message carries a plain-text fallback and stays inside Slack's limits
(50 blocks, 3000 characters a section) for any workspace size: beyond a
handful of objectives the summary turns compact, and beyond what fits it says
how many it left out and how to see them.
"""

from __future__ import annotations

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
    group_lines,
    header,
    number,
    percent,
    person,
    plain,
    plural,
    progress_bar,
    section,
    slack_date,
    slack_time,
    value_with_unit,
)
from bot.blocks.kpis import kpi_health_line
from bot.core.kpi_health import KpiHealth
from bot.core.progress import STATUSES, cycle_bounds, has_pace, objective_progress

FULL_MODE_MAX_OBJECTIVES = 12
STATUS_EMOJI = {
    "on_track": ":large_green_circle:",
    "at_risk": ":large_yellow_circle:",
    "off_track": ":red_circle:",
    None: ":white_circle:",
}
STATUS_LABEL = STATUSES
# `<` and `>` are control characters in mrkdwn, even inside backticks.
DETAIL_HINT = "Details of one objective: `/okr status O-&lt;n&gt;`"


# The views a report builds by the thousand (a key result and its check-ins) are slotted
# dataclasses that are not frozen: a frozen one sets every field through
# `object.__setattr__`, which made building them a third of a 1,000-key-result report.
# Nothing changes them after `assemble`; `dataclasses.replace` makes altered copies.


@dataclass(slots=True)
class CheckInView:
    value: float | None
    status: str | None
    confidence: int | None
    note: str | None
    author_id: str | None
    at: datetime
    entered_by: str | None = None  # when someone else typed it on the author's behalf


@dataclass(slots=True)
class KeyResultView:
    number: int
    title: str
    owner_id: str
    kind: str
    start: float | None
    target: float | None
    low: float | None
    high: float | None
    current: float | None
    unit: str | None
    progress: float
    expected: float | None  # None when pace does not apply to the kind
    behind_pace: bool
    status: str | None
    confidence: int | None
    stale: bool
    last_check_in_at: datetime | None
    recent: list[CheckInView] = field(default_factory=list)
    created_at: datetime | None = None
    # Where its pace line starts: the later of the cycle's start and `created_at`.
    pace_from: datetime | None = None


@dataclass(frozen=True)
class ObjectiveView:
    number: int
    title: str
    owner_id: str
    channel_id: str | None
    cycle: str
    status: str
    progress: float
    parent_number: int | None
    key_results: list[KeyResultView]
    # The KPIs its key results follow, with their health (one line under the heading).
    kpis: list[KpiHealth] = field(default_factory=list)

    @property
    def at_risk(self) -> int:
        return sum(1 for kr in self.key_results if kr.status in {"at_risk", "off_track"})

    @property
    def behind(self) -> int:
        return sum(1 for kr in self.key_results if kr.behind_pace)


@dataclass(frozen=True)
class Scope:
    """What a report covers: `all`, one `channel`, one `user`, or one `objective`."""

    kind: str
    channel_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class StatusReport:
    scope: Scope
    objectives: list[ObjectiveView]
    # Display names of the people shown, where known (cached from Slack).
    names: dict[str, str] = field(default_factory=dict)
    at: datetime | None = None  # when it was made (says "since 13:00" or "since Nov 28 …")

    @property
    def detail(self) -> bool:
        return self.scope.kind == "objective"

    @property
    def average_progress(self) -> float:
        """Mean of the objectives; for one person, of the key results listed (theirs)."""
        if self.scope.kind == "user":
            return objective_progress(
                [kr.progress for o in self.objectives for kr in o.key_results]
            )
        return objective_progress([o.progress for o in self.objectives])


def boolean_value(value: float | None) -> str:
    """A yes/no key result's value as people say it, never `0` or `1`."""
    if value is None:
        return "not done yet"
    return "done" if value >= 1 else "not done"


def key_result_value(kr: KeyResultView) -> str:
    if kr.kind == "boolean":
        return "done" if kr.progress >= 1 else "not done yet"
    if kr.kind == "range":
        window = f"{number(kr.low)}–{value_with_unit(kr.high, kr.unit)}"
        inside = "inside" if kr.progress >= 1 else "outside"
        if kr.current is None:
            return f"no value yet (keep within {window})"
        return f"{value_with_unit(kr.current, kr.unit)} ({inside} {window})"
    return f"{number(kr.current)} → {value_with_unit(kr.target, kr.unit)}"


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


def objective_heading(
    objective: ObjectiveView, names: dict[str, str] | None = None, now: datetime | None = None
) -> str:
    parent = f" · under O-{objective.parent_number}" if objective.parent_number else ""
    done = "" if objective.status == "active" else f" · _{objective.status}_"
    heading = (
        f"*O-{objective.number} {escape(objective.title)}*{done}\n"
        f"`{progress_bar(objective.progress)}` *{percent(objective.progress)}* · "
        f"{person(objective.owner_id, names)} · {objective.cycle}{parent}"
    )
    health = kpi_health_line(objective.kpis, now)
    return f"{heading}\n{health}" if health else heading


def _summary_line(report: StatusReport) -> str:
    objectives = report.objectives
    key_results = [kr for o in objectives for kr in o.key_results]
    at_risk = sum(o.at_risk for o in objectives)
    behind = sum(o.behind for o in objectives)
    stale = sum(1 for kr in key_results if kr.stale)
    parts = [
        plural(len(objectives), "objective"),
        plural(len(key_results), "key result"),
        f"average progress {percent(report.average_progress)}",
    ]
    if at_risk:
        parts.append(f"{at_risk} at risk or off track")
    if behind:
        parts.append(f"{behind} behind pace")
    if stale:
        parts.append(f"{stale} without a check-in last period")
    alerting = {k.key for o in objectives for k in o.kpis if k.state in {"alert", "no_data"}}
    if alerting:
        parts.append(f"{plural(len(alerting), 'KPI')} in alert")
    return " · ".join(parts)


def _title(report: StatusReport) -> tuple[str, str | None]:
    """The header (plain text) and, for a channel or a person, the scope as mrkdwn.

    Header blocks are plain text, where `<#C…>` would show as a bare id; the scope
    goes to the context line, where Slack renders it as #channel.
    """
    scope = report.scope
    if scope.kind == "objective" and report.objectives:
        objective = report.objectives[0]
        return f"O-{objective.number} · {objective.title}", None
    if scope.kind == "channel" and scope.channel_id:
        return "OKR status", f"<#{scope.channel_id}>"
    if scope.kind == "user" and scope.user_id:
        return "OKR status", person(scope.user_id, report.names)
    return "OKR status · all objectives", None


def _empty_text(report: StatusReport) -> str:
    scope = report.scope
    if scope.kind == "channel" and scope.channel_id:
        return f"No objectives report to <#{scope.channel_id}> yet."
    if scope.kind == "user" and scope.user_id:
        return f"{person(scope.user_id, report.names)} owns no key results in active objectives."
    return 'No objectives yet. Create one with `/okr objective add "Title"`.'


def render_status(report: StatusReport) -> Message:
    title, scope = _title(report)
    if not report.objectives:
        empty = _empty_text(report)
        return Message(text=plain(empty), blocks=[header(title), section(empty)])
    if report.detail:
        return _render_detail(report.objectives[0], report)
    summary = _summary_line(report)
    fallback = f"{title}: {summary}" if scope is None else f"{title} · {plain(scope)}: {summary}"
    summary_line = f"{scope} · {summary}" if scope else summary
    blocks: list[Block] = [header(title), context(summary_line)]
    if len(report.objectives) <= FULL_MODE_MAX_OBJECTIVES:
        for objective in report.objectives:
            blocks.append(section(objective_heading(objective, report.names, report.at)))
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
    groups = group_lines(lines)
    if len(groups) <= budget:
        return [section("\n".join(group)) for group in groups]
    shown = groups[: budget - 1]
    hidden = len(lines) - sum(len(group) for group in shown)
    return [section("\n".join(group)) for group in shown] + [
        context(
            f"… and {plural(hidden, 'more key result', 'more key results')} — "
            f"see `/okr status O-{objective.number}`"
        )
    ]


def _compact_line(objective: ObjectiveView, names: dict[str, str] | None = None) -> str:
    extras = [plural(len(objective.key_results), "KR")]
    if objective.at_risk:
        extras.append(f":large_yellow_circle: {objective.at_risk} at risk")
    if objective.behind:
        extras.append(f":warning: {objective.behind} behind pace")
    alerting = sum(1 for kpi in objective.kpis if kpi.state in {"alert", "no_data"})
    if alerting:
        extras.append(f":rotating_light: {plural(alerting, 'KPI')} in alert")
    return (
        f"`{progress_bar(objective.progress)}` {percent(objective.progress)} "
        f"*O-{objective.number}* {escape(clip(objective.title, 80))} · "
        f"{person(objective.owner_id, names)} · " + " · ".join(extras)
    )


def _compact_blocks(report: StatusReport, head: list[Block]) -> list[Block]:
    """One line per objective, packed into sections; say plainly what did not fit."""
    groups = group_lines([_compact_line(o, report.names) for o in report.objectives])
    room = MAX_BLOCKS - len(head) - 1
    blocks = head + [section("\n".join(group)) for group in groups[:room]]
    shown = sum(len(group) for group in groups[:room])
    hidden = len(report.objectives) - shown
    tail = DETAIL_HINT
    if hidden:
        tail = (
            f"{plural(hidden, 'more objective', 'more objectives')} not shown — "
            "narrow it with `/okr status #channel`, "
            f"`/okr status @user` or `/okr status O-&lt;n&gt;`"
        )
    blocks.append(context(tail))
    return blocks


def _render_detail(objective: ObjectiveView, report: StatusReport) -> Message:
    blocks: list[Block] = [
        header(f"O-{objective.number} · {objective.title}"),
        section(objective_heading(objective, report.names, report.at)),
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
        lines = [key_result_line(kr, report.names), _dates(kr, objective.cycle)]
        lines.append(_history(kr, report.names, report.at))
        blocks.append(section("\n".join(line for line in lines if line)))
    hidden = len(objective.key_results) - fits
    if hidden > 0:
        blocks.append(
            context(f"… and {plural(hidden, 'more key result', 'more key results')} not shown")
        )
    text = (
        f"O-{objective.number} {escape(objective.title)}: {percent(objective.progress)} "
        f"across {plural(len(objective.key_results), 'key result')}"
    )
    return Message(text, blocks)


def _dates(kr: KeyResultView, cycle: str) -> str:
    """Both dates pace depends on: the cycle's start and the key result's creation;
    its straight line starts at the later one."""
    if kr.created_at is None or kr.pace_from is None or not has_pace(kr.kind):
        return ""
    began, _ = cycle_bounds(cycle)
    return (
        f"_{escape(cycle)} began {slack_date(began)} · added {slack_date(kr.created_at)} · "
        f"pace counted from {slack_date(kr.pace_from)}_"
    )


def _history(
    kr: KeyResultView, names: dict[str, str] | None = None, now: datetime | None = None
) -> str:
    """The last check-ins, people by name (never a ping: status is posted in channels),
    dates in each reader's own zone."""
    if not kr.recent:
        return "_No check-ins yet._"
    lines = []
    for check_in in kr.recent:
        status = STATUS_LABEL.get(check_in.status or "", "no status")
        note = f" — “{escape(clip(check_in.note, 200))}”" if check_in.note else ""
        author = f" · {person(check_in.author_id, names)}" if check_in.author_id else ""
        if check_in.entered_by and check_in.entered_by != check_in.author_id:
            author += f" · entered by {person(check_in.entered_by, names)}"
        if kr.kind == "boolean":
            value = boolean_value(check_in.value)
        else:
            value = value_with_unit(check_in.value, kr.unit)
        when = slack_time(check_in.at, now) if now is not None else slack_date(check_in.at)
        lines.append(f"> {when} · {value} · {status}{author}{note}")
    return "\n".join(lines)


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
