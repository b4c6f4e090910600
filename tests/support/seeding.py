"""Bulk seeding for fault tests and benchmarks: many owners, fast (SQLAlchemy Core)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from storage.db import Database
from storage.models import KeyResult, Objective, SlackUser, Workspace
from storage.repositories import TeamStore
from tests.support.slack_emulator import SlackEmulator

ZONES = ["UTC", "Europe/Madrid", "Asia/Tokyo", "America/New_York"]
METADATA_EVENT = "okrbot_outbox"  # bot.slack.outbox.METADATA_EVENT, as Slack shows it


def owner_ids(count: int) -> list[str]:
    return [f"U{index:07d}" for index in range(1, count + 1)]


async def seed_owners(
    db: Database,
    team_id: str,
    owners: list[str],
    zones: list[str],
    created_at: datetime,
    *,
    channel_id: str = "C1",
    key_results_per_owner: int = 1,
) -> None:
    """One objective, `key_results_per_owner` key results per owner, zones round-robin.

    The time-zone cache is filled and marked fresh, as after a `users.list` sync.
    """
    async with db.session() as session:
        await TeamStore(session, team_id).workspace.ensure(created_at)
        objective = Objective(
            team_id=team_id,
            number=1,
            title="Seeded objective",
            owner_id=owners[0],
            channel_id=channel_id,
            cycle="2026-Q4",
            status="active",
            created_at=created_at,
            updated_at=created_at,
        )
        session.add(objective)
        await session.flush()
        rows = []
        number = 0
        for owner in owners:
            for _ in range(key_results_per_owner):
                number += 1
                rows.append(
                    {
                        "team_id": team_id,
                        "number": number,
                        "objective_id": objective.id,
                        "title": f"Key result {number}",
                        "owner_id": owner,
                        "kind": "increase",
                        "start_value": 0.0,
                        "target_value": 100.0,
                        "current_value": 0.0,
                        "created_at": created_at,
                        "updated_at": created_at,
                    }
                )
        for start in range(0, len(rows), 2000):
            await session.execute(insert(KeyResult), rows[start : start + 2000])
        users = [
            {
                "team_id": team_id,
                "user_id": owner,
                "name": owner.lower(),
                "tz": zones[index % len(zones)],
                "is_admin": False,
                "fetched_at": created_at,
            }
            for index, owner in enumerate(owners)
        ]
        for start in range(0, len(users), 2000):
            await session.execute(insert(SlackUser), users[start : start + 2000])
        workspace = await session.get(Workspace, team_id)
        assert workspace is not None
        workspace.last_objective_number = 1
        workspace.last_key_result_number = number
        workspace.users_synced_at = created_at


async def seed_portfolio(
    db: Database,
    team_id: str,
    owner: str,
    created_at: datetime,
    *,
    objectives: int = 10,
    key_results_per_objective: int = 5,
    channel_id: str = "C1",
) -> None:
    """One owner with `objectives` objectives of `key_results_per_objective` key results
    each (the App Home benchmark's 50 key results in 10 objectives)."""
    async with db.session() as session:
        await TeamStore(session, team_id).workspace.ensure(created_at)
        number = 0
        for index in range(1, objectives + 1):
            objective = Objective(
                team_id=team_id,
                number=index,
                title=f"Objective {index}",
                owner_id=owner,
                channel_id=channel_id,
                cycle="2026-Q4",
                status="active",
                created_at=created_at,
                updated_at=created_at,
            )
            session.add(objective)
            await session.flush()
            for _ in range(key_results_per_objective):
                number += 1
                session.add(
                    KeyResult(
                        team_id=team_id,
                        number=number,
                        objective_id=objective.id,
                        title=f"Key result {number}",
                        owner_id=owner,
                        kind="increase",
                        start_value=0.0,
                        target_value=100.0,
                        current_value=float(number % 60),
                        created_at=created_at,
                        updated_at=created_at,
                    )
                )
        workspace = await session.get(Workspace, team_id)
        assert workspace is not None
        workspace.last_objective_number = objectives
        workspace.last_key_result_number = number


async def seed_due_owners(url: str, slack: SlackEmulator, count: int) -> list[str]:
    """Owners whose Monday 09:00 has passed in their zone since their key result exists."""
    owners = owner_ids(count)
    for index, owner in enumerate(owners):
        slack.add_user(owner, owner.lower(), tz=ZONES[index % len(ZONES)])
    created = datetime.now(UTC) - timedelta(days=7, hours=1)
    db = Database(url)
    try:
        await seed_owners(db, "T1", owners, ZONES, created)
        async with db.session() as session:  # the time-zone cache is fresh
            await session.execute(
                update(Workspace).values(users_synced_at=datetime.now(UTC) - timedelta(hours=1))
            )
    finally:
        await db.dispose()
    return owners


def prompts_to(slack: SlackEmulator, user: str) -> list[dict[str, Any]]:
    """The prompt DMs okrbot posted to `user` (known by the outbox's message metadata)."""
    prompts = []
    for message in slack.messages(f"D{user}"):
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == METADATA_EVENT and payload.get("kind") == "prompt":
            prompts.append(message)
    return prompts


def prompts_by_owner(slack: SlackEmulator, owners: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for owner in owners:
        if found := len(prompts_to(slack, owner)):
            counts[owner] = found
    return counts
