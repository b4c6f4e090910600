"""`/okr away until 2026-12-24` and `/okr back`: no prompts or reminders while away.

An absence lasts to the end of its last day in the person's own zone. A prompt whose
period begins before then is still created (so the period is accounted for) but in
state "away": never sent, never reminded, shown in the digest as "away until …"
instead of "not checked in". Going away marks the open prompt the same way; coming
back early restores it (or, if it was never sent, lets the next tick send it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from bot.blocks.habits import AwayOwner
from bot.core.actor import Actor
from bot.core.errors import UserError
from bot.core.outcome import Code, Done, Emoji, Strong
from bot.core.schedule import WEEK, WeeklySlot, zone_named
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import Prompt
from storage.repositories import TeamStore
from storage.repositories.prompts import NewPrompt

AWAY_USAGE = "/okr away until 2026-12-24"
MAX_AWAY = timedelta(days=366)


class _Due(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def period_start(self) -> datetime: ...

    @property
    def slot(self) -> WeeklySlot: ...


D = TypeVar("D", bound=_Due)


def _day(value: date) -> str:
    return f"{value:%a %b} {value.day}"


class AwayService:
    def __init__(self, db: Database, directory: Directory, fallback_zone: ZoneInfo) -> None:
        self._db = db
        self._directory = directory
        self._fallback_zone = fallback_zone

    async def away(self, actor: Actor, until: date, now: datetime) -> tuple[Done, list[int]]:
        """Away until `until` (inclusive, their zone); returns the reply and the open
        prompts now marked away (their DMs are to be updated)."""
        info = await self._directory.user(actor.team_id, actor.user_id, now)
        zone = zone_named(info.tz, self._fallback_zone)
        today = now.astimezone(zone).date()
        if until < today:
            raise UserError(
                f"{until.isoformat()} is in the past (today is {today.isoformat()} for you): "
                "give the last day you are away",
                AWAY_USAGE,
            )
        if until - today > MAX_AWAY:
            raise UserError("you can be away for at most a year at a time", AWAY_USAGE)
        ends_at = datetime.combine(until + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        async with self._db.team(actor.team_id) as store:
            await store.workspace.ensure(now)
            await store.habits.set_absence(actor.user_id, until.isoformat(), ends_at, now)
            marked = [
                p.id
                for p in await store.habits.open_prompts(actor.user_id, now)
                if p.answered_at is None and p.skipped_at is None
            ]
            await store.habits.mark_away(marked, now)
        return (
            Done(
                Emoji("palm_tree"),
                " You're away until ",
                Strong(_day(until)),
                ": no check-ins or reminders until then, and digests show you as away. "
                "Back early? ",
                Code("/okr back"),
                ".",
            ),
            marked,
        )

    async def back(self, actor: Actor, now: datetime) -> tuple[Done, list[int]]:
        """End an absence; returns the reply and the prompts whose DMs to restore."""
        async with self._db.team(actor.team_id) as store:
            ended = await store.habits.end_absence(actor.user_id)
            restored: list[int] = []
            resent = False
            for prompt in await store.habits.open_prompts(actor.user_id, now):
                if prompt.state != "away" or prompt.answered_at is not None:
                    continue
                if prompt.message_ts:  # it was sent before they left: show it again
                    prompt.state, prompt.skipped_at = "sent", None
                    restored.append(prompt.id)
                else:  # never sent: the next tick sends this week's check-in
                    await store.prompts.delete(prompt)
                    resent = True
        if not ended and not restored and not resent:
            return Done("You were not away: your check-ins carry on as usual."), []
        tail = (
            " This week's check-in is on its way."
            if resent
            else " Your check-in for this week is open again."
            if restored
            else ""
        )
        return Done(Emoji("wave"), " Welcome back! Check-ins and reminders are on again.", tail), (
            restored
        )


async def hold_away(store: TeamStore, due: list[D], now: datetime) -> list[D]:
    """Of the prompts due, create those of people away as "away" (not sent) and return
    the others: one query when nobody due is away."""
    if not due:
        return due
    absences = await store.habits.absences(d.user_id for d in due)
    if not absences:
        return due
    away = [
        d for d in due if d.user_id in absences and d.period_start < absences[d.user_id].ends_at
    ]
    if not away:
        return due
    created = await store.prompts.insert_new(
        [
            NewPrompt(
                d.user_id,
                d.period_start,
                d.period_start + WEEK,
                f"{d.slot.weekday}@{d.slot.local_time}",
            )
            for d in away
        ],
        now,
    )
    await store.habits.mark_away((p.prompt_id for p in created), now)
    held = {(d.user_id, d.period_start) for d in away}
    return [d for d in due if (d.user_id, d.period_start) not in held]


async def away_owners(store: TeamStore, prompts: Sequence[Prompt]) -> list[AwayOwner]:
    """Who was away for these prompts (a digest's week), with until when."""
    users = sorted({p.user_id for p in prompts if p.state == "away" and p.answered_at is None})
    if not users:
        return []
    absences = await store.habits.absences(users)
    names = await store.workspace.display_names(users)
    return [
        AwayOwner(
            user,
            names.get(user),
            date.fromisoformat(absences[user].until) if user in absences else None,
        )
        for user in users
    ]
