"""Shared fixtures: databases (SQLite and PostgreSQL), the Slack emulator, a running bot.

Storage and end-to-end tests take `database_url`, which is parametrised over
both backends. Each PostgreSQL module gets its own throwaway database, created
here and dropped here (never one we did not create). With CI=true a missing
PostgreSQL fails the run instead of skipping. The helpers behind them live in
`tests.support.harness`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.runtime.services import Services
from storage.db import upgrade
from tests.support.harness import (
    Bot,
    FakeClock,
    _postgres_available,
    create_postgres_database,
    drop_postgres_database,
    make_services,
    postgres_url,
    running_bot,
    wipe,
)
from tests.support.slack_emulator import SlackEmulator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests under tests/unit/ are pure and fast: `make test-fast` runs only those."""
    unit = Path(__file__).parent / "unit"
    for item in items:
        if unit in item.path.parents:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def postgres_problem() -> str | None:
    return _postgres_available()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_problem: str | None,
) -> Iterator[str]:
    """A migrated database per test module, on each backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "okrbot.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    yield from _migrated_postgres(postgres_problem)


def _migrated_postgres(postgres_problem: str | None) -> Iterator[str]:
    name = create_postgres_database(postgres_problem)
    url = postgres_url(name)
    try:
        upgrade(url)
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture
def postgresql_url(postgres_problem: str | None) -> Iterator[str]:
    """A fresh migrated PostgreSQL database for one test (several processes share it)."""
    yield from _migrated_postgres(postgres_problem)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    """The Web API emulator with a small workspace; fails the test on any invalid payload."""
    emulator = SlackEmulator(bot_tokens={"xoxb-test": "T1"})
    await emulator.start()
    emulator.add_user("U1", "ana", tz="Europe/Madrid")
    emulator.add_user("U2", "ben", tz="America/New_York")
    emulator.add_user("U3", "cleo", tz="Asia/Tokyo")
    emulator.add_user("UADMIN", "boss", tz="UTC", is_admin=True)
    emulator.add_channel("C1", "general")
    emulator.add_channel("C2", "growth")
    emulator.add_channel("C3", "platform")
    try:
        yield emulator
    finally:
        await emulator.stop()
    emulator.assert_no_invalid_payloads()


@pytest.fixture
async def bot(database_url: str, slack: SlackEmulator, clock: FakeClock) -> AsyncIterator[Bot]:
    async with running_bot(database_url, slack, clock) as harness:
        yield harness


@pytest.fixture
async def services(
    database_url: str, slack: SlackEmulator, clock: FakeClock
) -> AsyncIterator[Services]:
    """Services on a clean database, without the HTTP server (for domain-level tests)."""
    built = make_services(database_url, slack, clock)
    await wipe(built.db)
    try:
        yield built
    finally:
        await built.close()
