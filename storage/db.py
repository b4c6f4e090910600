"""Engine, sessions and migrations.

Users write plain URLs (`sqlite:///okrbot.db`, `postgresql://…`); we pick the
async driver here so the rest of the code never thinks about drivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.repositories import TeamStore

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT = 2.0  # seconds: a database that does not answer is down, not slow
RETRY_PAUSE = 0.2  # seconds before the one retry of a dropped connection
RECHECK_AFTER = 3.0  # seconds a failure to reach the database is believed without trying
log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The database cannot be reached now (down, restarting, or the connection dropped).

    Whatever the unit of work wrote was rolled back; callers say so and try later."""


def is_write_conflict(error: BaseException) -> bool:
    """SQLite's "database is locked" for a transaction that read and then wrote after
    another connection committed (its snapshot is stale, so the busy timeout cannot
    help): the whole transaction must be run again."""
    return isinstance(error, exc.OperationalError) and "database is locked" in str(error.orig)


# asyncpg's "cannot connect now" (starting up, shutting down), "admin shutdown",
# "connection does not exist"…: raised as they are while a connection is being made
# (SQLAlchemy wraps only its adapter's own errors there), wrapped once connected.
UNAVAILABLE_ERRORS = frozenset(
    {
        "CannotConnectNowError",
        "AdminShutdownError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
    }
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means "cannot reach the database", not "the query was wrong"."""
    if isinstance(error, DatabaseUnavailable | OSError | TimeoutError):
        return True
    if type(error).__name__ in UNAVAILABLE_ERRORS:
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        if type(original).__name__ in UNAVAILABLE_ERRORS:
            return True
        cause = getattr(original, "__cause__", None)
        return isinstance(cause, OSError | TimeoutError)
    return False


class DatabaseUrlError(ValueError):
    """The configured DATABASE_URL names a backend okrbot cannot use."""


def hide_password(url: str) -> str:
    """The URL with its password masked (everything between the user's `:` and the last
    `@`), fit for an error message even when the URL does not parse."""
    at = url.rfind("@")
    scheme_end = url.find("://")
    start = scheme_end + 3 if 0 <= scheme_end < at else 0
    colon = url.find(":", start, at)
    return url if at < 0 or colon < 0 else url[: colon + 1] + "***" + url[at:]


def async_url(url: str) -> URL:
    """Map a plain SQLAlchemy URL to its asyncio driver."""
    try:
        parsed = make_url(url)
    except Exception:  # sqlalchemy's ArgumentError quotes the URL, password included
        raise DatabaseUrlError(
            f"DATABASE_URL is not a valid database URL: {hide_password(url)!r} "
            "(expected sqlite:///path/okrbot.db or postgresql://user@host/db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise DatabaseUrlError(
        f"DATABASE_URL backend {backend!r} is not supported; use sqlite:/// or postgresql://"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL's recommended setting: no fsync per commit (which cost a fan-out a fifth of its
    # 50/s), still safe against a crashed process; only a power cut may lose the last ones.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A 16 MB page cache per connection instead of SQLite's 2 MB: a 200-objective
    # workspace's key results and 50,000 check-ins are 8 MB, and the summary's newest-
    # check-in lookups land all over them, so with 2 MB each report re-read its pages
    # from the OS (its query 8.3 -> 6.4 ms median; memory is taken only as pages are read).
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.close()


def private_sqlite_file(database: str | None) -> None:
    """Create the SQLite file readable by its owner only (0600), or tighten an existing
    one: it holds Slack tokens and everything the workspaces wrote. SQLite gives its
    -wal and -shm files the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return
    if not path.parent.is_dir():
        return  # SQLite itself says the file cannot be opened
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for a plain URL; SQLite gets foreign keys, WAL, a busy timeout and
    a file only its owner can read."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        private_sqlite_file(target.database)
        engine = create_async_engine(target, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)  # a pooled connection is checked before use
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("timeout", CONNECT_TIMEOUT)
    return create_async_engine(target, **kwargs)


class Database:
    """Owns the engine and hands out one short session per unit of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._failed_at: float | None = None  # monotonic time of the last failure to reach it

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def reachable(self) -> bool:
        """False for a few seconds after the database was found unreachable: callers that
        must answer fast say so at once instead of waiting for a connection to fail."""
        return self._failed_at is None or time.monotonic() - self._failed_at > RECHECK_AFTER

    def _seen(self, error: BaseException | None) -> None:
        if error is None:
            if self._failed_at is not None:
                log.warning("database reachable again")
            self._failed_at = None
            return
        if self._failed_at is None:
            log.warning("database unreachable: %s", type(error).__name__)
        self._failed_at = time.monotonic()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A transaction: committed when the block ends, rolled back on error.

        The connection is taken first, and a dropped one is retried once; when the
        database cannot be reached (then, or mid-transaction) `DatabaseUnavailable`
        is raised, and nothing of the unit of work was written.
        """
        async with self._sessions() as session:
            for attempt in (1, 2):
                try:
                    await session.connection()
                    break
                except Exception as error:
                    if not is_unavailable(error):
                        raise
                    with contextlib.suppress(Exception):
                        await session.rollback()
                    if attempt == 2:
                        self._seen(error)
                        raise DatabaseUnavailable(str(error) or type(error).__name__) from error
                    await asyncio.sleep(RETRY_PAUSE)
            try:
                yield session
                await session.commit()
            except Exception as error:
                with contextlib.suppress(Exception):  # a dead connection cannot roll back
                    await session.rollback()
                if is_unavailable(error) and not isinstance(error, DatabaseUnavailable):
                    self._seen(error)
                    raise DatabaseUnavailable(str(error) or type(error).__name__) from error
                raise
            self._seen(None)

    @asynccontextmanager
    async def team(self, team_id: str) -> AsyncIterator[TeamStore]:
        """One unit of work in one workspace: its repositories over one transaction."""
        async with self.session() as session:
            yield TeamStore(session, team_id)

    async def ping(self) -> None:
        """One round trip to the database (health checks); raises when it is unreachable."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic migrations (sync entry point; CLI and tests use it)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Migrations from inside a running loop (Alembic itself is sync)."""
    await asyncio.to_thread(upgrade, url, revision)
