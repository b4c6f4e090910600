"""Benchmark the sandbox and the App Home.

    .venv/bin/python bench/sandbox.py [--starts 3] [--commands 30] [--fresh-clone]

Prints three tables to stdout (progress on stderr):

1. Start-up: `okrbot run --or-sandbox` (what `make run` runs without Slack settings, the
   venv already installed) until `GET /` answers 200, `--starts` times. With
   `--fresh-clone`, also `git clone` of this repository into a temporary folder and
   `make run` there, install included, until the page answers (needs PyPI).
2. A command typed in the page (Playwright driving Debian's Chromium) until its reply is
   rendered: `/okr status all` and `/okr help`, median and p95 over `--commands` each.
3. App Home publish for an owner with 50 key results in 10 objectives: blocks, SQL
   statements and milliseconds (median of 20), on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.counting import StatementCounter  # noqa: E402
from bot.sandbox.app import start_sandbox  # noqa: E402
from storage.db import upgrade  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.support.harness import FakeClock, make_services, wipe  # noqa: E402
from tests.support.seeding import seed_portfolio  # noqa: E402
from tests.support.slack_emulator import SlackEmulator  # noqa: E402

OKRBOT = str(ROOT / ".venv" / "bin" / "okrbot")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    cleared = ("SLACK_", "OKRBOT_", "DATABASE_URL", "PORT", "HOST")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(cleared)}
    env.update(extra)
    return env


async def wait_for_page(url: str, deadline: float) -> None:
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200 and "okrbot sandbox" in await response.text():
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} did not answer")


async def time_start(command: list[str], cwd: Path, limit: float) -> float:
    """Seconds from starting `command` until its page answers (then it is stopped)."""
    port = free_port()
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=clean_env(PORT=str(port)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        await wait_for_page(f"http://127.0.0.1:{port}/", started + limit)
        return time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        await asyncio.wait_for(process.wait(), 60)


async def bench_start(starts: int, fresh_clone: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        times = []
        for index in range(starts):
            log(f"start-up {index + 1}/{starts}")
            times.append(await time_start([OKRBOT, "run", "--or-sandbox"], Path(folder), 60))
        print("## Start-up: `okrbot run --or-sandbox` (make run, installed) to the page answering")
        print(f"runs {starts} · median {statistics.median(times):.2f} s · max {max(times):.2f} s")
        if fresh_clone:
            clone = Path(folder) / "clone"
            await asyncio.to_thread(
                subprocess.run, ["git", "clone", "-q", str(ROOT), str(clone)], check=True
            )
            log("fresh clone: make run (creates .venv and installs; minutes)")
            seconds = await time_start(["make", "run"], clone, 1200)
            print(f"fresh clone, `make run` including the install: {seconds:.1f} s")
            shutil.rmtree(clone / ".venv", ignore_errors=True)
        print()


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:.0f} ms · p95 {p95 * 1000:.0f} ms"


async def bench_commands(count: int) -> None:
    from playwright.async_api import async_playwright

    if shutil.which(str(CHROMIUM)) is None:
        print("## Page commands: skipped (no /usr/bin/chromium; `make browser` installs it)\n")
        return
    with tempfile.TemporaryDirectory() as folder:
        running = await start_sandbox(
            port=0, database_url=f"sqlite:///{folder}/s.db", demo_data=True
        )
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
                )
                page = await browser.new_page()
                await page.goto(running.url)
                await page.wait_for_selector("#whoami option", state="attached")
                await page.click("[data-conv=C0GENERAL]")
                print("## A command typed in the page until its reply is rendered (Chromium)")
                for text in ("/okr status all", "/okr help"):
                    times = []
                    for index in range(count + 3):
                        before = await page.locator("#pane .msg").count()
                        started = time.perf_counter()
                        await page.fill("#composer", text)
                        await page.press("#composer", "Enter")
                        await page.wait_for_function(
                            "n => document.querySelectorAll('#pane .msg').length > n", arg=before
                        )
                        if index >= 3:  # warm-up
                            times.append(time.perf_counter() - started)
                    print(f"`{text}` × {count}: {summary(times)}")
                await browser.close()
        finally:
            await running.close()
    print()


async def bench_home(repeats: int = 20) -> bool:
    """Publish timings for a 50-key-result owner; False when a 5-key-result owner's Home
    takes a different number of statements (it must load in constant queries)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/home.db"
        await asyncio.to_thread(upgrade, url)
        # One bot token serves both workspaces here, so both people live in the emulator's T1.
        slack = SlackEmulator(bot_tokens={"xoxb-test": "T1"})
        await slack.start()
        slack.add_user("U1", "ana", tz="Europe/Madrid")
        slack.add_user("U2", "ben", tz="America/New_York")
        slack.add_channel("C1", "general", members=["U1"])
        clock = FakeClock()
        services = make_services(url, slack, clock)
        await wipe(services.db)
        last_week = clock.now - timedelta(days=7)
        await seed_portfolio(services.db, "T1", "U1", last_week)
        await seed_portfolio(
            services.db, "T2", "U2", last_week, objectives=1, key_results_per_objective=5
        )
        counter = StatementCounter(services.db)
        try:
            results = {}
            for team_id, user_id in (("T1", "U1"), ("T2", "U2")):
                client = await services.clients.for_team(team_id)
                await services.home.publish(team_id, user_id, client)  # warm the user cache
                times, statements = [], []
                for _ in range(repeats):
                    before = counter.count
                    started = time.perf_counter()
                    view = await services.home.publish(team_id, user_id, client)
                    times.append(time.perf_counter() - started)
                    statements.append(counter.count - before)
                results[team_id] = (len(view["blocks"]), max(statements), times)
            slack.assert_no_invalid_payloads()
            blocks, statements_big, times = results["T1"]
            _, statements_small, small_times = results["T2"]
            print("## App Home publish: one owner, 50 key results in 10 objectives (SQLite)")
            print(
                f"blocks {blocks} · SQL statements {statements_big} · "
                f"median {statistics.median(times) * 1000:.1f} ms · "
                f"max {max(times) * 1000:.1f} ms (render + views.publish to the emulator)"
            )
            print(
                f"for comparison, 5 key results in 1 objective: SQL statements "
                f"{statements_small} · median {statistics.median(small_times) * 1000:.1f} ms"
            )
        finally:
            counter.close()
            await services.close()
            await slack.stop()
    print()
    return statements_big == statements_small


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--commands", type=int, default=30)
    parser.add_argument("--fresh-clone", action="store_true")
    args = parser.parse_args()
    await bench_start(args.starts, args.fresh_clone)
    await bench_commands(args.commands)
    if not await bench_home():
        print("statement counts differ between sizes", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
