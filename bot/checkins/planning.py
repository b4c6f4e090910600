"""The weekly check-in cycle: which prompts, reminders and digests are due at an instant.

Planning writes rows (prompts, outbox entries) with unique keys, so running it
twice, or in two processes at once, plans each message once; the outbox then
sends them. Every step takes the workspace's `TeamContext` (loaded once per
tick) and `now`, and is cheap when nothing is due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.checkins.away import hold_away
from bot.core.schedule import (
    HALF_WEEK,
    WEEK,
    Schedules,
    WeeklySlot,
    previous_slot,
    week_closes_at,
    zone_named,
)
from storage.models import KeyResult, Prompt
from storage.repositories import TeamStore
from storage.repositories.outbox import Planned
from storage.repositories.prompts import NewPrompt, PlannedPrompt

USER_SYNC_INTERVAL = timedelta(hours=12)
UNKNOWN_OWNER_RETRY = timedelta(minutes=10)


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
    return TeamContext(
        team_id=store.team_id,
        installed=workspace.installed,
        schedules=Schedules.from_rows(await store.prompts.schedules(), workspace.created_at),
        objective_channels=await store.okrs.active_channels(),
        users_synced_at=workspace.users_synced_at,
        owners_missing_from_cache=await store.workspace.owners_missing_from_cache(),
        reminder_hours=workspace.reminder_hours,
        digest_delay_hours=workspace.digest_delay_hours,
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


async def due_prompts(
    store: TeamStore, context: TeamContext, now: datetime, fallback: ZoneInfo
) -> list[DuePrompt]:
    """Owners whose slot has come in their own time zone and who have no prompt for it yet.

    Slot arithmetic is done once per (slot, zone) pair, never per owner; who is due
    for each pair is answered in SQL (two queries whatever the team's size), so a
    tick with nothing due costs little however many owners there are.
    """
    if not context.installed:
        return []
    schedules = context.schedules
    slots = {schedules.default} | {slot for slot, _ in schedules.by_channel.values()}
    names = await store.workspace.zone_names() | {""}
    periods = [
        (slot_key(slot), name, previous_slot(slot, now, zone_named(name or None, fallback)))
        for slot in slots
        for name in names
    ]
    rows = await store.prompts.due(
        periods,
        {ch: (slot_key(slot), since) for ch, (slot, since) in schedules.by_channel.items()},
        (slot_key(schedules.default), schedules.default_since),
    )
    return [DuePrompt(owner, parse_slot_key(key), start) for owner, key, start in rows]


PROMPT_BATCH = 500


async def plan_prompts(
    store: TeamStore, context: TeamContext, now: datetime, fallback: ZoneInfo
) -> int:
    """Create the prompt and its outbox row for every due owner; returns how many."""
    due = await hold_away(store, await due_prompts(store, context, now, fallback), now)
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
    owner_zones = await store.prompts.channel_owner_zones()
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
            closes = week_closes_at(slot, period_start, owner_zones.get(channel_id, ()), zone_)
            if closes + delay > now:
                continue
            key = digest_key(channel_id, period_end)
            if key in known:
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
