"""Benchmark `/okr status`: SQL statements per report, and end-to-end latency.

    .venv/bin/python bench/status.py [--database-url URL] [--requests 50] [--warmup 5]

By default it runs on SQLite in a temporary file and on PostgreSQL in a
throwaway database that it creates and drops itself (admin DSN from
OKRBOT_BENCH_PG_DSN, default postgresql://postgres@127.0.0.1:5432/postgres;
skipped with a note when unreachable). With --database-url it runs on that
database only, seeding workspaces under fresh team ids and deleting them after.

For each database it seeds a big workspace (200 objectives, 1,000 key results,
50,000 check-ins) and a small one (10 / 50 / 2,500) with SQLAlchemy Core bulk
inserts (on PostgreSQL followed by ANALYZE, as autovacuum would have run by the
time a workspace is this big; `--no-analyze` skips it), then:

- counts the SQL statements issued while building and rendering
  `/okr status all` and `/okr status O-7` for both sizes: they must be equal,
  since a report loads in a constant number of queries;
- times signed slash commands through the real HTTP server (Bolt + aiohttp)
  until the emulated Slack records the response_url reply, the four cases (two
  commands, two sizes) round robin so that drift in the machine's speed falls on
  all of them alike, and prints the 200/10 ratio of their medians;
- prints the payload size and block count of the 200-objective replies.

Progress goes to stderr, the tables to stdout. The exit status is 1 when a
statement count differs between sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, insert, select, update  # noqa: E402

from bench.counting import StatementCounter  # noqa: E402
from bench.throwaway import gather_statistics, postgres_problem, throwaway_postgres  # noqa: E402
from bot.blocks.status import render_status  # noqa: E402
from bot.okrs.commands import Status, parse_okr_command  # noqa: E402
from bot.runtime.heap import settle_heap_for_serving  # noqa: E402
from bot.runtime.services import Services  # noqa: E402
from storage.db import Database, upgrade_async  # noqa: E402
from storage.models import CheckIn, KeyResult, Objective, Workspace  # noqa: E402
from tests.support.harness import SIGNING_SECRET, Bot, FakeClock, make_services, start_bot  # noqa: E402
from tests.support.slack_emulator import SlackEmulator  # noqa: E402
from tests.support.slack_requests import SlackRequestSender  # noqa: E402

COMMANDS = ("status all", "status O-7")
ANALYZED_TABLES = ("workspaces", "objectives", "key_results", "check_ins", "slack_users", "prompts")
USERS = {"U1": "ana", "U2": "ben", "U3": "cleo", "U4": "dev"}
CHANNELS = {"C1": "general", "C2": "growth", "C3": "platform"}
KINDS = ("increase", "decrease", "range", "boolean")
STATUSES = ("on_track", "on_track", "on_track", "at_risk", "off_track")


@dataclass(frozen=True)
class Size:
    label: str
    objectives: int
    key_results_per_objective: int
    check_ins_per_key_result: int

    @property
    def key_results(self) -> int:
        return self.objectives * self.key_results_per_objective

    @property
    def check_ins(self) -> int:
        return self.key_results * self.check_ins_per_key_result


BIG = Size("200", 200, 5, 50)
SMALL = Size("10", 10, 5, 50)


@dataclass
class Timing:
    samples_ms: list[float]
    ack_ms: list[float]
    statements: list[int]

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class Result:
    backend: str
    seeding: dict[str, float] = field(default_factory=dict)
    statements: dict[tuple[str, str], int] = field(default_factory=dict)  # (size, command)
    build_ms: dict[tuple[str, str], float] = field(default_factory=dict)
    timings: dict[tuple[str, str], Timing] = field(default_factory=dict)
    payloads: dict[str, dict[str, int]] = field(default_factory=dict)  # command → sizes
    invalid_payloads: list[str] = field(default_factory=list)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Seeding --------------------------------------------------------------------


async def seed(db: Database, team_id: str, size: Size, clock: FakeClock) -> float:
    """Bulk-insert one workspace with Core; returns the seconds it took."""
    started = time.perf_counter()
    rng = random.Random(f"okrbot-bench-{size.label}")
    now = clock.now
    created = now - timedelta(weeks=size.check_ins_per_key_result + 1)
    async with db.engine.begin() as connection:
        await connection.execute(
            insert(Workspace).values(
                team_id=team_id,
                name=f"bench {size.label}",
                last_objective_number=size.objectives,
                last_key_result_number=size.key_results,
                installed=True,
                created_at=created,
            )
        )
        await connection.execute(
            insert(Objective),
            [
                {
                    "team_id": team_id,
                    "number": n,
                    "title": f"Objective {n}: grow weekly active teams in segment {n % 17}",
                    "owner_id": f"U{1 + n % 4}",
                    "channel_id": f"C{1 + n % 3}",
                    "cycle": "2026-Q4",
                    "status": "active",
                    "created_at": created,
                    "updated_at": created,
                }
                for n in range(1, size.objectives + 1)
            ],
        )
        objective_rows = await connection.execute(
            select(Objective.number, Objective.id).where(Objective.team_id == team_id)
        )
        objective_ids: dict[int, int] = {number: id_ for number, id_ in objective_rows}
        # A few objectives sit under O-1, so reports also resolve parents.
        await connection.execute(
            update(Objective)
            .where(
                Objective.team_id == team_id,
                Objective.number.in_(range(2, size.objectives + 1, 5)),
            )
            .values(parent_id=objective_ids[1])
        )
        key_results = []
        histories: dict[int, list[dict[str, Any]]] = {}
        for n in range(1, size.key_results + 1):
            objective_number = 1 + (n - 1) // size.key_results_per_objective
            kind = KINDS[n % len(KINDS)]
            owner = f"U{1 + n % 4}"
            start, target, low, high = {
                "increase": (100.0, 200.0, None, None),
                "decrease": (50.0, 20.0, None, None),
                "range": (None, None, 2.0, 5.0),
                "boolean": (0.0, 1.0, None, None),
            }[kind]
            history = []
            for week in range(size.check_ins_per_key_result, 0, -1):
                step = size.check_ins_per_key_result - week
                value = {
                    "increase": 100.0 + step * rng.uniform(0.5, 2.5),
                    "decrease": 50.0 - step * rng.uniform(0.1, 0.6),
                    "range": rng.uniform(1.0, 6.0),
                    "boolean": float(week == 1 and rng.random() < 0.3),
                }[kind]
                history.append(
                    {
                        "team_id": team_id,
                        "value": round(value, 2),
                        "status": rng.choice(STATUSES),
                        "confidence": rng.randint(2, 10),
                        "note": "hiring slipped a week" if rng.random() < 0.2 else None,
                        "author_id": owner,
                        "source": "modal",
                        "created_at": now - timedelta(weeks=week - 1, hours=rng.randint(1, 48)),
                    }
                )
            histories[n] = history
            key_results.append(
                {
                    "team_id": team_id,
                    "number": n,
                    "objective_id": objective_ids[objective_number],
                    "title": f"KR {n}: {kind} the metric that matters for objective "
                    f"{objective_number}",
                    "owner_id": owner,
                    "kind": kind,
                    "start_value": start,
                    "target_value": target,
                    "range_low": low,
                    "range_high": high,
                    "current_value": history[-1]["value"],
                    "unit": "teams" if kind == "increase" else None,
                    "confidence": rng.randint(3, 9),
                    "created_at": created,
                    "updated_at": created,
                }
            )
        await connection.execute(insert(KeyResult), key_results)
        kr_ids = (
            await connection.execute(
                select(KeyResult.number, KeyResult.id).where(KeyResult.team_id == team_id)
            )
        ).all()
        check_ins = [
            {**row, "key_result_id": kr_id} for number, kr_id in kr_ids for row in histories[number]
        ]
        for start in range(0, len(check_ins), 10_000):
            await connection.execute(insert(CheckIn), check_ins[start : start + 10_000])
    return time.perf_counter() - started


# Measurements ---------------------------------------------------------------


async def statements_for(
    services: Services, counter: StatementCounter, team_id: str, text: str
) -> tuple[int, float]:
    """Statements issued while building and rendering one report, and its median time."""
    command = parse_okr_command(text)
    assert isinstance(command, Status)

    async def build() -> None:
        report = await services.status.report(team_id, "C9", command, services.clock())
        render_status(report)

    await build()  # warm the pool and the dialect first
    with counter.counting() as box:
        await build()
    durations = []
    for _ in range(5):
        started = time.perf_counter()
        await build()
        durations.append((time.perf_counter() - started) * 1000)
    return box[0], statistics.median(durations)


def payload_sizes(reply: dict[str, Any]) -> dict[str, int]:
    encoded = json.dumps(reply, separators=(",", ":"), ensure_ascii=False).encode()
    return {
        "bytes": len(encoded),
        "blocks": len(reply.get("blocks") or []),
        "text": len(str(reply.get("text", ""))),
    }


async def time_commands(
    bot: Bot,
    counter: StatementCounter,
    cases: list[tuple[str, str]],
    requests: int,
    warmup: int,
) -> dict[tuple[str, str], tuple[Timing, dict[str, Any]]]:
    """Send `/okr <text>` in each (team, text) case, round robin, until each has had
    `requests` timed ones; time each until the emulator records the reply.

    Round robin, not one case after the other: this machine's speed drifts by up to
    2x over seconds, and each case timed in its own block of a few seconds compared
    those moments as much as the workspaces. Each round starts one case later, so no
    case always runs first.
    """
    timings = {case: Timing([], [], []) for case in cases}
    replies: dict[tuple[str, str], dict[str, Any]] = {}
    for round_number in range(warmup + requests):
        shift = round_number % len(cases)
        for team_id, text in cases[shift:] + cases[:shift]:
            before = counter.count
            started = time.monotonic()  # the emulator stamps recorded calls with time.monotonic()
            result = await bot.command(text, team=team_id, channel="C9")
            recorded = bot.slack.calls_to("response_url")[-1]
            reply = result.visible
            if reply.get("response_type") != "in_channel" or not recorded.ok:
                raise SystemExit(f"/okr {text} in {team_id} did not produce a report: {reply}")
            replies[(team_id, text)] = reply
            if round_number >= warmup:
                timing = timings[(team_id, text)]
                timing.samples_ms.append((recorded.at - started) * 1000)
                timing.ack_ms.append(result.ack.elapsed * 1000)
                timing.statements.append(counter.count - before)
    return {case: (timings[case], replies[case]) for case in cases}


async def bench_database(
    url: str, backend: str, requests: int, warmup: int, cleanup: bool, analyze: bool
) -> Result:
    result = Result(backend)
    await upgrade_async(url)
    suffix = uuid.uuid4().hex[:8].upper()
    teams = {BIG.label: f"TBIG{suffix}", SMALL.label: f"TSMALL{suffix}"}
    clock = FakeClock()
    slack = SlackEmulator(bot_tokens={"xoxb-test": teams[BIG.label]})
    await slack.start()
    for team_id in teams.values():
        for user_id, name in USERS.items():
            slack.add_user(user_id, name, team_id=team_id, tz="Europe/Madrid")
        for channel_id, name in [*CHANNELS.items(), ("C9", "random")]:
            slack.add_channel(channel_id, name, team_id=team_id)
    services = make_services(url, slack, clock)
    counter = StatementCounter(services.db)
    runner = None
    try:
        for size in (BIG, SMALL):
            seconds = await seed(services.db, teams[size.label], size, clock)
            result.seeding[size.label] = seconds
            note(
                f"[{backend}] seeded {size.objectives} objectives / {size.key_results:,} KRs / "
                f"{size.check_ins:,} check-ins in {seconds:.1f} s"
            )
        if analyze and await gather_statistics(services.db, ANALYZED_TABLES):
            note(f"[{backend}] ANALYZE after seeding, as autovacuum would have by now")
        settle_heap_for_serving()  # as `okrbot run` does once it serves
        for size in (SMALL, BIG):
            for text in COMMANDS:
                count, ms = await statements_for(services, counter, teams[size.label], text)
                result.statements[(size.label, text)] = count
                result.build_ms[(size.label, text)] = ms

        bot, runner = await start_bot(services, slack, clock)
        async with SlackRequestSender(bot.url, SIGNING_SECRET) as sender:
            bot.sender = sender  # one keep-alive HTTP session, like Slack's own client
            note(f"[{backend}] timing {len(COMMANDS) * 2} commands, round robin …")
            cases = [(teams[size.label], text) for size in (BIG, SMALL) for text in COMMANDS]
            timed = await time_commands(bot, counter, cases, requests, warmup)
            for size in (BIG, SMALL):
                for text in COMMANDS:
                    timing, reply = timed[(teams[size.label], text)]
                    result.timings[(size.label, text)] = timing
                    if size is BIG:
                        result.payloads[text] = payload_sizes(reply)
        result.invalid_payloads = list(slack.invalid_payloads)
    finally:
        if runner is not None:
            await runner.cleanup()
        counter.close()
        if cleanup:
            async with services.db.session() as session:
                await session.execute(
                    delete(Workspace).where(Workspace.team_id.in_(teams.values()))
                )
        await services.close()
        await slack.stop()
    return result


# Databases ------------------------------------------------------------------


async def run_default(requests: int, warmup: int, analyze: bool) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="okrbot-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        note(f"[sqlite] {url}")
        results.append(
            await bench_database(url, "sqlite", requests, warmup, cleanup=False, analyze=analyze)
        )
    problem = await postgres_problem()
    if problem is not None:
        print(f"NOTE: PostgreSQL skipped, {problem}")
        return results
    async with throwaway_postgres() as url:
        note(f"[postgresql] throwaway database {url.rsplit('/', 1)[1]}")
        results.append(
            await bench_database(
                url, "postgresql", requests, warmup, cleanup=False, analyze=analyze
            )
        )
    return results


async def run_one(url: str, requests: int, warmup: int, analyze: bool) -> list[Result]:
    backend = Database(url).engine.dialect.name
    return [await bench_database(url, backend, requests, warmup, cleanup=True, analyze=analyze)]


# Output ---------------------------------------------------------------------


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def report(results: list[Result], requests: int, warmup: int) -> bool:
    ok = True
    print()
    print("Seeding (SQLAlchemy Core bulk inserts)")
    rows = []
    for r in results:
        for size in (BIG, SMALL):
            rows.append(
                [
                    r.backend,
                    f"{size.objectives} objectives",
                    f"{size.key_results:,}",
                    f"{size.check_ins:,}",
                    f"{r.seeding[size.label]:.1f}",
                ]
            )
    print(table(["database", "workspace", "key results", "check-ins", "seconds"], rows))

    print()
    print("SQL statements while building + rendering a report (must not grow with the workspace)")
    rows = []
    for r in results:
        for text in COMMANDS:
            small, big = r.statements[(SMALL.label, text)], r.statements[(BIG.label, text)]
            verdict = "OK" if small == big else "FAIL"
            ok &= small == big
            rows.append(
                [
                    r.backend,
                    f"/okr {text}",
                    str(small),
                    str(big),
                    verdict,
                    f"{r.build_ms[(SMALL.label, text)]:.1f}",
                    f"{r.build_ms[(BIG.label, text)]:.1f}",
                ]
            )
    print(
        table(
            ["database", "command", "SQL @10", "SQL @200", "result", "ms @10", "ms @200"],
            rows,
        )
    )
    print("  (ms: median in-process StatusService.report + render_status, no HTTP)")
    print(
        "OK: statement counts are equal for 10 and 200 objectives"
        if ok
        else "FAIL: statement counts grow with the workspace (a query per row?)"
    )

    print()
    print(
        f"End to end: signed slash command -> response_url reply recorded "
        f"({requests} requests after {warmup} warm-ups)"
    )
    rows = []
    for r in results:
        for size in (BIG, SMALL):
            for text in COMMANDS:
                t = r.timings[(size.label, text)]
                sql = sorted(set(t.statements))
                rows.append(
                    [
                        r.backend,
                        f"/okr {text}",
                        size.label,
                        f"{t.median:.1f}",
                        f"{t.p95:.1f}",
                        f"{max(t.samples_ms):.1f}",
                        f"{statistics.median(t.ack_ms):.1f}",
                        "/".join(map(str, sql)),
                    ]
                )
    print(
        table(
            [
                "database",
                "command",
                "objectives",
                "median ms",
                "p95 ms",
                "max ms",
                "ack ms",
                "SQL/request",
            ],
            rows,
        )
    )
    print("  (ack ms: median time to the HTTP 200 that acknowledges the command)")
    print()
    print("200 vs 10 objectives, ratio of the end-to-end medians (the aim for status all: <= 2)")
    for r in results:
        for text in COMMANDS:
            big, small = r.timings[(BIG.label, text)].median, r.timings[(SMALL.label, text)].median
            verdict = ("met" if big <= 2 * small else "NOT met") if text == "status all" else ""
            print(f"  {r.backend:<10}  /okr {text:<11} {big / small:5.2f}  {verdict}")

    print()
    print("Reply size in the 200-objective workspace (Slack allows 50 blocks per message)")
    rows = []
    for r in results:
        for text in COMMANDS:
            p = r.payloads[text]
            rows.append(
                [r.backend, f"/okr {text}", f"{p['bytes']:,}", str(p["blocks"]), str(p["text"])]
            )
    print(table(["database", "command", "payload bytes", "blocks", "text chars"], rows))

    invalid = [(r.backend, p) for r in results for p in r.invalid_payloads]
    if invalid:
        ok = False
        print()
        print("FAIL: Slack would reject these payloads:")
        for backend, problem in invalid:
            print(f"  [{backend}] {problem}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="benchmark only this database (sqlite:///… or postgresql://…); "
        "default: a temporary SQLite file and a throwaway PostgreSQL database",
    )
    parser.add_argument("--requests", type=int, default=50, help="timed requests per command")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: keep a fresh bulk load's missing statistics (no ANALYZE)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    started = time.perf_counter()
    if args.database_url:
        results = asyncio.run(
            run_one(args.database_url, args.requests, args.warmup, not args.no_analyze)
        )
    else:
        results = asyncio.run(run_default(args.requests, args.warmup, not args.no_analyze))
    ok = report(results, args.requests, args.warmup)
    print()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
