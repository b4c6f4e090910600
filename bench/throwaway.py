"""Throwaway PostgreSQL databases for the benchmarks: created here, dropped here."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text

from storage.db import Database

PG_ADMIN_DSN = os.environ.get(
    "OKRBOT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (refused, auth, no server), or None."""
    try:
        await pg_admin("SELECT 1")
    except Exception as exc:
        return f"{PG_ADMIN_DSN} unreachable ({type(exc).__name__}: {exc})"
    return None


@asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped afterwards whatever happens."""
    name = f"okrbot_bench_{uuid.uuid4().hex[:12]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def gather_statistics(db: Database, tables: tuple[str, ...]) -> bool:
    """PostgreSQL: ANALYZE these tables, as autovacuum would have by the time a
    workspace is this big (a fresh bulk load has no statistics, and the planner then
    picks nested loops for a thousand rows). SQLite: nothing. True when it ran."""
    if db.engine.dialect.name != "postgresql":
        return False
    async with db.session() as session:
        await session.execute(text(f"ANALYZE {', '.join(tables)}"))
    return True
