"""Count what three user journeys cost: database sessions, SQL statements, Slack Web API calls.

    .venv/bin/python bench/journeys.py [--postgres]

1. A KPI value POSTed to the API that opens an alert, until its message (with the
   chart) is in Slack and nothing is left in flight.
2. An idle tick for one workspace (everything already planned and sent).
3. A signed `/okr status all` until its response_url reply.

The bot runs for real (aiohttp + Bolt) against the Slack Web API emulator on
SQLite in a temporary file, or on a throwaway PostgreSQL database. Sessions are
counted by wrapping `Database.session`, statements by a cursor event on the
engine, Slack calls by the emulator's record (response_url posts included).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bench.throwaway import throwaway_postgres  # noqa: E402
from bot.runtime.jobs import tick  # noqa: E402
from bot.runtime.services import Services  # noqa: E402
from storage.db import upgrade_async  # noqa: E402
from tests.support.harness import FakeClock, make_services, start_bot, wipe  # noqa: E402
from tests.support.slack_emulator import SlackEmulator  # noqa: E402


@dataclass
class Cost:
    sessions: int = 0
    statements: int = 0
    slack: Counter[str] = field(default_factory=Counter)

    def line(self, label: str) -> str:
        calls = ", ".join(f"{name} {n}" for name, n in sorted(self.slack.items())) or "none"
        total = sum(self.slack.values())
        return (
            f"{label:<34} sessions {self.sessions:>3}  statements {self.statements:>4}  "
            f"Slack calls {total:>2} ({calls})"
        )


class Meter:
    """Counts sessions and statements of one Services while `measuring`."""

    def __init__(self, services: Services, slack: SlackEmulator) -> None:
        self.services = services
        self.slack = slack
        self.cost: Cost | None = None
        original = services.db.session

        @asynccontextmanager
        async def counted() -> AsyncIterator[Any]:
            if self.cost is not None:
                self.cost.sessions += 1
            async with original() as session:
                yield session

        services.db.session = counted  # type: ignore[method-assign]

        def on_statement(*_: Any) -> None:
            if self.cost is not None:
                self.cost.statements += 1

        event.listen(services.db.engine.sync_engine, "before_cursor_execute", on_statement)

    async def measure(self, work: Callable[[], Awaitable[None]]) -> Cost:
        before = len(self.slack.calls)
        self.cost = cost = Cost()
        try:
            await work()
            await self.services.drain()
        finally:
            self.cost = None
        for call in self.slack.calls[before:]:
            cost.slack[call.method] += 1
        return cost


async def run(database_url: str, backend: str) -> None:
    await upgrade_async(database_url)
    slack = SlackEmulator(bot_tokens={"xoxb-test": "T1"})
    await slack.start()
    slack.add_user("U1", "ana", tz="Europe/Madrid")
    slack.add_user("UADMIN", "boss", tz="UTC", is_admin=True)
    slack.add_channel("C1", "general")
    slack.add_channel("C2", "metrics")
    clock = FakeClock()
    services = make_services(database_url, slack, clock)
    await wipe(services.db)
    bot, runner = await start_bot(services, slack, clock)
    try:
        await bot.command('objective add "Grow weekly active teams"')
        await bot.command('kr add O-1 "Weekly active teams" from 120 to 200')
        await bot.command('add signup "Signups" min 2 max 5 channel #metrics', command="/kpi")
        token = await services.tokens.create("T1", "bench", clock())
        meter = Meter(services, slack)
        print(f"# {backend}")

        async def post_value() -> None:
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{bot.url}/api/v1/kpis/signup/measurements",
                    json={"value": 9.5},
                    headers={"Authorization": f"Bearer {token}"},
                ) as response,
            ):
                assert response.status == 201, await response.text()

        print((await meter.measure(post_value)).line("new alert with its chart"))

        clock.advance(days=5)  # the prompt period has begun: plan and send it first
        await tick(services, clock())
        await services.drain()
        clock.advance(minutes=1)

        async def idle_tick() -> None:
            await tick(services, clock())

        print((await meter.measure(idle_tick)).line("idle tick, one workspace"))

        async def status_all() -> None:
            result = await bot.command("status all")
            assert "Grow weekly active teams" in str(result.visible)

        print((await meter.measure(status_all)).line("/okr status all (1 objective)"))
    finally:
        await runner.cleanup()
        await services.close()
        await slack.stop()
        slack.assert_no_invalid_payloads()


async def main_async(args: argparse.Namespace) -> None:
    if args.postgres:
        async with throwaway_postgres() as url:
            await run(url, "PostgreSQL")
        return
    with tempfile.TemporaryDirectory() as folder:
        await run(f"sqlite:///{folder}/journeys.db", "SQLite")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
