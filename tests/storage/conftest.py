"""A clean `Database` per test, on each backend (`database_url` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.db import Database
from tests.support.harness import wipe


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await wipe(database)
    try:
        yield database
    finally:
        await database.dispose()
