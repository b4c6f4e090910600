"""The weekly check-in cycle: which prompts, reminders and digests are due at an instant.

Planning writes rows (prompts, outbox entries) with unique keys, so running it
twice, or in two processes at once, plans each message once; the outbox then
sends them. Every step takes the workspace's `TeamContext` (loaded once per
tick) and `now`, and is cheap when nothing is due.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.checkins.away import hold_away
from bot.core.schedule import (
    HALF_WEEK,
    WEEK,
    Schedules,
    WeeklySlot,
    next_slot,
    previous_slot,
    week_closes_at,
    zone_named,
)
from storage.models import KeyResult, Prompt
from storage.repositories import TeamStore
from storage.repositories.outbox import Planned
from storage.repositories.prompts import NewPrompt, PlannedPrompt

USER_SYNC_INTERVAL = timedelta(hours=12)
# UTC offsets span UTC-12 to UTC+14: an owner's week ends at most 26 h (here with an
# hour to spare) before the same weekday and hour in the server's zone.
ZONE_SPREAD = timedelta(hours=27)
UNKNOWN_OWNER_RETRY = timedelta(minutes=10)


@dataclass(frozen=True)
class PlannedSpan:
    """Nobody became due between `since` and `until` while the planning key stays `key`."""

    key: str
    since: datetime
    until: datetime

    def covers(self, key: str, now: datetime) -> bool:
        return key == self.key and self.since <= now < self.until


@dataclass(frozen=True)
class TeamContext:
    """One workspace as a tick sees it: loaded once and handed to every step."""

    team_id: str
    installed: bool
    schedules: Schedules
    objective_channels: dict[int, str | None]  # active objectives → their channel
    users_synced_at: datetime | None
    owners_missing_from_cache: int
    # Set by an admin in the App Home; None keeps the environment's defaults.
    reminder_hours: float | None = None
    digest_delay_hours: float | None = None
    # What "who is due a prompt" was last answered for (see `due_prompts`).
    planning_version: int = 0
    prompts_planned: PlannedSpan | None = None
    owners_missing_counted: bool = False  # counted now, not the count kept for the version

    def slot_of(self, objective_id: int) -> WeeklySlot:
        """The weekly slot the key results of an objective are asked at."""
        return self.schedules.for_channel(self.objective_channels.get(objective_id))[0]

    def needs_user_sync(self, now: datetime) -> bool:
        """Refresh time zones when the cache is old, or misses an owner (not every minute)."""
        synced = self.users_synced_at
        if synced is None or now - synced >= USER_SYNC_INTERVAL:
            return True
        return bool(self.owners_missing_from_cache) and now - synced >= UNKNOWN_OWNER_RETRY


async def load_context(store: TeamStore) -> TeamContext | None:
    """The workspace row, its schedules and its active objectives' channels."""
    workspace = await store.workspace.get()
    if workspace is None:
        return None
    version = workspace.planning_version
    # Who lacks a cached zone changes only with the planning version (the same writes).
    missing = workspace.owners_missing
    counted = missing is None or workspace.owners_missing_version != version
    if counted:
        missing = await store.workspace.owners_missing_from_cache()
    planned = None
    if (
        workspace.prompts_planned_key
        and workspace.prompts_planned_from
        and workspace.prompts_planned_until
    ):
        planned = PlannedSpan(
            workspace.prompts_planned_key,
            workspace.prompts_planned_from,
            workspace.prompts_planned_until,
        )
    return TeamContext(
        team_id=store.team_id,
        installed=workspace.installed,
        schedules=Schedules.from_rows(await store.prompts.schedules(), workspace.created_at),
        objective_channels=await store.okrs.active_channels(),
        users_synced_at=workspace.users_synced_at,
        owners_missing_from_cache=missing or 0,
        reminder_hours=workspace.reminder_hours,
        digest_delay_hours=workspace.digest_delay_hours,
        planning_version=version,
        prompts_planned=planned,
        owners_missing_counted=counted,
    )


def slot_key(slot: WeeklySlot) -> str:
    return f"{slot.weekday}@{slot.local_time}"


def parse_slot_key(key: str) -> WeeklySlot:
    weekday, local_time = key.split("@", 1)
    return WeeklySlot(int(weekday), local_time)


# Prompts --------------------------------------------------------------------------------


def prompt_key_results(
    owned: Iterable[KeyResult], context: TeamContext, prompt: Prompt
) -> list[KeyResult]:
    """The key results a prompt asks about: its owner's on its slot that existed when it
    began. The prompt is answered once each of them has a value or an explicit "no change"."""
    wanted = parse_slot_key(prompt.slot)
    return [
        kr
        for kr in owned
        if kr.owner_id == prompt.user_id
        and kr.created_at <= prompt.period_start
        and context.slot_of(kr.objective_id) == wanted
    ]


def owner_period_start(slot: WeeklySlot, now: datetime, zone: ZoneInfo) -> datetime:
    """The start of the owner's own week under way at `now` (their slot in their zone)."""
    return previous_slot(slot, now, zone)


@dataclass(frozen=True)
class DuePrompt:
    user_id: str
    slot: WeeklySlot
    period_start: datetime


def planning_key(context: TeamContext, fallback: ZoneInfo) -> str:
    """What the answer to "who is due" depends on besides time: the data (the planning
    version, bumped by the database on every write that matters) and the schedules."""
    schedules = context.schedules
    described = repr(
        (
            fallback.key,
            slot_key(schedules.default),
            schedules.default_since.isoformat(),
            sorted(
                (ch, slot_key(slot), since.isoformat())
                for ch, (slot, since) in schedules.by_channel.items()
            ),
        )
    )
    return f"{context.planning_version}:{hashlib.sha256(described.encode()).hexdigest()[:40]}"


@dataclass(frozen=True)
class DueAnswer:
    """Who is due, and the span of time over which that answer holds."""

    due: list[DuePrompt]
    span: PlannedSpan | None  # None when nobody can be due (not installed)


async def due_prompts(
    store: TeamStore, context: TeamContext, now: datetime, fallback: ZoneInfo
) -> DueAnswer:
    """Owners whose slot has come in their own time zone and who have no prompt for it yet.

    Slot arithmetic is done once per (slot, zone) pair, never per owner; who is due
    for each pair is answered in SQL (one query whatever the team's size). The answer
    holds until some pair's next slot, or until the data or schedules change.
    """
    if not context.installed:
        return DueAnswer([], None)
    key = planning_key(context, fallback)
    schedules = context.schedules
    slots = {schedules.default} | {slot for slot, _ in schedules.by_channel.values()}
    names = await store.workspace.zone_names() | {""}
    pairs = [(slot, name, zone_named(name or None, fallback)) for slot in slots for name in names]
    periods = [(slot_key(slot), name, previous_slot(slot, now, zone)) for slot, name, zone in pairs]
    rows = await store.prompts.due(
        periods,
        {ch: (slot_key(slot), since) for ch, (slot, since) in schedules.by_channel.items()},
        (slot_key(schedules.default), schedules.default_since),
    )
    span = PlannedSpan(
        key,
        max(start for _, _, start in periods),
        min(next_slot(slot, now, zone) for slot, _, zone in pairs),
    )
    due = [DuePrompt(owner, parse_slot_key(k), start) for owner, k, start in rows]
    return DueAnswer(due, span)


PROMPT_BATCH = 500


async def plan_prompts(
    store: TeamStore, context: TeamContext, now: datetime, fallback: ZoneInfo
) -> int:
    """Create the prompt and its outbox row for every due owner; returns how many.

    Once everyone due has a prompt, nobody else is until the answer's span ends or the
    planning key changes: an idle tick within it asks nothing (O(due), not O(owners))."""
    if context.owners_missing_counted:
        await store.workspace.note_owners_missing(
            context.owners_missing_from_cache, context.planning_version
        )
    span = context.prompts_planned
    if span is not None and span.covers(planning_key(context, fallback), now):
        return 0
    answer = await due_prompts(store, context, now, fallback)
    due = await hold_away(store, answer.due, now)
    if answer.span is not None:  # everyone due gets a prompt below
        await store.workspace.note_prompts_planned(
            answer.span.key, answer.span.since, answer.span.until
        )
    created = 0
    for start in range(0, len(due), PROMPT_BATCH):
        chunk = due[start : start + PROMPT_BATCH]
        planned = await store.prompts.insert_new(
            [
                NewPrompt(
                    item.user_id, item.period_start, item.period_start + WEEK, slot_key(item.slot)
                )
                for item in chunk
            ],
            now,
        )
        await store.outbox.plan(_dms("prompt", planned, now), now)
        created += len(planned)
    return created


def _dms(kind: str, prompts: list[PlannedPrompt], now: datetime) -> list[Planned]:
    """The outbox rows of a prompt's DM or its reminder: due now, useless once it closes."""
    return [
        Planned(
            kind=kind,
            dedupe_key=f"{kind}:{p.prompt_id}",
            recipient=p.user_id,
            ref_id=p.prompt_id,
            due_at=now,
            expires_at=p.period_end,
        )
        for p in prompts
    ]


async def plan_reminders(store: TeamStore, now: datetime, delay: timedelta) -> int:
    """One reminder per sent, unanswered, unskipped prompt once the delay has passed."""
    prompts = await store.prompts.claim_reminders(now, delay)
    await store.outbox.plan(_dms("reminder", prompts, now), now)
    return len(prompts)


# Digests --------------------------------------------------------------------------------
#
# A digest covers one week of a channel, named by the week's start in the server's zone
# (the "reference"). Each owner's period for that week is their own slot in their own
# zone nearest the reference, so it lies within half a week of it: a check-in counts for
# the digest whose reference is within half a week of its period's start, and the digest
# is due once the owner whose week closes last has closed it.


def digest_key(channel_id: str, period_end: datetime) -> str:
    return f"digest:{channel_id}:{period_end.strftime('%Y%m%dT%H%M')}"


def digest_period(dedupe_key: str) -> tuple[str, datetime]:
    """(channel, period end) back from a digest's dedupe key."""
    _, channel_id, stamp = dedupe_key.split(":", 2)
    end = datetime.strptime(stamp, "%Y%m%dT%H%M").replace(tzinfo=UTC)
    return channel_id, end


def digest_window(period_end: datetime) -> tuple[datetime, datetime]:
    """Owner periods starting in [since, until) belong to the digest ending at `period_end`."""
    reference = period_end - WEEK
    return reference - HALF_WEEK, reference + HALF_WEEK


async def plan_digests(
    store: TeamStore, context: TeamContext, now: datetime, delay: timedelta, zone_: ZoneInfo
) -> int:
    """A digest per objective channel once every owner reporting there has closed the
    week (plus the digest delay); `zone_` is the server's zone, which names the weeks."""
    if not context.installed:
        return 0
    channels = await store.okrs.report_channels()
    if not channels:
        return 0
    known = await store.outbox.planned_keys("digest", now - 3 * WEEK - delay)
    owner_zones: dict[str, Any] | None = None  # asked for only when a week may have closed
    rows = []
    for channel_id, first_created in channels:
        slot, since = context.schedules.for_channel(channel_id)
        latest = previous_slot(slot, now, zone_)
        # The week that just ended in the server's zone, the one before it (a long delay
        # or owners far west), and the one under way (owners all east of the server).
        for period_end in (latest - WEEK, latest, latest + WEEK):
            period_start = period_end - WEEK
            if since > period_start or first_created >= period_end:
                continue
            key = digest_key(channel_id, period_end)
            # No owner's week closes more than ZONE_SPREAD before the server's.
            if key in known or period_end - ZONE_SPREAD + delay > now:
                continue
            if owner_zones is None:
                owner_zones = await store.prompts.channel_owner_zones()
            closes = week_closes_at(slot, period_start, owner_zones.get(channel_id, ()), zone_)
            if closes + delay > now:
                continue
            known.add(key)
            rows.append(
                Planned(
                    kind="digest",
                    dedupe_key=key,
                    recipient=channel_id,
                    channel_id=channel_id,
                    due_at=closes + delay,
                    expires_at=closes + delay + WEEK,
                )
            )
    return await store.outbox.plan(rows, now)
