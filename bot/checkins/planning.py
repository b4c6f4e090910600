"""The weekly check-in cycle: which prompts, reminders and digests are due at an instant.

Planning writes rows (prompts, outbox entries) with unique keys, so running it
twice, or in two processes at once, plans each message once; `bot.outbox`
then sends them. Every decision takes `now` and is cheap when nothing is due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, select, update

from bot.core.schedule import Schedules, WeeklySlot, previous_slot
from bot.runtime.services import Services
from storage.models import (
    KeyResult,
    Objective,
    OutboxMessage,
    Prompt,
    SlackUser,
    Workspace,
)
from storage.repository import Repository, upsert_insert

log = logging.getLogger(__name__)

WEEK = timedelta(weeks=1)
USER_SYNC_INTERVAL = timedelta(hours=12)


def slot_key(slot: WeeklySlot) -> str:
    return f"{slot.weekday}@{slot.local_time}"


def parse_slot_key(key: str) -> WeeklySlot:
    weekday, local_time = key.split("@", 1)
    return WeeklySlot(int(weekday), local_time)


async def load_schedules(session: Any, workspace: Workspace) -> Schedules:
    rows = await Repository(session, workspace.team_id).schedules()
    return Schedules.from_rows(rows, workspace.created_at)


def zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


# Time zones ---------------------------------------------------------------------------


async def sync_user_zones(services: Services, team_id: str, now: datetime) -> int:
    """Refresh the time-zone cache from `users.list` when it is old or misses an owner."""
    async with services.db.session() as session:
        workspace = await session.get(Workspace, team_id)
        if workspace is None:
            return 0
        missing = await session.scalar(
            select(func.count(func.distinct(KeyResult.owner_id)))
            .select_from(KeyResult)
            .outerjoin(
                SlackUser,
                and_(SlackUser.team_id == team_id, SlackUser.user_id == KeyResult.owner_id),
            )
            .where(KeyResult.team_id == team_id, SlackUser.id.is_(None))
        )
        fresh = workspace.users_synced_at and now - workspace.users_synced_at < USER_SYNC_INTERVAL
        if not missing and fresh:
            return 0
        if (
            missing
            and workspace.users_synced_at
            and now - workspace.users_synced_at < timedelta(minutes=10)
        ):
            return 0  # owners users.list does not know: don't ask again every minute
    client = await services.clients.for_team(team_id)
    members: list[dict[str, Any]] = []
    async for page in await client.users_list(limit=200):
        members.extend(page.get("members", []))
    async with services.db.session() as session:
        existing = {
            row.user_id: row
            for row in (
                await session.scalars(select(SlackUser).where(SlackUser.team_id == team_id))
            ).all()
        }
        new_rows = []
        for member in members:
            if member.get("deleted") or member.get("is_bot"):
                continue
            user_id = str(member["id"])
            name = member.get("profile", {}).get("display_name") or member.get("real_name")
            is_admin = bool(member.get("is_admin") or member.get("is_owner"))
            row = existing.get(user_id)
            if row is None:
                new_rows.append(
                    {
                        "team_id": team_id,
                        "user_id": user_id,
                        "name": name,
                        "tz": member.get("tz"),
                        "is_admin": is_admin,
                        "fetched_at": now,
                    }
                )
            else:
                row.name, row.tz, row.is_admin, row.fetched_at = (
                    name,
                    member.get("tz"),
                    is_admin,
                    now,
                )
        if new_rows:
            await session.execute(
                upsert_insert(session, SlackUser).on_conflict_do_nothing(
                    index_elements=["team_id", "user_id"]
                ),
                new_rows,
            )
        await session.execute(
            update(Workspace).where(Workspace.team_id == team_id).values(users_synced_at=now)
        )
    return len(members)


# Prompts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuePrompt:
    user_id: str
    slot: WeeklySlot
    period_start: datetime


async def due_prompts(services: Services, team_id: str, now: datetime) -> list[DuePrompt]:
    """Owners whose slot has come in their own time zone and who have no prompt for it yet.

    Four queries whatever the team's size; slot arithmetic is done once per
    (slot, zone) pair, not once per owner.
    """
    fallback = services.settings.timezone
    async with services.db.session() as session:
        workspace = await session.get(Workspace, team_id)
        if workspace is None or not workspace.installed:
            return []
        schedules = await load_schedules(session, workspace)
        owners = (
            await session.execute(
                select(
                    KeyResult.owner_id,
                    Objective.channel_id,
                    func.min(KeyResult.created_at).label("first_created"),
                )
                .join(Objective, Objective.id == KeyResult.objective_id)
                .where(KeyResult.team_id == team_id, Objective.status == "active")
                .group_by(KeyResult.owner_id, Objective.channel_id)
            )
        ).all()
        if not owners:
            return []
        zone_rows = await session.execute(
            select(SlackUser.user_id, SlackUser.tz).where(SlackUser.team_id == team_id)
        )
        zones: dict[str, str | None] = {row.user_id: row.tz for row in zone_rows}
        existing = set(
            (
                await session.execute(
                    select(Prompt.user_id, Prompt.period_start).where(
                        Prompt.team_id == team_id, Prompt.period_start > now - WEEK - WEEK
                    )
                )
            ).all()
        )
    earliest: dict[tuple[str, WeeklySlot], tuple[datetime, datetime]] = {}
    for owner_id, channel_id, first_created in owners:
        slot, since = schedules.for_channel(channel_id)
        key = (owner_id, slot)
        created, effective = earliest.get(key, (first_created, since))
        earliest[key] = (min(created, first_created), max(effective, since))
    period_cache: dict[tuple[WeeklySlot, str | None], datetime] = {}
    due = []
    for (owner_id, slot), (first_created, since) in earliest.items():
        zone_name = zones.get(owner_id)
        cache_key = (slot, zone_name)
        if cache_key not in period_cache:
            period_cache[cache_key] = previous_slot(slot, now, zone(zone_name, fallback))
        period_start = period_cache[cache_key]
        if first_created > period_start or since > period_start:
            continue  # the slot passed before the key result or the schedule existed
        if (owner_id, period_start) in existing:
            continue
        due.append(DuePrompt(owner_id, slot, period_start))
    return due


async def plan_prompts(services: Services, team_id: str, now: datetime) -> int:
    """Create the prompt and its outbox row for every due owner; returns how many."""
    due = await due_prompts(services, team_id, now)
    if not due:
        return 0
    created = 0
    batch = 500
    for start in range(0, len(due), batch):
        chunk = due[start : start + batch]
        async with services.db.session() as session:
            inserted = (
                await session.execute(
                    upsert_insert(session, Prompt)
                    .on_conflict_do_nothing(index_elements=["team_id", "user_id", "period_start"])
                    .returning(Prompt.id, Prompt.user_id, Prompt.period_end),
                    [
                        {
                            "team_id": team_id,
                            "user_id": item.user_id,
                            "period_start": item.period_start,
                            "period_end": item.period_start + WEEK,
                            "slot": slot_key(item.slot),
                            "state": "pending",
                            "created_at": now,
                        }
                        for item in chunk
                    ],
                )
            ).all()
            if inserted:
                await session.execute(
                    upsert_insert(session, OutboxMessage).on_conflict_do_nothing(
                        index_elements=["team_id", "dedupe_key"]
                    ),
                    [
                        {
                            "team_id": team_id,
                            "kind": "prompt",
                            "dedupe_key": f"prompt:{prompt_id}",
                            "recipient": user_id,
                            "ref_id": prompt_id,
                            "state": "pending",
                            "due_at": now,
                            "expires_at": period_end,
                            "attempts": 0,
                            "created_at": now,
                        }
                        for prompt_id, user_id, period_end in inserted
                    ],
                )
            created += len(inserted)
    return created


async def plan_reminders(services: Services, team_id: str, now: datetime) -> int:
    """One reminder per sent, unanswered, unskipped prompt once the delay has passed."""
    delay = timedelta(hours=services.settings.okrbot_reminder_hours)
    async with services.db.session() as session:
        prompts = (
            await session.execute(
                select(Prompt.id, Prompt.user_id, Prompt.period_end).where(
                    Prompt.team_id == team_id,
                    Prompt.state == "sent",
                    Prompt.reminded_at.is_(None),
                    Prompt.sent_at <= now - delay,
                    Prompt.period_end > now,
                )
            )
        ).all()
        if not prompts:
            return 0
        ids = [row.id for row in prompts]
        await session.execute(
            update(Prompt)
            .where(Prompt.id.in_(ids), Prompt.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            upsert_insert(session, OutboxMessage).on_conflict_do_nothing(
                index_elements=["team_id", "dedupe_key"]
            ),
            [
                {
                    "team_id": team_id,
                    "kind": "reminder",
                    "dedupe_key": f"reminder:{row.id}",
                    "recipient": row.user_id,
                    "ref_id": row.id,
                    "state": "pending",
                    "due_at": now,
                    "expires_at": row.period_end,
                    "attempts": 0,
                    "created_at": now,
                }
                for row in prompts
            ],
        )
    return len(prompts)


# Digests --------------------------------------------------------------------------------


def digest_key(channel_id: str, period_end: datetime) -> str:
    return f"digest:{channel_id}:{period_end.strftime('%Y%m%dT%H%M')}"


async def plan_digests(services: Services, team_id: str, now: datetime) -> int:
    """A digest per objective channel once its period has closed (plus the digest delay)."""
    delay = timedelta(hours=services.settings.okrbot_digest_delay_hours)
    zone_ = services.settings.timezone
    async with services.db.session() as session:
        workspace = await session.get(Workspace, team_id)
        if workspace is None or not workspace.installed:
            return 0
        schedules = await load_schedules(session, workspace)
        channels = (
            await session.execute(
                select(Objective.channel_id, func.min(Objective.created_at))
                .where(
                    Objective.team_id == team_id,
                    Objective.status == "active",
                    Objective.channel_id.is_not(None),
                )
                .group_by(Objective.channel_id)
            )
        ).all()
        known = set(
            (
                await session.scalars(
                    select(OutboxMessage.dedupe_key).where(
                        OutboxMessage.team_id == team_id,
                        OutboxMessage.kind == "digest",
                        OutboxMessage.created_at > now - WEEK - WEEK - delay,
                    )
                )
            ).all()
        )
        rows = []
        for channel_id, first_created in channels:
            slot, since = schedules.for_channel(channel_id)
            period_end = previous_slot(slot, now - delay, zone_)
            period_start = period_end - WEEK
            if since > period_start or first_created >= period_end:
                continue
            if digest_key(channel_id, period_end) in known:
                continue
            rows.append(
                {
                    "team_id": team_id,
                    "kind": "digest",
                    "dedupe_key": digest_key(channel_id, period_end),
                    "recipient": channel_id,
                    "channel_id": channel_id,
                    "state": "pending",
                    "due_at": period_end + delay,
                    "expires_at": period_end + WEEK,
                    "attempts": 0,
                    "created_at": now,
                }
            )
        if not rows:
            return 0
        inserted = await session.execute(
            upsert_insert(session, OutboxMessage)
            .on_conflict_do_nothing(index_elements=["team_id", "dedupe_key"])
            .returning(OutboxMessage.id),
            rows,
        )
        return len(inserted.all())


def digest_period(dedupe_key: str) -> tuple[str, datetime]:
    """(channel, period end) back from a digest's dedupe key."""
    _, channel_id, stamp = dedupe_key.split(":", 2)
    end = datetime.strptime(stamp, "%Y%m%dT%H%M").replace(tzinfo=ZoneInfo("UTC"))
    return channel_id, end
