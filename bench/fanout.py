"""Benchmark the weekly prompt fan-out and the idle tick, against a rate-limited Slack.

    .venv/bin/python bench/fanout.py [--owners 10000] [--zones 30] [--rate 200] [--burst 10]
                                     [--database-url URL | --postgres] [--tracemalloc]
                                     [--no-analyze] [--no-breakdown] [--profile FILE]

Default database: SQLite in a temporary file. `--postgres` creates a throwaway
PostgreSQL database via asyncpg (admin DSN from OKRBOT_BENCH_PG_DSN, default
postgresql://postgres@127.0.0.1:5432/postgres) and drops it afterwards. With
`--database-url` the workspace is seeded under a fresh team id and deleted after.

The Slack Web API emulator (tests/slack_emulator.py) runs in a child process, as
Slack would be remote: its request handling, Block Kit validation and message
store cost the bot neither CPU nor memory. It limits chat.postMessage to one
message per second per channel plus `--rate` per second for the workspace (token
buckets holding `--burst` tokens), answering 429 with Retry-After beyond that.

1. Seed `--owners` owners (one key result each) round-robin over `--zones` IANA
   time zones between UTC-11 and UTC+14; workspace schedule Monday 09:00. The
   measured instant is Tuesday 02:00 UTC, six hours after the latest zone's
   Monday 09:00 (Pacific/Pago_Pago), so every owner's period is open and nobody
   has a prompt yet. The time-zone cache is fresh (no users.list in the tick).
2. One `tick(services, now)` at that instant: wall and CPU time, prompts
   delivered (counted by message metadata in the emulator's DMs), duplicates,
   lost, 429s answered, throughput against the workspace rate, SQL statements,
   peak memory (RSS sampled every 20 ms, ru_maxrss; `--tracemalloc` adds the
   traced peak but slows the tick about 2.5x, so its throughput is not
   representative). Rows the tick left for later (a post that got 429 six times
   in a row) are then sent by catch-up ticks a minute apart, as in production.
3. Ticks when nothing is due, a few minutes later: median and max wall time,
   the SQL statements of one such tick and the slowest of them. On PostgreSQL
   the benchmark runs ANALYZE after seeding and after the fan-out, as autovacuum
   would have by then (`--no-analyze` keeps the statistics of a fresh bulk load).
4. Unless `--no-breakdown`: the cost of each step of one delivery, timed
   sequentially on rows the fan-out sent (CPU and wall per call), to explain
   the throughput.

Progress goes to stderr, the report to stdout. Exit status 1 when a prompt was
lost or duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, select, text, update  # noqa: E402

from bench.counting import StatementCounter  # noqa: E402
from bench.throwaway import gather_statistics, throwaway_postgres  # noqa: E402
from bot.blocks.checkins import render_prompt  # noqa: E402
from bot.checkins.cycle import prompt_views  # noqa: E402
from bot.checkins.planning import WEEK  # noqa: E402
from bot.core.schedule import WeeklySlot, previous_slot  # noqa: E402
from bot.runtime.config import load_settings  # noqa: E402
from bot.runtime.jobs import tick  # noqa: E402
from bot.runtime.services import Services, build_services  # noqa: E402
from bot.slack import outbox  # noqa: E402
from storage.db import upgrade_async  # noqa: E402
from storage.models import (  # noqa: E402
    DeliveryLeader,
    OutboxMessage,
    Prompt,
    Schedule,
    Workspace,
)
from tests.support.harness import SIGNING_SECRET, FakeClock  # noqa: E402
from tests.support.seeding import owner_ids, seed_owners  # noqa: E402
from tests.support.slack_emulator import SlackEmulator  # noqa: E402

TOKEN = "xoxb-bench"
# UTC-11 … UTC+14, with half- and quarter-hour offsets and both hemispheres' DST.
ALL_ZONES = [
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "UTC",
    "Europe/London",
    "Europe/Madrid",
    "Africa/Cairo",
    "Europe/Moscow",
    "Asia/Tehran",
    "Asia/Dubai",
    "Asia/Kabul",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Tokyo",
    "Australia/Adelaide",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Tongatapu",
    "Asia/Shanghai",
    "Asia/Yangon",
]
SLOT = WeeklySlot(0, "09:00")  # the default schedule: Monday 09:00, local time
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 02:00 UTC
CREATED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # the Wednesday before
IDLE_TICKS = 7
ANALYZED_TABLES = (
    *("workspaces", "schedules", "objectives", "key_results", "slack_users"),
    *("prompts", "outbox", "check_ins"),
)
MAX_CATCH_UP_TICKS = 10
BREAKDOWN_SAMPLES = 300
RUN_BUDGET_SECONDS = 240  # owners / rate must fit in this (the whole run in ~5 minutes)


def log(message: str) -> None:
    print(f"[fanout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_seconds() -> float:
    """User + system CPU of this process, all threads (aiosqlite's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ------------------------------------------------------------------ the emulator, elsewhere


def _emulator_main(conn: Connection, team_id: str) -> None:
    asyncio.run(_serve_emulator(conn, team_id))


async def _serve_emulator(conn: Connection, team_id: str) -> None:
    emulator = SlackEmulator(bot_tokens={TOKEN: team_id})
    await emulator.start()
    conn.send(emulator.base_url)
    loop = asyncio.get_running_loop()
    while True:
        command, args = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            break
        try:
            conn.send(("ok", _EMULATOR_COMMANDS[command](emulator, team_id, *args)))
        except Exception as exc:  # report to the parent instead of dying silently
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    await emulator.stop()
    conn.send(("ok", None))


def _add_users(emulator: SlackEmulator, team_id: str, users: list[tuple[str, str]]) -> int:
    for user_id, tz in users:
        emulator.add_user(user_id, user_id.lower(), team_id=team_id, tz=tz)
    return len(users)


def _set_rate(
    emulator: SlackEmulator, team_id: str, per_channel: float, workspace: float, burst: float
) -> None:
    emulator.set_post_rate_limit(
        per_channel_per_second=per_channel, workspace_per_second=workspace, burst=burst
    )


def _clear_rate(emulator: SlackEmulator, team_id: str) -> None:
    emulator.clear_post_rate_limit()


_CPU_AT_RESET = [0.0]


def _reset(emulator: SlackEmulator, team_id: str) -> None:
    emulator.reset_calls()
    emulator.rate_limited_count = 0
    _CPU_AT_RESET[0] = cpu_seconds()


def _stats(emulator: SlackEmulator, team_id: str, owners: list[str]) -> dict[str, Any]:
    """Prompts per owner (by metadata), and what the bot asked of Slack since the reset."""
    prompts: dict[str, int] = {}
    other = 0
    for owner in owners:
        count = 0
        for message in emulator.messages(f"D{owner}"):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") != outbox.METADATA_EVENT:
                continue
            if (metadata.get("event_payload") or {}).get("kind") == "prompt":
                count += 1
            else:
                other += 1
        prompts[owner] = count
    methods: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    posted_at: list[float] = []
    limited_at: list[float] = []
    for call in emulator.calls:
        methods[call.method] += 1
        if call.method == "chat.postMessage":
            statuses[call.http_status] += 1
            if call.ok:
                posted_at.append(call.at)
            elif call.http_status == 429:
                limited_at.append(call.at)
    return {
        "prompts": prompts,
        "other_outbox_messages": other,
        "methods": dict(methods),
        "post_statuses": dict(statuses),
        "posted_at": posted_at,
        "limited_at": limited_at,
        "rate_limited": emulator.rate_limited_count,
        "cpu": cpu_seconds() - _CPU_AT_RESET[0],
        "invalid_payloads": len(emulator.invalid_payloads),
        "first_invalid": emulator.invalid_payloads[:3],
    }


def _count(emulator: SlackEmulator, team_id: str) -> tuple[int, float | None]:
    """Prompts posted so far (cheap: the recorded calls), and when the last one was."""
    posted = [c.at for c in emulator.calls if c.method == "chat.postMessage" and c.ok]
    return len(posted), (max(posted) if posted else None)


_EMULATOR_COMMANDS: dict[str, Callable[..., Any]] = {
    "count": _count,
    "new_response_url": lambda emulator, team_id: emulator.new_response_url(team_id=team_id),
    "responses": lambda emulator, team_id, url: len(emulator.responses(url)),
    "add_users": _add_users,
    "set_rate": _set_rate,
    "clear_rate": _clear_rate,
    "reset": _reset,
    "stats": _stats,
}


class RemoteEmulator:
    """A SlackEmulator in a child process, driven over a pipe (only between measurements)."""

    def __init__(self, team_id: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_emulator_main, args=(child, team_id), name="slack-emulator", daemon=True
        )
        self._process.start()
        deadline = time.monotonic() + 60
        while not self._conn.poll(0.2):
            if not self._process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Slack emulator process did not start")
        self.base_url: str = self._conn.recv()

    def call(self, command: str, *args: Any) -> Any:
        self._conn.send((command, args))
        status, result = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"emulator {command}: {result}")
        return result

    def close(self) -> None:
        if self._process.is_alive():
            with suppress(EOFError, OSError, RuntimeError):
                self.call("stop")
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# ------------------------------------------------------------------ measuring helpers


class RssSampler:
    """Peak resident set size while it runs, sampled from /proc every 20 ms."""

    def __init__(self) -> None:
        self.peak = rss_mib()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib())
            await asyncio.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, rss_mib())


def busiest_second(times: list[float]) -> int:
    """The most events in any one-second window (times sorted)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@dataclass
class Step:
    name: str
    per_message: float  # how many times one delivery does this
    cpu_ms: float
    wall_ms: float
    statements: float


@dataclass
class Result:
    backend: str
    owners: int
    zones: list[str]
    rate: float
    burst: float
    slot_spread: tuple[datetime, datetime] = (NOW, NOW)
    wall: float = 0.0
    cpu: float = 0.0
    report: dict[str, int] = field(default_factory=dict)
    statements: int = 0
    tracemalloc_peak: float | None = None
    rss_before: float = 0.0
    rss_peak: float = 0.0
    maxrss_after: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    tick_started: float = 0.0
    catch_up: list[str] = field(default_factory=list)
    final_prompts: dict[str, int] = field(default_factory=dict)
    outbox_states: dict[str, int] = field(default_factory=dict)
    prompts_in_db: int = 0
    idle_ms: list[float] = field(default_factory=list)
    idle_statements: int = 0
    idle_reports: list[str] = field(default_factory=list)
    idle_slack_calls: dict[str, int] = field(default_factory=dict)
    idle_timed_ms: float = 0.0
    idle_sql: list[tuple[float, str]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    autovacuum: str | None = None  # PostgreSQL only
    analyzed: int = 0
    replicas: int = 1
    replica_summaries: list[str] = field(default_factory=list)
    killed_at: float | None = None
    killed_after: int = 0


# ------------------------------------------------------------------ the benchmark


def make_bench_services(database_url: str, base_url: str, rate: float) -> Services:
    settings = load_settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=None,
        slack_client_id=None,
        slack_client_secret=None,
        slack_api_url=base_url,
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        okrbot_timezone="UTC",
        okrbot_slack_posts_per_second=rate,
    )
    return build_services(settings, clock=FakeClock(NOW))


async def seed(services: Services, team_id: str, owners: list[str], zones: list[str]) -> None:
    await seed_owners(services.db, team_id, owners, zones, CREATED)
    async with services.db.session() as session:
        # The workspace schedule, Monday 09:00 since the seeding day: the period that closed
        # on Monday 09:00 UTC began before it existed, so no digest is due at NOW.
        session.add(
            Schedule(
                team_id=team_id,
                channel_id="",
                weekday=SLOT.weekday,
                local_time=SLOT.local_time,
                created_at=CREATED,
                updated_at=CREATED,
            )
        )
        # The time-zone cache was refreshed an hour ago: no users.list during the ticks.
        await session.execute(
            update(Workspace)
            .where(Workspace.team_id == team_id)
            .values(users_synced_at=NOW - timedelta(hours=1))
        )


async def analyze(services: Services, args: argparse.Namespace, result: Result) -> None:
    """PostgreSQL: gather planner statistics, as autovacuum would have done by then."""
    if services.db.engine.dialect.name != "postgresql":
        return
    async with services.db.session() as session:
        result.autovacuum = str(await session.scalar(text("SHOW autovacuum")))
    if not args.no_analyze and await gather_statistics(services.db, ANALYZED_TABLES):
        result.analyzed += 1


async def outbox_states(services: Services, team_id: str) -> dict[str, int]:
    async with services.db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.team_id == team_id)
            .group_by(OutboxMessage.state)
        )
        return {state: count for state, count in rows.all()}


async def prompt_count(services: Services, team_id: str) -> int:
    async with services.db.session() as session:
        found = await session.scalar(
            select(func.count()).select_from(Prompt).where(Prompt.team_id == team_id)
        )
        return int(found or 0)


def tick_env(args: argparse.Namespace, database_url: str, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_"))}
    env.update(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=base_url,
        DATABASE_URL=database_url,
        OKRBOT_TIMEZONE="UTC",
        OKRBOT_SLACK_POSTS_PER_SECOND=str(args.rate),
    )
    return env


async def leader_pid(services: Services, team_id: str) -> int | None:
    async with services.db.session() as session:
        holder = await session.scalar(
            select(DeliveryLeader.holder).where(DeliveryLeader.team_id == team_id)
        )
    return int(holder.rsplit(":", 1)[-1]) if holder else None


async def measure_replicas(
    args: argparse.Namespace,
    services: Services,
    slack: RemoteEmulator,
    database_url: str,
    team_id: str,
    result: Result,
) -> None:
    """`--replicas` processes run `okrbot tick --at NOW` at once (three replicas ticking
    the same minute); with `--kill-after N` the one delivering is SIGKILLed after N
    prompts, and the others take over."""
    okrbot = str(Path(sys.executable).with_name("okrbot"))
    env = tick_env(args, database_url, slack.base_url)
    result.tick_started = time.monotonic()
    processes = [
        await asyncio.create_subprocess_exec(
            okrbot,
            "tick",
            "--at",
            NOW.isoformat(),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(args.replicas)
    ]
    waits = [asyncio.create_task(p.communicate()) for p in processes]
    if args.kill_after:
        for _ in range(3000):  # poll the emulator until the fan-out is that far along
            if slack.call("count")[0] >= args.kill_after:
                break
            await asyncio.sleep(0.2)
        pid = await leader_pid(services, team_id)
        victim = next((p for p in processes if p.pid == pid), None)
        if victim is not None:
            victim.send_signal(signal.SIGKILL)
            result.killed_at = time.monotonic()
            result.killed_after = slack.call("count")[0]
            log(f"killed the delivering tick (pid {pid}) after {result.killed_after} prompts")
    outputs = await asyncio.gather(*waits)
    result.wall = time.monotonic() - result.tick_started
    result.report = {}
    for index, (process, (_, err)) in enumerate(zip(processes, outputs, strict=True)):
        text = err.decode(errors="replace")
        where = Path(tempfile.gettempdir(), f"okrbot-fanout-tick-{index + 1}.log")
        await asyncio.to_thread(where.write_text, text)
        summary = text.strip().splitlines()[-1:] or [""]
        result.replica_summaries.append(f"exit {process.returncode}: {summary[0][:160]}")
    log(f"{args.replicas} tick processes done in {result.wall:.1f}s")


async def measure_fan_out(
    args: argparse.Namespace, services: Services, counter: StatementCounter, result: Result
) -> None:
    profiler = cProfile.Profile() if args.profile else None
    result.rss_before = rss_mib()
    if args.tracemalloc:
        tracemalloc.start()
    cpu_before = cpu_seconds()
    with counter.counting() as statements, RssSampler() as rss:
        result.tick_started = time.monotonic()
        if profiler is not None:
            profiler.enable()
        report = await tick(services, NOW)
        if profiler is not None:
            profiler.disable()
        result.wall = time.monotonic() - result.tick_started
    result.cpu = cpu_seconds() - cpu_before
    if args.tracemalloc:
        result.tracemalloc_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if profiler is not None:
        profiler.dump_stats(args.profile)
        log(f"profile of the tick written to {args.profile}")
    result.rss_peak = rss.peak
    result.maxrss_after = max_rss_mib()
    result.statements = statements[0]
    result.report = dict(report.done)
    log(f"fan-out tick done in {result.wall:.1f}s: {report.summary()}")


async def catch_up(services: Services, team_id: str, result: Result) -> datetime:
    """Ticks a minute apart until no outbox row is left pending, as the scheduler would."""
    at = NOW
    for _ in range(MAX_CATCH_UP_TICKS):
        if not (await outbox_states(services, team_id)).get("pending"):
            break
        at += timedelta(minutes=1)
        started = time.monotonic()
        report = await tick(services, at)
        result.catch_up.append(
            f"{report.summary().split(' — ', 1)[-1]} ({time.monotonic() - started:.1f}s)"
        )
        log(f"catch-up {report.summary()}")
    return at


async def measure_idle(
    args: argparse.Namespace,
    services: Services,
    counter: StatementCounter,
    after: datetime,
    result: Result,
) -> None:
    for minute in range(IDLE_TICKS):
        at = after + timedelta(minutes=5 + minute)
        with counter.counting() as statements:
            started = time.perf_counter()
            report = await tick(services, at)
            result.idle_ms.append((time.perf_counter() - started) * 1000)
        result.idle_statements = statements[0]
        result.idle_reports.append(report.summary().split(" — ", 1)[-1])
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        await tick(services, after + timedelta(minutes=4))
        profiler.disable()
        profiler.dump_stats(f"{args.profile}.idle")
        log(f"profile of an idle tick written to {args.profile}.idle")
    # Three more with each statement timed; the fastest shows where an idle tick's time goes.
    for extra in range(3):
        counter.timing, counter.timings = True, []
        started = time.perf_counter()
        await tick(services, after + timedelta(minutes=5 + IDLE_TICKS + extra))
        elapsed = (time.perf_counter() - started) * 1000
        counter.timing = False
        if not result.idle_sql or elapsed < result.idle_timed_ms:
            result.idle_timed_ms = elapsed
            result.idle_sql = sorted(counter.timings, reverse=True)


async def timed(
    counter: StatementCounter, calls: list[Callable[[], Awaitable[Any]]]
) -> tuple[float, float, float]:
    """CPU ms, wall ms and statements per call, running the calls one after another."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    with counter.counting() as statements:
        for call in calls:
            await call()
    n = len(calls)
    return (
        (cpu_seconds() - cpu) * 1000 / n,
        (time.perf_counter() - wall) * 1000 / n,
        statements[0] / n,
    )


async def measure_steps(
    services: Services, counter: StatementCounter, team_id: str, result: Result
) -> None:
    """One delivery's steps, each timed alone on rows the fan-out sent (all idempotent)."""
    async with services.db.session() as session:
        rows = list(
            (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.team_id == team_id, OutboxMessage.state == "sent")
                    .order_by(OutboxMessage.id)
                    .limit(BREAKDOWN_SAMPLES)
                )
            ).all()
        )
    if not rows:
        return
    client = await services.clients.for_team(team_id)
    composer = services.cycle.composer()

    async def claim(row: OutboxMessage) -> None:
        async with services.db.team(team_id) as store:
            await store.outbox.claim_planned([row.dedupe_key], NOW, outbox.LEASE, "bench")

    async def load_and_compose(row: OutboxMessage) -> None:
        async with services.db.team(team_id) as store:
            await composer.load(store, [row])
        await composer.compose(client, row)

    async with services.db.team(team_id) as store:
        context = await services.cycle.context(store)
        assert context is not None
        views = await prompt_views(store, context, [row.ref_id or 0 for row in rows])
    plan: list[tuple[str, float, list[Callable[[], Awaitable[Any]]]]] = [
        (
            "claim (write tx: SELECT + UPDATE … RETURNING, 1 row a call; a run claims ~0.5 s)",
            1,
            [partial(claim, r) for r in rows],
        ),
        (
            "compose: load the prompt view (read tx) + render_prompt",
            1,
            [partial(load_and_compose, r) for r in rows],
        ),
        (
            "  of which render_prompt alone (pure)",
            0,
            [_pure(render_prompt, views[r.ref_id or 0]) for r in rows],
        ),
        (
            "record sent (write tx: outbox row + prompt)",
            1,
            [
                partial(
                    services.outbox._record_sent,
                    r,
                    r.channel_id or "",
                    r.message_ts or "",
                    NOW,
                    composer,
                )
                for r in rows
            ],
        ),
        (
            "Web API call on the shared session",
            1,
            [partial(client.conversations_open, users=r.recipient) for r in rows],
        ),
    ]
    for name, per_message, calls in plan:
        cpu_ms, wall_ms, statements = await timed(counter, calls)
        result.steps.append(Step(name, per_message, cpu_ms, wall_ms, statements))


def _pure(function: Callable[..., Any], *args: Any) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return function(*args)

    return call


async def run(args: argparse.Namespace, database_url: str, backend: str, team_id: str) -> Result:
    zones = ALL_ZONES[: args.zones]
    result = Result(backend, args.owners, zones, args.rate, args.burst, replicas=args.replicas)
    starts = [previous_slot(SLOT, NOW, ZoneInfo(z)) for z in zones]
    result.slot_spread = (min(starts), max(starts))
    assert all(NOW - WEEK < s <= NOW for s in starts), "some zone's period is not open at NOW"
    assert all(s > CREATED for s in starts), "some zone's slot precedes the key results"

    log(f"{backend}: migrating")
    await upgrade_async(database_url)
    log("starting the Slack emulator in a child process")
    slack = RemoteEmulator(team_id)
    services = make_bench_services(database_url, slack.base_url, args.rate)
    counter = StatementCounter(services.db)
    try:
        owners = owner_ids(args.owners)
        log(f"seeding {len(owners):,} owners over {len(zones)} time zones")
        slack.call("add_users", [(o, zones[i % len(zones)]) for i, o in enumerate(owners)])
        await seed(services, team_id, owners, zones)
        await analyze(services, args, result)
        slack.call("set_rate", 1.0, args.rate, args.burst)
        client = await services.clients.for_team(team_id)
        await client.api_test()  # import and set-up costs out of the measured tick
        slack.call("reset")

        log(f"fan-out tick at {NOW.isoformat()}: all {len(owners):,} owners due")
        if args.replicas > 1 or args.kill_after:
            await measure_replicas(args, services, slack, database_url, team_id, result)
        else:
            await measure_fan_out(args, services, counter, result)
        result.stats = slack.call("stats", owners)
        last = await catch_up(services, team_id, result)
        if result.catch_up:
            result.final_prompts = slack.call("stats", owners)["prompts"]
        else:
            result.final_prompts = result.stats["prompts"]
        result.outbox_states = await outbox_states(services, team_id)
        result.prompts_in_db = await prompt_count(services, team_id)
        await analyze(services, args, result)

        log(f"{IDLE_TICKS} ticks when nothing is due")
        slack.call("reset")
        await measure_idle(args, services, counter, last, result)
        result.idle_slack_calls = slack.call("stats", [])["methods"]
        if args.breakdown:
            log("timing the steps of one delivery")
            slack.call("clear_rate")
            await measure_steps(services, counter, team_id, result)
    finally:
        counter.close()
        if args.database_url:
            async with services.db.session() as session:
                await session.execute(delete(Workspace).where(Workspace.team_id == team_id))
        await services.close()
        slack.close()
    return result


# ------------------------------------------------------------------ report


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}")


def print_report(r: Result) -> bool:
    s = r.stats
    in_tick = sum(s["prompts"].values())
    counts = list(r.final_prompts.values())
    delivered = sum(counts)
    duplicates = sum(1 for c in counts if c > 1)
    lost = sum(1 for c in counts if c == 0)
    missing_after_tick = sum(1 for c in s["prompts"].values() if c == 0)
    posted = sorted(s["posted_at"])
    limited = sorted(s["limited_at"])
    throughput = in_tick / r.wall if r.wall else 0.0
    first = posted[0] - r.tick_started if posted else 0.0
    last = posted[-1] - r.tick_started if posted else 0.0
    window_rate = (len(posted) - 1) / (last - first) if last > first else 0.0

    print()
    print(f"== okrbot fan-out benchmark ({r.backend}) ==")
    print(
        "Slack emulator (separate process): chat.postMessage limited to 1/s per channel and "
        f"{r.rate:g}/s per workspace, burst {r.burst:g}; 429 + Retry-After beyond it"
    )
    print(
        f"Workspace: {r.owners:,} owners, 1 key result each, {len(r.zones)} time zones "
        f"({r.zones[0]} … {r.zones[-1]}), schedule Monday 09:00 local"
    )
    print(
        f"Tick instant {NOW:%a %Y-%m-%d %H:%M} UTC; the owners' slots span "
        f"{r.slot_spread[0]:%a %H:%M} … {r.slot_spread[1]:%a %H:%M} UTC (all periods open)"
    )
    print(f"outbox.CONCURRENCY = {outbox.CONCURRENCY}; host CPUs: {os.cpu_count()}")
    if r.autovacuum is not None:
        done = "after seeding and after the fan-out" if r.analyzed else "never (--no-analyze)"
        print(f"PostgreSQL autovacuum: {r.autovacuum}; ANALYZE run by the benchmark: {done}")
    print()
    print(
        "Fan-out tick (everyone due)"
        + (f", {r.replicas} `okrbot tick` processes at once:" if r.replicas > 1 else ":")
    )
    for summary in r.replica_summaries:
        line("  a tick process", summary)
    line("wall time", f"{r.wall:.2f} s")
    line("tick report", ", ".join(f"{k}: {v}" for k, v in sorted(r.report.items())))
    line("prompts delivered by the tick", f"{in_tick:,} / {r.owners:,}")
    line("  not yet: left for a later tick (retry_later)", f"{missing_after_tick:,}")
    line(
        "achieved throughput (delivered / wall)",
        f"{throughput:.1f} msg/s = {throughput / r.rate:.3f} of the allowed {r.rate:g}/s",
    )
    line(
        "throughput first → last post",
        f"{window_rate:.1f} msg/s = {window_rate / r.rate:.3f} (first post after "
        f"{first:.2f} s, last after {last:.2f} s)",
    )
    line("busiest second: posts / 429s", f"{busiest_second(posted)} / {busiest_second(limited)}")
    line("chat.postMessage answers by HTTP status", str(s["post_statuses"]))
    line(
        "429s answered (emulator count)",
        f"{s['rate_limited']:,} = {100 * s['rate_limited'] / max(1, in_tick):.1f} per 100 messages",
    )
    if r.killed_at is not None:
        after = [t for t in posted if t > r.killed_at + 0.2]
        line("delivering process SIGKILLed after", f"{r.killed_after:,} prompts")
        if after:
            line(
                "successor's first post / last prompt after the kill",
                f"{after[0] - r.killed_at:.1f} s / {after[-1] - r.killed_at:.1f} s",
            )
    line("Slack calls by method", str(s["methods"]))
    line("invalid payloads", f"{s['invalid_payloads']} {s['first_invalid'] or ''}".rstrip())
    line(
        "SQL statements in the tick",
        f"{r.statements:,} ({r.statements / max(1, in_tick):.1f} per message)",
    )
    line(
        "bot process CPU time in the tick",
        f"{r.cpu:.1f} s = {r.cpu / r.wall:.0%} of wall, "
        f"{r.cpu * 1000 / max(1, in_tick):.1f} ms per message",
    )
    line("emulator process CPU time (not the bot's)", f"{s['cpu']:.1f} s")
    line(
        "RSS before / peak during the tick",
        f"{r.rss_before:.1f} / {r.rss_peak:.1f} MiB (+{r.rss_peak - r.rss_before:.1f} MiB)",
    )
    line("ru_maxrss of the process after the tick", f"{r.maxrss_after:.1f} MiB")
    if r.tracemalloc_peak is not None:
        line("tracemalloc peak during the tick", f"{r.tracemalloc_peak:.1f} MiB")
    else:
        line("tracemalloc peak during the tick", "not traced (run with --tracemalloc)")
    print()
    if r.catch_up:
        print("Catch-up ticks, a minute apart:")
        for index, text in enumerate(r.catch_up, 1):
            line(f"+{index} min", text)
        print()
    print("After the fan-out (and any catch-up ticks):")
    line("prompts delivered (by metadata in the DMs)", f"{delivered:,} / {r.owners:,}")
    line("duplicates (owners with >1 prompt)", f"{duplicates}")
    line("lost (owners with no prompt)", f"{lost}")
    line("prompts / outbox rows in the database", f"{r.prompts_in_db:,} / {r.outbox_states}")
    line("other okrbot messages in the DMs", str(s["other_outbox_messages"]))
    print()
    print(f"Idle tick (nothing due, {r.owners:,} owners), {len(r.idle_ms)} ticks a minute apart:")
    line("median / max", f"{statistics.median(r.idle_ms):.1f} ms / {max(r.idle_ms):.1f} ms")
    line("each", ", ".join(f"{ms:.1f}" for ms in r.idle_ms) + " ms")
    line("SQL statements per idle tick", str(r.idle_statements))
    line("tick reports", "; ".join(sorted(set(r.idle_reports))))
    line("Slack calls during idle ticks", str(r.idle_slack_calls or "none"))
    if r.idle_sql:
        in_sql = sum(elapsed for elapsed, _ in r.idle_sql) * 1000
        line(
            "fastest of 3 more, statements timed",
            f"{r.idle_timed_ms:.1f} ms, of which {in_sql:.1f} ms executing SQL "
            f"(incl. fetching rows); the rest is Python",
        )
        for elapsed, statement in r.idle_sql[:5]:
            print(f"    {elapsed * 1000:7.1f} ms  {statement[:110]}")
    if r.steps:
        print()
        print(f"One delivery, step by step (sequential, mean of {BREAKDOWN_SAMPLES} calls):")
        print(f"  {'step':<62} {'×/msg':>5} {'CPU ms':>7} {'wall ms':>8} {'SQL':>5}")
        total_cpu = 0.0
        for step in r.steps:
            total_cpu += step.per_message * step.cpu_ms
            times = f"{step.per_message:g}" if step.per_message else ""
            print(
                f"  {step.name:<62} {times:>5} {step.cpu_ms:7.2f} {step.wall_ms:8.2f} "
                f"{step.statements:5.1f}"
            )
        line(
            "sum over one delivery (CPU)",
            f"{total_cpu:.1f} ms → at most {1000 / total_cpu:.0f} msg/s on one core "
            f"(the tick measured {r.cpu * 1000 / max(1, in_tick):.1f} ms per message)",
        )
    print()
    ok = duplicates == 0 and lost == 0
    aim = "meets" if throughput / r.rate >= 0.9 else "is below"
    print(
        f"{'OK' if ok else 'FAILED'}: {delivered:,} delivered, {duplicates} duplicates, "
        f"{lost} lost; fan-out throughput {throughput / r.rate:.2f} of the allowed rate "
        f"({aim} the 0.9 aim); idle tick median {statistics.median(r.idle_ms):.0f} ms"
    )
    return ok


# ------------------------------------------------------------------ databases


async def main_async(args: argparse.Namespace) -> bool:
    if args.database_url:
        team_id = f"T{uuid.uuid4().hex[:10].upper()}"
        backend = args.database_url.split(":", 1)[0]
        return print_report(await run(args, args.database_url, backend, team_id))
    if args.postgres:
        async with throwaway_postgres() as url:
            return print_report(await run(args, url, "postgresql", "T1"))
    with tempfile.TemporaryDirectory(prefix="okrbot-fanout-") as tmp:
        return print_report(await run(args, f"sqlite:///{tmp}/fanout.db", "sqlite", "T1"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--zones", type=int, default=30, help=f"1 to {len(ALL_ZONES)}")
    parser.add_argument("--rate", type=float, default=200.0, help="workspace posts per second")
    parser.add_argument("--burst", type=float, default=10.0, help="token bucket capacity")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="an existing database (fresh team id, removed)")
    where.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace the tick's allocations (~2.5x slower)"
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="tick in this many processes at once"
    )
    parser.add_argument(
        "--kill-after", type=int, default=0, help="SIGKILL the delivering process after N posts"
    )
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false")
    parser.add_argument(
        "--no-analyze", action="store_true", help="PostgreSQL: leave planner statistics stale"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="write cProfiles of the fan-out tick to FILE, of an idle one to FILE.idle",
    )
    args = parser.parse_args()
    if not 1 <= args.zones <= len(ALL_ZONES):
        parser.error(f"--zones must be between 1 and {len(ALL_ZONES)}")
    if args.owners / args.rate > RUN_BUDGET_SECONDS:
        args.rate = args.owners / RUN_BUDGET_SECONDS
        log(f"workspace rate raised to {args.rate:g}/s to keep the run under ~5 minutes")
    log(f"Slack workspace rate for chat.postMessage: {args.rate:g}/s, burst {args.burst:g}")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    return 0 if asyncio.run(main_async(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
