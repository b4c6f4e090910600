"""What tests and benchmarks share: databases, a settable clock, the bot behind real HTTP.

`tests/conftest.py` turns these into fixtures; benchmarks import them directly.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import text

from bot.runtime.bolt import create_app, warm_up
from bot.runtime.config import Settings, load_settings
from bot.runtime.services import Services, build_services
from bot.runtime.web import create_web_app, make_runner
from storage.db import Database
from storage.models import Base
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import BotResponse, SlackRequestSender

SIGNING_SECRET = "test-signing-secret"
PG_ADMIN_DSN = os.environ.get("OKRBOT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
OAUTH_TABLES = ("slack_installations", "slack_bots", "slack_oauth_states")


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _postgres_available() -> str | None:
    try:
        asyncio.run(_pg_admin("SELECT 1"))
    except Exception as exc:  # connection refused, auth, missing server
        return f"{type(exc).__name__}: {exc}"
    return None


def create_postgres_database(problem: str | None) -> str:
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"okrbot_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    return name


def drop_postgres_database(name: str) -> None:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def wipe(db: Database) -> None:
    """Empty every table, children first, so each test starts from nothing."""
    async with db.session() as session:
        for table in OAUTH_TABLES:
            await session.execute(text(f"DELETE FROM {table}"))
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(table.delete())


@dataclass
class FakeClock:
    """A settable clock: the bot's `services.clock` in tests."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 10, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now = self.now + timedelta(**kwargs)
        return self.now


def make_services(
    database_url: str, slack: SlackEmulator, clock: FakeClock, **overrides: object
) -> Services:
    """The test bot's services; `overrides` replace settings (e.g. the alert edit interval)."""
    defaults: dict[str, object] = dict(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=None,
        slack_client_id=None,
        slack_client_secret=None,
        slack_api_url=slack.base_url,
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        okrbot_timezone="UTC",
        # Edits of one alert are coalesced; tests that are not about it need not wait.
        okrbot_alert_edit_seconds=0.2,
    )
    settings = load_settings(**{**defaults, **overrides})
    return build_services(settings, clock=clock)


@dataclass
class CommandResult:
    """What Slack would show after a slash command: the ack, then any response_url reply."""

    ack: BotResponse
    reply: dict[str, Any] | None

    @property
    def visible(self) -> dict[str, Any]:
        """The message the user sees: the ack body when it carried one, else the reply."""
        if self.ack.json:
            return dict(self.ack.json)
        assert self.reply is not None, "the bot neither answered in the ack nor via response_url"
        return self.reply

    @property
    def text(self) -> str:
        return str(self.visible.get("text", ""))

    @property
    def ephemeral(self) -> bool:
        return self.visible.get("response_type", "ephemeral") == "ephemeral"


@dataclass
class Bot:
    """The real HTTP server with Bolt, reachable only through signed requests."""

    url: str
    services: Services
    slack: SlackEmulator
    sender: SlackRequestSender
    clock: FakeClock

    async def command(
        self,
        text: str,
        *,
        user: str = "U1",
        channel: str = "C1",
        team: str = "T1",
        command: str = "/okr",
        timeout: float = 5.0,  # noqa: ASYNC109 - how long to wait for the reply
    ) -> CommandResult:
        response_url = self.slack.new_response_url(team_id=team, channel_id=channel)
        before = len(self.slack.responses(response_url))
        ack = await self.sender.command(
            command,
            text,
            response_url=response_url,
            team_id=team,
            user_id=user,
            channel_id=channel,
        )
        assert ack.status == 200, ack.text
        assert ack.elapsed < 3.0, f"ack took {ack.elapsed:.2f}s"
        if ack.json:
            return CommandResult(ack, None)
        await self.slack.wait_until(
            lambda: len(self.slack.responses(response_url)) > before,
            timeout=timeout,
            describe=lambda: f"a response_url reply to {command} {text!r}",
        )
        reply = self.slack.responses(response_url)[-1].params
        return CommandResult(ack, {k: v for k, v in reply.items() if not k.startswith("_")})


@asynccontextmanager
async def running_bot(
    database_url: str, slack: SlackEmulator, clock: FakeClock, **overrides: object
) -> AsyncIterator[Bot]:
    """The bot on a clean database, serving until the block ends (`overrides` as in
    `make_services`)."""
    services = make_services(database_url, slack, clock, **overrides)
    await wipe(services.db)
    harness, runner = await start_bot(services, slack, clock)
    try:
        yield harness
    finally:
        await runner.cleanup()
        await services.close()


def oauth_settings(database_url: str, slack: SlackEmulator, **overrides: object) -> Settings:
    """Settings for OAuth installs in many workspaces (no single bot token)."""
    return load_settings(
        **{
            "slack_bot_token": None,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_app_token": None,
            "slack_client_id": "111.222",
            "slack_client_secret": "shh",
            "slack_api_url": slack.base_url,
            "database_url": database_url,
            **overrides,
        }
    )


async def start_bot(services: Services, slack: SlackEmulator, clock: FakeClock) -> tuple[Bot, Any]:
    bolt = create_app(services)
    await warm_up(bolt)
    runner = make_runner(create_web_app(services, bolt))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    sender = SlackRequestSender(f"{url}", SIGNING_SECRET)
    return Bot(url, services, slack, sender, clock), runner
