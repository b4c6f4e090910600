"""Block Kit for the habits of real teams (pure): the DM to a new key-result owner, the
escalation DM to an objective's owner, and how an absence reads in a digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.blocks.common import Message, context, escape, number, section, value_with_unit


@dataclass(frozen=True)
class Target:
    """What a key result aims for (its kind and numbers), to say it in words."""

    kind: str
    start: float | None
    target: float | None
    low: float | None
    high: float | None
    unit: str | None


def describe_target(target: Target) -> str:
    """`from 120 to 200 teams`, `stay within 0–1.5 s`, `done or not` as mrkdwn."""
    if target.kind == "boolean":
        return "done or not"
    if target.kind == "range":
        return f"stay within {number(target.low)}–{value_with_unit(target.high, target.unit)}"
    return f"from {number(target.start)} to {value_with_unit(target.target, target.unit)}"


def local_moment(at: datetime, zone: ZoneInfo) -> str:
    """A moment in the reader's own zone: Slack's date token, with a fallback in `zone`."""
    local = at.astimezone(zone)
    fallback = f"{local:%a %b} {local.day} at {local:%H:%M}"
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


@dataclass(frozen=True)
class AssignedView:
    """A person just made the owner of a key result, and when they will be asked."""

    number: int
    title: str
    objective_number: int
    objective_title: str
    target: Target
    assigned_by: str | None
    slot: str  # "Monday 09:30"
    next_prompt_at: datetime | None  # None: asked right away (this week's check-in is due)
    zone: ZoneInfo


def render_assigned(view: AssignedView) -> Message:
    by = f"<@{view.assigned_by}> made you" if view.assigned_by else "You are now"
    what = (
        f":wave: {by} the owner of *KR-{view.number}* {escape(view.title)} "
        f"(under *O-{view.objective_number}* {escape(view.objective_title)}): "
        f"{describe_target(view.target)}."
    )
    if view.next_prompt_at is None:
        when = "Your first check-in for it is on its way: I'll DM you in a minute."
    else:
        when = (
            f"I'll ask you for a check-in every {view.slot} your time — the first on "
            f"{local_moment(view.next_prompt_at, view.zone)}."
        )
    blocks = [
        section(f"{what}\n{when}"),
        context(f"Update it any time with `/okr checkin KR-{view.number}`."),
    ]
    return Message(f"You are now the owner of KR-{view.number} {view.title}", blocks)


@dataclass(frozen=True)
class EscalationView:
    """A key result whose owner has missed `missed` periods in a row."""

    number: int
    title: str
    owner_id: str
    objective_number: int
    objective_title: str
    missed: int
    since: datetime  # the start of the first missed period


def render_escalation(view: EscalationView) -> Message:
    week = f"{view.since:%b} {view.since.day}"
    text = (
        f":rotating_light: *KR-{view.number}* {escape(view.title)} "
        f"(under your *O-{view.objective_number}* {escape(view.objective_title)}) has had no "
        f"check-in from <@{view.owner_id}> for {view.missed} periods in a row, since the week "
        f"of {week}."
    )
    blocks = [
        section(text),
        context(
            f"Maybe ask how it is going — or enter the number for them with "
            f"`/okr checkin KR-{view.number}`. I won't tell you again for this streak."
        ),
    ]
    return Message(
        f"KR-{view.number} {view.title}: no check-in for {view.missed} periods in a row", blocks
    )


@dataclass(frozen=True)
class AwayOwner:
    """Someone away during a digest's week, shown instead of "not checked in"."""

    user_id: str
    name: str | None
    until: date | None  # None: they came back since


def away_line(away: list[AwayOwner]) -> str:
    """`:palm_tree: Ben away until Dec 24, Cleo away` as mrkdwn (names, no mentions)."""

    def one(owner: AwayOwner) -> str:
        name = escape(owner.name) if owner.name else f"<@{owner.user_id}>"
        if owner.until is None:
            return f"{name} away"
        return f"{name} away until {owner.until:%b} {owner.until.day}"

    return ":palm_tree: " + ", ".join(one(owner) for owner in away)
