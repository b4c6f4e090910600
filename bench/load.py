"""Sustained slash-command load against one `okrbot run` replica on PostgreSQL.

    .venv/bin/python bench/load.py [--rates 20,50,100] [--seconds 60] [--soak 1800]
                                   [--soak-rate 50] [--objectives 10]

The bot runs as its own process (`okrbot run`, scheduler on) on a throwaway
PostgreSQL database (OKRBOT_BENCH_PG_DSN as in bench/throwaway.py); the Slack Web
API emulator runs in a child process; this process sends signed slash commands
open-loop (one every 1/rate seconds, not waiting for the previous answer), as
Slack would: `/okr status` (the work done after the ack, reply by response_url)
and `/okr help` (answered in the ack), alternately. Past what one process can do, acks
stay fast and the follow-up replies queue: the report says when the last one arrived.

For each rate: acks (HTTP status and latency p50/p99/max, measured here, from
outside), errors (non-200, or an ack slower than Slack's 3 s), and follow-up
replies received by the emulator. Then the soak: `--soak` seconds at
`--soak-rate`, printing the bot's RSS (from /proc) every 10 s and its growth.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fanout import RemoteEmulator  # noqa: E402
from bench.throwaway import throwaway_postgres  # noqa: E402
from storage.db import upgrade_async  # noqa: E402
from tests.support.harness import SIGNING_SECRET  # noqa: E402
from tests.support.processes import okrbot_env, start_replica  # noqa: E402
from tests.support.slack_requests import SlackRequestSender  # noqa: E402

TEAM = "T1"
DRAIN_LIMIT = 300.0  # seconds to wait for follow-up replies after the load ends


def log(message: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Load:
    """Open-loop signed slash commands at a rate; remembers each ack."""

    def __init__(self, sender: SlackRequestSender, response_url: str) -> None:
        self._sender = sender
        self._response_url = response_url
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.sent = 0

    async def _one(self, text: str) -> None:
        try:
            ack = await self._sender.command(
                "/okr", text, response_url=self._response_url, team_id=TEAM, user_id="U1"
            )
        except Exception as exc:  # a refused or reset connection is an error too
            self.errors.append(type(exc).__name__)
            return
        self.latencies.append(ack.elapsed)
        if ack.status != 200:
            self.errors.append(f"HTTP {ack.status}")
        elif ack.elapsed >= 3.0:
            self.errors.append("ack after 3 s")

    async def run(
        self,
        rate: float,
        seconds: float,
        every: float = 0.0,
        tick: Callable[[float], None] | None = None,
    ) -> None:
        started = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        next_mark = started + every if every else float("inf")
        index = 0
        while (now := time.monotonic()) - started < seconds:
            due = started + index / rate
            if due > now:
                await asyncio.sleep(due - now)
            text = "status" if index % 2 == 0 else "help"
            task = asyncio.create_task(self._one(text))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
            self.sent += 1
            if tick is not None and time.monotonic() >= next_mark:
                tick(time.monotonic() - started)
                next_mark += every
        await asyncio.gather(*tasks)


async def main_async(args: argparse.Namespace) -> None:
    async with throwaway_postgres() as url:
        log("migrating a throwaway PostgreSQL database")
        await upgrade_async(url)
        slack = RemoteEmulator(TEAM)
        try:
            slack.call("add_users", [("U1", "UTC")])
            env = okrbot_env(slack.base_url, url, SLACK_BOT_TOKEN="xoxb-bench")
            with tempfile.TemporaryDirectory(prefix="okrbot-load-") as tmp:
                replica = await start_replica(env, Path(tmp), "replica")
                try:
                    await measure(args, slack, replica.url, replica.pid)
                finally:
                    await replica.stop()
        finally:
            slack.close()


async def measure(args: argparse.Namespace, slack: RemoteEmulator, url: str, pid: int) -> None:
    response_url = slack.call("new_response_url")
    async with SlackRequestSender(url, SIGNING_SECRET) as sender:
        for number in range(args.objectives):
            await sender.command(
                "/okr", f'objective add "Objective {number}"', response_url=response_url
            )
        await asyncio.sleep(2)
        print("\n== okrbot slash-command load (one `okrbot run` replica, PostgreSQL) ==")
        print(f"workspace: {args.objectives} objectives; commands: /okr status and /okr help")
        print(f"{'rate/s':>7} {'sent':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}")
        for rate in args.rates:
            load = Load(sender, response_url)
            before = slack.call("responses", response_url)
            await load.run(rate, args.seconds)
            wanted = load.sent // 2 + load.sent % 2  # one reply per /okr status
            ended = time.monotonic()
            replies = slack.call("responses", response_url) - before
            while replies < wanted and time.monotonic() - ended < DRAIN_LIMIT:
                await asyncio.sleep(0.5)
                replies = slack.call("responses", response_url) - before
            drained = time.monotonic() - ended
            lat = [v * 1000 for v in load.latencies]
            print(
                f"{rate:>7g} {load.sent:>6} {statistics.median(lat):>7.1f} "
                f"{percentile(lat, 0.99):>7.1f} {max(lat):>7.1f} {len(load.errors):>6}"
                f"   follow-up replies: {replies}/{wanted}, the last {drained:.1f} s "
                "after the load ended" + (f"   {sorted(set(load.errors))}" if load.errors else "")
            )
        if args.soak:
            print(f"\nSoak: {args.soak:g} s at {args.soak_rate:g}/s; bot RSS every 10 s (MiB):")
            samples: list[tuple[float, float]] = [(0.0, rss_mib(pid))]

            def sample(at: float) -> None:
                samples.append((at, rss_mib(pid)))

            load = Load(sender, response_url)
            await load.run(args.soak_rate, args.soak, every=10.0, tick=sample)
            sample(args.soak)
            print("  " + ", ".join(f"{at:.0f}s {mib:.1f}" for at, mib in samples))
            steady = [mib for at, mib in samples if at >= 60] or [samples[-1][1]]
            lat = [v * 1000 for v in load.latencies]
            print(
                f"  after the first minute: min {min(steady):.1f}, max {max(steady):.1f} MiB "
                f"({(max(steady) - min(steady)) / min(steady):.1%} spread); acks p50 "
                f"{statistics.median(lat):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, "
                f"errors {len(load.errors)} of {load.sent}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="20,50,100")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--soak", type=float, default=1800.0, help="seconds; 0 skips the soak")
    parser.add_argument("--soak-rate", type=float, default=50.0)
    parser.add_argument("--objectives", type=int, default=10)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r]
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
