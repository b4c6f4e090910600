"""What every repository shares: the backend's ON CONFLICT insert and the team binding."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, Select, func, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import UTCDateTime


def upsert_insert(session: AsyncSession, model: Any) -> Any:
    """The backend's INSERT that supports ON CONFLICT (PostgreSQL's or SQLite's)."""
    module: Any = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(model)


def database_now(session: AsyncSession, minus: timedelta = timedelta(0)) -> Any:
    """The database's own clock (less `minus`) as SQL: leases measured on it hold
    whatever the clocks of the processes, or a tick's logical `--at`, say."""
    seconds = minus.total_seconds()
    if session.bind.dialect.name == "postgresql":
        return type_coerce(func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds), UTCDateTime)
    # SQLite stores datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" text, which sorts as time.
    return type_coerce(
        func.strftime("%Y-%m-%d %H:%M:%f000", "now", f"{-seconds:+.3f} seconds"), UTCDateTime
    )


async def insert_ignore(
    session: AsyncSession, model: type[Any], values: dict[str, Any], conflict: Sequence[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING on either backend; True when a row was inserted."""
    statement = (
        upsert_insert(session, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict)
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


class TeamRepository:
    """Queries for one workspace inside one transaction: the scope cannot be forgotten."""

    def __init__(self, session: AsyncSession, team_id: str) -> None:
        self.session = session
        self.team_id = team_id

    async def add(self, row: Any) -> None:
        """Stage a new row of this workspace (and flush, so its id is known)."""
        if getattr(row, "team_id", None) != self.team_id:
            raise ValueError("row belongs to another workspace")
        self.session.add(row)
        await self.session.flush()

    async def add_all(self, rows: Sequence[Any]) -> None:
        """Stage many new rows of this workspace with one flush (an import's history)."""
        if any(getattr(row, "team_id", None) != self.team_id for row in rows):
            raise ValueError("row belongs to another workspace")
        self.session.add_all(rows)
        await self.session.flush()

    async def delete(self, row: Any) -> None:
        if getattr(row, "team_id", None) != self.team_id:
            raise ValueError("row belongs to another workspace")
        await self.session.delete(row)
        await self.session.flush()

    async def read_rows(
        self, query: Select[Any], params: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Run a select of plain columns on the session's connection, past the ORM's
        result loading (which reports do not need: 14.0 vs 12.2 ms for 1,000 key
        results with their latest check-ins on SQLite, 9.5 vs 8.1 on PostgreSQL)."""
        connection = await self.session.connection()
        return (await connection.execute(query, params)).all()

    @property
    def is_postgres(self) -> bool:
        return self.session.bind.dialect.name == "postgresql"
