"""Benchmark the weekly digest of one channel with many owners in many time zones.

    .venv/bin/python bench/digest.py [--owners 200] [--zones 30] [--runs 20] [--sqlite-only]

Seeds (SQLAlchemy Core bulk inserts) a workspace whose channel C1 has `--owners`
key-result owners spread over `--zones` time zones, one key result each in objectives
of five, with eight weekly periods of prompts and check-ins stored on each owner's own
period (a few unanswered, a few skipped). Then, for the last week:

- plans the digest at the instant the last owner's week has closed (statements);
- builds and renders the digest view from its outbox row, the work done at send time
  and again when a late answer updates it (statements and median / p95 ms);
- does the same for a channel of 20 owners, to show the statement count does not grow
  with the number of owners or zones.

Runs on SQLite in a temporary file and on PostgreSQL in a throwaway database (admin
DSN from OKRBOT_BENCH_PG_DSN; skipped with a note when unreachable). Progress goes to
stderr, the table to stdout; the exit status is 1 when statement counts differ by size.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bench.counting import StatementCounter  # noqa: E402
from bench.throwaway import postgres_problem, throwaway_postgres  # noqa: E402
from bot.blocks.checkins import render_digest  # noqa: E402
from bot.checkins.cycle import digest_view  # noqa: E402
from bot.checkins.planning import digest_key, load_context, plan_digests  # noqa: E402
from bot.core.schedule import (  # noqa: E402
    WEEK,
    WeeklySlot,
    owner_week_for,
    previous_slot,
    week_closes_at,
)
from storage.db import Database, upgrade_async  # noqa: E402
from storage.models import (  # noqa: E402
    CheckIn,
    KeyResult,
    Objective,
    Prompt,
    Schedule,
    SlackUser,
    Workspace,
)

SERVER_ZONE = ZoneInfo("Europe/Berlin")
SLOT = WeeklySlot(0, "09:30")
WEEKS = 8
# Thirty zones from UTC-11 to UTC+14, half-hour offsets included.
ZONES = [
    "Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles",
    "America/Denver", "America/Chicago", "America/New_York", "America/Halifax",
    "America/St_Johns", "America/Sao_Paulo", "Atlantic/South_Georgia", "Atlantic/Azores",
    "Europe/London", "Europe/Berlin", "Europe/Athens", "Europe/Moscow", "Asia/Tehran",
    "Asia/Dubai", "Asia/Kabul", "Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu",
    "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Adelaide",
    "Australia/Sydney", "Pacific/Auckland", "Pacific/Kiritimati",
]  # fmt: skip
STATUSES = ("on_track", "on_track", "on_track", "at_risk", "off_track")


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def server_week(first_week: datetime, week: int) -> datetime:
    """The start of the `week`-th week in the server's zone (daylight saving included)."""
    return previous_slot(SLOT, first_week + week * WEEK + timedelta(hours=12), SERVER_ZONE)


async def seed(db: Database, team_id: str, owners: int, zones: int, first_week: datetime) -> None:
    """One workspace, one channel, `owners` owners over `zones` zones, WEEKS of history."""
    rng = random.Random(f"okrbot-digest-{owners}-{zones}")
    created = first_week - timedelta(days=10)
    names = ZONES[:zones]
    zone_of = {f"U{i:04d}": names[i % len(names)] for i in range(owners)}
    async with db.engine.begin() as connection:
        await connection.execute(
            insert(Workspace).values(
                team_id=team_id,
                name=f"bench {owners}",
                last_objective_number=math.ceil(owners / 5),
                last_key_result_number=owners,
                installed=True,
                created_at=created,
                users_synced_at=created,
            )
        )
        await connection.execute(
            insert(Schedule).values(
                team_id=team_id,
                channel_id="",
                weekday=SLOT.weekday,
                local_time=SLOT.local_time,
                created_at=created,
                updated_at=created,
            )
        )
        await connection.execute(
            insert(SlackUser),
            [
                {
                    "team_id": team_id,
                    "user_id": user,
                    "name": user.lower(),
                    "tz": tz,
                    "is_admin": False,
                    "fetched_at": created,
                }
                for user, tz in zone_of.items()
            ],
        )
        await connection.execute(
            insert(Objective),
            [
                {
                    "team_id": team_id,
                    "number": n,
                    "title": f"Objective {n}: grow weekly active teams in region {n}",
                    "owner_id": f"U{(n * 5) % owners:04d}",
                    "channel_id": "C1",
                    "cycle": "2026-Q4",
                    "status": "active",
                    "created_at": created,
                    "updated_at": created,
                }
                for n in range(1, math.ceil(owners / 5) + 1)
            ],
        )
        objective_ids = dict(
            (
                await connection.execute(
                    select(Objective.number, Objective.id).where(Objective.team_id == team_id)
                )
            ).all()
        )
        await connection.execute(
            insert(KeyResult),
            [
                {
                    "team_id": team_id,
                    "number": i + 1,
                    "objective_id": objective_ids[1 + i // 5],
                    "title": f"Key result {i + 1}: active teams in market {i}",
                    "owner_id": user,
                    "kind": "increase",
                    "start_value": 0.0,
                    "target_value": 100.0,
                    "current_value": 0.0,
                    "unit": "teams",
                    "created_at": created,
                    "updated_at": created,
                }
                for i, user in enumerate(zone_of)
            ],
        )
        kr_ids = dict(
            (
                await connection.execute(
                    select(KeyResult.owner_id, KeyResult.id).where(KeyResult.team_id == team_id)
                )
            ).all()
        )
        prompts, check_ins, values = [], [], {}
        for week in range(WEEKS):
            reference = server_week(first_week, week)
            for user, tz in zone_of.items():
                start = owner_week_for(SLOT, reference, ZoneInfo(tz))
                roll = rng.random()
                answered = roll < 0.9
                prompts.append(
                    {
                        "team_id": team_id,
                        "user_id": user,
                        "period_start": start,
                        "period_end": start + WEEK,
                        "slot": f"{SLOT.weekday}@{SLOT.local_time}",
                        "state": "answered" if answered else "sent",
                        "channel_id": f"D{user}",
                        "message_ts": f"{start.timestamp():.6f}",
                        "sent_at": start,
                        "answered_at": start + timedelta(hours=3) if answered else None,
                        "skipped_at": start if 0.9 <= roll < 0.93 else None,
                        "created_at": start,
                    }
                )
                if answered:
                    values[user] = values.get(user, 0.0) + rng.uniform(0.5, 6.0)
                    check_ins.append(
                        {
                            "team_id": team_id,
                            "key_result_id": kr_ids[user],
                            "value": round(values[user], 2),
                            "status": rng.choice(STATUSES),
                            "confidence": rng.randint(3, 9),
                            "note": "hiring slipped" if rng.random() < 0.2 else None,
                            "author_id": user,
                            "source": "dm",
                            "created_at": start + timedelta(hours=3),
                            "period_start": start,
                            "no_change": False,
                        }
                    )
        await connection.execute(insert(Prompt), prompts)
        await connection.execute(insert(CheckIn), check_ins)


async def measure(
    db: Database, counter: StatementCounter, team_id: str, last_week: datetime, runs: int
) -> dict[str, Any]:
    """Plan the last week's digest when due, then build and render it `runs` times."""
    async with db.team(team_id) as store:
        zone_names = await store.workspace.zone_names()
    due = week_closes_at(SLOT, last_week, zone_names, SERVER_ZONE)
    async with db.team(team_id) as store:
        context = await load_context(store)
        assert context is not None
        with counter.counting() as planned:
            count = await plan_digests(store, context, due, timedelta(0), SERVER_ZONE)
    assert count >= 1, "the last week's digest was not planned"  # (and the week before)
    key = digest_key("C1", last_week + WEEK)
    samples: list[float] = []
    statements: list[int] = []
    lines = 0
    for _ in range(runs + 2):
        started = time.perf_counter()
        async with db.team(team_id) as store:
            with counter.counting() as box:
                row = await store.outbox.by_key(key)
                assert row is not None
                context = await load_context(store)
                assert context is not None
                view = await digest_view(store, context, row)
                assert view is not None
                message = render_digest(view)
        samples.append((time.perf_counter() - started) * 1000)
        statements.append(box[0])
        lines = sum(len(o.key_results) for o in view.objectives)
    samples = samples[2:]  # warm-up
    ordered = sorted(samples)
    return {
        "plan statements": planned[0],
        "build statements": statements[-1],
        "build ms median": statistics.median(samples),
        "build ms p95": ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)],
        "missing": len(view.missing_owners),
        "key results": lines,
        "blocks": len(message.blocks),
    }


async def run_backend(
    label: str, url: str, owners: int, zones: int, runs: int
) -> list[tuple[str, dict[str, Any]]]:
    note(f"[{label}] migrating")
    await upgrade_async(url)
    db = Database(url)
    counter = StatementCounter(db)
    first_week = datetime(2026, 10, 5, 7, 30, tzinfo=UTC)  # Monday 09:30 Berlin (CEST)
    last_week = server_week(first_week, WEEKS - 1)
    results = []
    try:
        for team_id, size, size_zones in (("TBIG", owners, zones), ("TSMALL", 20, 5)):
            note(f"[{label}] seeding {size} owners in {size_zones} zones")
            await seed(db, team_id, size, size_zones, first_week)
            results.append(
                (f"{size} owners / {size_zones} zones", await measure(
                    db, counter, team_id, last_week, runs
                ))
            )  # fmt: skip
    finally:
        counter.close()
        await db.engine.dispose()
    return results


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--zones", type=int, default=30)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    table: list[tuple[str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        for size, result in await run_backend("sqlite", url, args.owners, args.zones, args.runs):
            table.append(("sqlite", size, result))
    if not args.sqlite_only:
        problem = await postgres_problem()
        if problem:
            note(f"[postgresql] skipped: {problem}")
        else:
            async with throwaway_postgres() as pg_url:
                for size, result in await run_backend(
                    "postgresql", pg_url, args.owners, args.zones, args.runs
                ):
                    table.append(("postgresql", size, result))
    columns = list(table[0][2])
    print("| database | channel | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for backend, size, result in table:
        cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in result.values()]
        print(f"| {backend} | {size} | " + " | ".join(cells) + " |")
    failed = False
    for backend in {row[0] for row in table}:
        counts = {
            (r["plan statements"], r["build statements"]) for b, _, r in table if b == backend
        }
        if len(counts) != 1:
            note(f"[{backend}] statement counts differ by size: {counts}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
