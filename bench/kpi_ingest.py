"""Benchmark KPI ingestion: the HTTP API against a plain bulk insert, and the backtest.

    .venv/bin/python bench/kpi_ingest.py [--runs 5] [--seconds 5] [--profile]

Runs on SQLite (a temporary file) and on PostgreSQL (a throwaway database that
it creates and drops itself; admin DSN from OKRBOT_BENCH_PG_DSN, default
postgresql://postgres@127.0.0.1:5432/postgres; skipped with a note when
unreachable). For each database the real bot server (aiohttp + Bolt, as in the
tests) is started in this process and called over real HTTP with a real token:

- batch: one POST of 10,000 measurements to a fresh KPI with a learned range
  (median of --runs, a fresh KPI each) against a SQLAlchemy Core
  `insert(Measurement)` executemany of the same rows into the same database
  (median of --runs, a fresh KPI each); prints both, points/s, and the ratio
  core_time / api_time (the aim is >= 0.5);
- single: 8 concurrent clients POSTing one measurement at a time, for --seconds
  after a 1 s warm-up, to 8 KPIs (one each) and to 1 shared KPI; the clients run
  in a separate process so they do not compete with the server's event loop;
  prints requests/s and median/p95 latency;
- history: SQL statements (a before_cursor_execute listener) and median time of
  one single-point POST on a KPI holding 100 and one holding 50,000
  measurements: the counts must be equal, as evaluation reads the detector state
  on the KPI row rather than the history.

Then, once (it needs no database): `okrbot kpi backtest` on a 200,000-point CSV
in a subprocess pinned to one CPU (wall and CPU time, start-up included) and
its parts (`parse_history_csv`, `bot.detection.backtest`, `format_backtest_csv`)
in-process. When the batch ratio is below 0.5 (or with
--profile), the API batch is broken down (direct timings of its parts, and a
cProfile of one request) to show where its time goes.

Progress goes to stderr, results to stdout. Exit status 1 when the statement
counts differ.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import math
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from bench.counting import StatementCounter  # noqa: E402
from bench.throwaway import postgres_problem, throwaway_postgres  # noqa: E402
from bot.api.routes import parse_measurements  # noqa: E402
from bot.kpis.detection import (  # noqa: E402
    Detector,
    DetectorConfig,
    backtest,
    format_backtest_csv,
    parse_history_csv,
)
from bot.runtime.heap import settle_heap_for_serving  # noqa: E402
from bot.runtime.services import Services  # noqa: E402
from storage.db import upgrade_async  # noqa: E402
from storage.models import Alert, Kpi, Measurement  # noqa: E402
from tests.support.harness import FakeClock, make_services, start_bot  # noqa: E402
from tests.support.slack_emulator import SlackEmulator  # noqa: E402

OKRBOT = str(Path(sys.executable).parent / "okrbot")
TEAM = "TBENCH"
BATCH = 10_000
CLIENTS = 8
BIG_HISTORY = 50_000
SMALL_HISTORY = 100
BACKTEST_POINTS = 200_000
T0 = datetime(2025, 1, 6, tzinfo=UTC)
HOUR = timedelta(hours=1)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def series(n: int, seed: int, start: datetime = T0) -> list[tuple[datetime, float]]:
    """An hourly KPI with daily seasonality and noise (no anomalies)."""
    rng = random.Random(seed)
    return [
        (start + i * HOUR, round(100 + 8 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1), 3))
        for i in range(n)
    ]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def body_for(points: list[tuple[datetime, float]]) -> bytes:
    return json.dumps({"measurements": [{"at": iso(at), "value": v} for at, v in points]}).encode()


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class Result:
    backend: str
    api_s: list[float] = field(default_factory=list)
    core_s: list[float] = field(default_factory=list)
    single: dict[str, dict[str, Any]] = field(default_factory=dict)
    statements: dict[int, int] = field(default_factory=dict)  # history size → statements
    single_ms: dict[int, float] = field(default_factory=dict)
    alerts_opened: int = 0
    breakdown: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.core_s) / statistics.median(self.api_s)


# The bot, its token and its KPIs ---------------------------------------------


class Harness:
    def __init__(self, services: Services, url: str, token: str) -> None:
        self.services = services
        self.url = url
        self.token = token
        self.http: aiohttp.ClientSession | None = None
        self.ids: dict[str, int] = {}
        self._n = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    async def new_kpi(self, prefix: str) -> tuple[str, int]:
        """A fresh KPI with a learned range (no bounds) and no channel (no Slack posts)."""
        self._n += 1
        key = f"{prefix}_{self._n}"
        now = self.services.clock()
        async with self.services.db.session() as session:
            kpi = Kpi(
                team_id=TEAM,
                key=key,
                name=key,
                consecutive=1,
                min_history=30,
                created_at=now,
                updated_at=now,
            )
            session.add(kpi)
            await session.flush()
            self.ids[key] = kpi.id
            return key, kpi.id

    async def post(self, key: str, body: bytes) -> tuple[int, float]:
        assert self.http is not None
        started = time.perf_counter()
        async with self.http.post(
            f"{self.url}/api/v1/kpis/{key}/measurements", data=body, headers=self.headers
        ) as response:
            text = await response.text()
        elapsed = time.perf_counter() - started
        if response.status != 201:
            raise SystemExit(f"POST {key}: {response.status} {text[:300]}")
        return response.status, elapsed


async def core_insert(services: Services, rows: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    async with services.db.engine.begin() as connection:
        await connection.execute(insert(Measurement), rows)
    return time.perf_counter() - started


async def count_measurements(services: Services, kpi_id: int) -> int:
    async with services.db.session() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Measurement).where(Measurement.kpi_id == kpi_id)
            )
            or 0
        )


# Batch ingestion ---------------------------------------------------------------


async def bench_batch(harness: Harness, result: Result, runs: int) -> None:
    points = series(BATCH, seed=1)
    body = body_for(points)
    services = harness.services
    # Warm-up: connection pool, statement caches, first-call costs.
    key, _ = await harness.new_kpi("warm")
    await harness.post(key, body_for(points[:500]))
    key, kpi_id = await harness.new_kpi("warmcore")
    await core_insert(services, rows_for(kpi_id, points[:500]))
    for run in range(runs):  # interleaved, so drift affects both alike
        key, kpi_id = await harness.new_kpi("api")
        _, elapsed = await harness.post(key, body)
        assert await count_measurements(services, kpi_id) == BATCH
        result.api_s.append(elapsed)
        key, kpi_id = await harness.new_kpi("core")
        rows = rows_for(kpi_id, points)
        result.core_s.append(await core_insert(services, rows))
        assert await count_measurements(services, kpi_id) == BATCH
        note(
            f"[{result.backend}] batch run {run + 1}: api {result.api_s[-1] * 1000:.0f} ms, "
            f"core {result.core_s[-1] * 1000:.0f} ms"
        )
    async with services.db.session() as session:
        result.alerts_opened = int(await session.scalar(select(func.count()).select_from(Alert)))


def rows_for(kpi_id: int, points: list[tuple[datetime, float]]) -> list[dict[str, Any]]:
    return [
        {"team_id": TEAM, "kpi_id": kpi_id, "at": at, "value": value, "source": "api"}
        for at, value in points
    ]


async def breakdown(harness: Harness, result: Result) -> None:
    """Where the API batch time goes: its parts timed directly (median of 3), then cProfile."""
    points = series(BATCH, seed=1)
    body = body_for(points)
    services = harness.services
    lines = result.breakdown
    api_ms = statistics.median(result.api_s) * 1000
    now = services.clock()
    width = 62

    def line(label: str, ms: float) -> None:
        lines.append(f"  {label:<{width}} {ms:8.1f} ms  {ms / api_ms:6.1%}")

    def timed(label: str, function: Any) -> Any:
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            value = function()
            samples.append(time.perf_counter() - started)
        line(label, statistics.median(samples) * 1000)
        return value

    line("API batch, median wall time (for the shares)", api_ms)
    parsed = timed("json.loads(body)  (bot/api.py:post_measurements)", lambda: json.loads(body))
    checked = timed(
        "parse_measurements → 10,000 Point  (bot/api/routes.py)",
        lambda: parse_measurements(parsed, now),
    )

    def detect() -> None:
        detector = Detector(DetectorConfig())
        for p in checked:
            detector.update(p.at, p.value)
        json.dumps(detector.state())

    timed("Detector.update × 10,000 + state()  (bot/kpis/detection/)", detect)
    samples = []
    for _ in range(3):
        key, kpi_id = await harness.new_kpi("parts")
        started = time.perf_counter()
        async with services.db.team(TEAM) as store:
            # The statements ingest runs for a fresh KPI: every point is new.
            await store.kpis.store(kpi_id, checked, checked, "api")
        samples.append(time.perf_counter() - started)
    line(
        "KpiRepository.store: plain INSERT of points newer than any stored",
        statistics.median(samples) * 1000,
    )
    core_ms = statistics.median(result.core_s) * 1000
    line("plain Core insert(Measurement) of the same rows (reference)", core_ms)

    # cProfile of one whole request. Server and client share this thread; coroutine
    # times only count while running here (not while awaiting the database).
    key, _ = await harness.new_kpi("profiled")
    profiler = cProfile.Profile()
    profiler.enable()
    await harness.post(key, body)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [
        (tt, ct, f"{_short(filename)}:{number}({name})", name, calls)
        for (filename, number, name), (calls, _nc, tt, ct, _callers) in stats.items()
    ]
    handler = max((r for r in rows if r[3] == "post_measurements"), key=lambda r: r[1])[1]
    lines.append(
        f"  cProfile of one request: post_measurements ran {handler * 1000:.0f} ms on the "
        "event loop (profiler overhead included); shares of that:"
    )
    interesting = {
        "parse_measurements",
        "team_for_token",
        "ingest",
        "_store",
        "update",
        "_check_season",
        "_phase",
        "_apply_alerts",
        "_follow",
        "dumps",
    }
    picked = [r for r in rows if r[3] in interesting and ("bot/" in r[2] or "json" in r[2])]
    for _tt, ct, where, _name, calls in sorted(picked, key=lambda r: -r[1]):
        lines.append(f"    {ct / handler:6.1%}  cum {ct * 1000:7.1f} ms  {calls:>7} calls  {where}")
    lines.append("  largest own times (tottime):")
    for tt, _ct, where, _name, calls in sorted(rows, reverse=True)[:6]:
        lines.append(f"    {tt / handler:6.1%}  own {tt * 1000:7.1f} ms  {calls:>7} calls  {where}")


def _short(filename: str) -> str:
    for marker in ("/site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# Single-measurement requests from 8 clients (separate process) ----------------


async def load_clients(
    url: str, token: str, keys: list[str], clients: int, warmup: float, seconds: float, start: str
) -> dict[str, Any]:
    """Run in the child process: `clients` loops, each POSTing one point at a time."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    begin = datetime.fromisoformat(start)
    counters = [0] * len(keys)  # per KPI, so timestamps increase as requests are issued
    latencies: list[float] = []
    errors: list[str] = []
    loop_start = time.perf_counter()
    measure_from = loop_start + warmup
    measure_to = measure_from + seconds
    rng = random.Random(7)

    async def client(index: int) -> None:
        slot = index % len(keys)
        key = keys[slot]
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            while True:
                sent = time.perf_counter()
                if sent >= measure_to:
                    return
                n = counters[slot]
                counters[slot] += 1
                at = begin + n * HOUR
                value = round(100 + 8 * math.sin(2 * math.pi * n / 24) + rng.gauss(0, 1), 3)
                payload = json.dumps({"at": iso(at), "value": value})
                async with session.post(
                    f"{url}/api/v1/kpis/{key}/measurements", data=payload, headers=headers
                ) as response:
                    await response.read()
                done = time.perf_counter()
                if response.status != 201:
                    errors.append(f"{response.status}")
                if measure_from <= sent and done <= measure_to:
                    latencies.append(done - sent)

    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"latencies": latencies, "errors": errors, "seconds": seconds}


async def bench_single(harness: Harness, result: Result, seconds: float) -> None:
    for label, kpis in (("8 KPIs", CLIENTS), ("1 shared KPI", 1)):
        keys = [(await harness.new_kpi("single"))[0] for _ in range(kpis)]
        note(f"[{result.backend}] {CLIENTS} clients, {label}: 1 s warm-up + {seconds:g} s …")
        args = [
            sys.executable,
            __file__,
            "--load-client",
            json.dumps(
                {
                    "url": harness.url,
                    "token": harness.token,
                    "keys": keys,
                    "clients": CLIENTS,
                    "warmup": 1.0,
                    "seconds": seconds,
                    "start": T0.isoformat(),
                }
            ),
        ]
        child = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"load client failed: {err.decode()[-2000:]}")
        data = json.loads(out)
        latencies = data["latencies"]
        stored = sum([await count_measurements(harness.services, harness.ids[k]) for k in keys])
        result.single[label] = {
            "rps": len(latencies) / data["seconds"],
            "median_ms": statistics.median(latencies) * 1000,
            "p95_ms": p95(latencies) * 1000,
            "errors": len(data["errors"]),
            "stored": stored,
        }


# History independence -----------------------------------------------------------


async def bench_history(harness: Harness, result: Result) -> None:
    """One single-point POST on a short and on a long history: same statements, same time."""
    counter = StatementCounter(harness.services.db)
    posts = 21  # the first is a warm-up
    try:
        for size in (SMALL_HISTORY, BIG_HISTORY):
            key, kpi_id = await harness.new_kpi(f"history{size}")
            # The single points continue the series, so they neither open nor update
            # an alert (which would add statements of its own).
            # They end at the bot's now: the API refuses measurements from the future.
            now = harness.services.clock()
            points = series(size + posts, seed=size, start=now - (size + posts) * HOUR)
            history, tail = points[:size], points[size:]
            for start in range(0, size, BATCH):
                await harness.post(key, body_for(history[start : start + BATCH]))
            await harness.services.drain()
            assert await count_measurements(harness.services, kpi_id) == size
            times = []
            counts = []
            for i, (at, value) in enumerate(tail):
                body = json.dumps({"at": iso(at), "value": value}).encode()
                before = counter.count
                _, elapsed = await harness.post(key, body)
                await harness.services.drain()  # any follow-up work counts for this POST
                counts.append(counter.count - before)
                if i:
                    times.append(elapsed)
            result.statements[size] = max(counts[1:])
            if len(set(counts[1:])) != 1:
                note(f"[{result.backend}] statement counts varied on {size:,}: {counts[1:]}")
            result.single_ms[size] = statistics.median(times) * 1000
    finally:
        counter.close()


# Per database ---------------------------------------------------------------------


async def bench_database(
    url: str, backend: str, runs: int, seconds: float, profile: bool
) -> Result:
    result = Result(backend)
    await upgrade_async(url)
    clock = FakeClock()
    slack = SlackEmulator(bot_tokens={"xoxb-test": TEAM})
    await slack.start()
    services = make_services(url, slack, clock)
    runner = None
    try:
        token = await services.tokens.create(TEAM, f"bench-{uuid.uuid4().hex[:6]}", clock.now)
        bot, runner = await start_bot(services, slack, clock)
        settle_heap_for_serving()  # as `okrbot run` does once it serves
        harness = Harness(services, bot.url, token)
        async with aiohttp.ClientSession() as http:
            harness.http = http
            note(f"[{backend}] batch of {BATCH:,}: {runs} API runs and {runs} Core runs …")
            await bench_batch(harness, result, runs)
            await bench_single(harness, result, seconds)
            note(f"[{backend}] statements per POST on {SMALL_HISTORY} vs {BIG_HISTORY:,} …")
            await bench_history(harness, result)
            if profile or result.ratio < 0.5:
                note(f"[{backend}] profiling the API batch …")
                await breakdown(harness, result)
        await services.drain()
    finally:
        if runner is not None:
            await runner.cleanup()
        await services.close()
        await slack.stop()
    return result


async def run_databases(runs: int, seconds: float, profile: bool) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="okrbot-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results.append(await bench_database(url, "sqlite", runs, seconds, profile))
    problem = await postgres_problem()
    if problem is not None:
        print(f"\nPostgreSQL skipped: {problem}")
        return results
    async with throwaway_postgres() as url:
        results.append(await bench_database(url, "postgresql", runs, seconds, profile))
    return results


# Backtest ---------------------------------------------------------------------------


def bench_backtest() -> list[str]:
    """`okrbot kpi backtest` end to end (twice, best kept) and its parts in-process.

    Everything runs pinned to one CPU; CPU time is printed beside wall time since
    other load on that CPU stretches the wall time but not the CPU time.
    """
    lines = []
    points = series(BACKTEST_POINTS, seed=99)
    text = "timestamp,value\n" + "".join(f"{iso(at)},{v!r}\n" for at, v in points)
    cpu = max(os.sched_getaffinity(0))
    n = BACKTEST_POINTS

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    def child_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="okrbot-backtest-") as tmp:
        path = Path(tmp) / "history.csv"
        path.write_text(text, encoding="utf-8")
        for _ in range(2):
            cpu_before = child_cpu()
            started = time.perf_counter()
            done = subprocess.run(
                [OKRBOT, "kpi", "backtest", str(path)],
                capture_output=True,
                text=True,
                check=False,
                preexec_fn=pin,
            )
            runs.append((time.perf_counter() - started, child_cpu() - cpu_before))
            if done.returncode != 0:
                raise SystemExit(f"okrbot kpi backtest failed: {done.stderr[-1000:]}")
    out_rows = done.stdout.count("\n") - 1
    cpu_before = child_cpu()
    started = time.perf_counter()
    subprocess.run(
        [OKRBOT, "kpi", "backtest", "--help"], capture_output=True, check=True, preexec_fn=pin
    )
    startup = (time.perf_counter() - started, child_cpu() - cpu_before)

    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    parts: list[tuple[str, float, float]] = []

    def measure(label: str, work: Any) -> Any:
        started, cpu_started = time.perf_counter(), time.process_time()
        value = work()
        parts.append((label, time.perf_counter() - started, time.process_time() - cpu_started))
        return value

    try:
        rows = measure("parse_history_csv", lambda: parse_history_csv(text))
        scored = measure(
            "bot.kpis.detection.detector.backtest", lambda: list(backtest(rows, DetectorConfig()))
        )
        measure("format_backtest_csv", lambda: format_backtest_csv(scored))
    finally:
        os.sched_setaffinity(0, previous)

    def row(label: str, wall: float, used: float) -> str:
        return (
            f"  {label:<44} wall {wall:5.2f} s {n / wall:>9,.0f} points/s"
            f"   cpu {used:5.2f} s {n / used:>9,.0f} points/s"
        )

    best = min(runs)
    lines.append(f"okrbot kpi backtest, {n:,}-point hourly CSV, everything pinned to CPU {cpu}:")
    lines.append(row("subprocess incl. start-up (best of 2)", *best))
    lines.append(
        f"    runs: {', '.join(f'{w:.2f} s' for w, _ in runs)}; {out_rows:,} CSV rows on stdout; "
        f"stderr: {done.stderr.strip().splitlines()[-1]}"
    )
    lines.append(
        f"  {'start-up alone (`kpi backtest --help`)':<44} wall {startup[0]:5.2f} s"
        f"{'':>20}   cpu {startup[1]:5.2f} s"
    )
    for label, wall, used in parts:
        lines.append(row(f"in-process {label}", wall, used))
    return lines


# Report -----------------------------------------------------------------------------


def report(results: list[Result]) -> bool:
    equal = True
    for r in results:
        api = statistics.median(r.api_s)
        core = statistics.median(r.core_s)
        print(f"\n== {r.backend} ==")
        print(f"batch of {BATCH:,} measurements (median of {len(r.api_s)}, fresh KPI each):")
        print(
            f"  API POST (learned range)       {api * 1000:8.1f} ms   "
            f"{BATCH / api:>9,.0f} points/s"
            f"   runs: {', '.join(f'{s * 1000:.0f}' for s in r.api_s)} ms"
        )
        print(
            f"  Core insert(Measurement)       {core * 1000:8.1f} ms   "
            f"{BATCH / core:>9,.0f} points/s"
            f"   runs: {', '.join(f'{s * 1000:.0f}' for s in r.core_s)} ms"
        )
        verdict = "meets" if r.ratio >= 0.5 else "BELOW"
        print(f"  ratio core_time / api_time      {r.ratio:8.2f}   ({verdict} the 0.5 aim)")
        print(f"  alerts opened by the batches: {r.alerts_opened}")
        print(f"single-measurement POSTs, {CLIENTS} concurrent clients (separate process):")
        for label, s in r.single.items():
            print(
                f"  {label:<14} {s['rps']:8.0f} requests/s   median {s['median_ms']:6.1f} ms"
                f"   p95 {s['p95_ms']:6.1f} ms   errors {s['errors']}   stored {s['stored']:,}"
            )
        print("one single-point POST vs stored history (evaluation must not reread it):")
        for size in (SMALL_HISTORY, BIG_HISTORY):
            print(
                f"  {size:>6,} measurements: {r.statements[size]:3d} SQL statements, "
                f"median {r.single_ms[size]:6.1f} ms"
            )
        same = r.statements[SMALL_HISTORY] == r.statements[BIG_HISTORY]
        equal = equal and same
        print(f"  statement counts {'EQUAL' if same else 'DIFFER'}")
        if r.breakdown:
            print("where the API batch time goes:")
            for line in r.breakdown:
                print(line)
    return equal


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--profile", action="store_true", help="always break the batch down")
    parser.add_argument("--load-client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_client:
        spec = json.loads(args.load_client)
        print(json.dumps(asyncio.run(load_clients(**spec))))
        return
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    print(
        f"{os.cpu_count()} CPUs, load average {_load()} at start (other work on the machine "
        "skews these timings)"
    )
    results = asyncio.run(run_databases(args.runs, args.seconds, args.profile))
    equal = report(results)
    note("backtest on 200,000 points …")
    print()
    for line in bench_backtest():
        print(line)
    print(
        f"\ntotal bench time {time.perf_counter() - started:.0f} s, load average {_load()} at end"
    )
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
