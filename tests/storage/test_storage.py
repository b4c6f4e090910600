"""Storage on both backends: migrations, numbering under concurrency, team scoping, helpers.

Every test runs on SQLite and on PostgreSQL (`database_url` is parametrised in
conftest) against a database migrated once per module; each test wipes it first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, StatementError

from storage.db import Database, DatabaseUnavailable, downgrade, is_unavailable, upgrade
from storage.models import (
    Base,
    CheckIn,
    KeyResult,
    Objective,
    ProcessedEvent,
    Prompt,
    Schedule,
    SlackUser,
    Workspace,
)
from storage.repositories import TeamStore
from storage.repositories.base import insert_ignore
from storage.repositories.fleet import known_team_ids
from storage.repositories.workspaces import Member
from storage.rows import CheckInRow
from tests.support.harness import OAUTH_TABLES

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
T = TypeVar("T")


def objective_row(team_id: str, number: int, **overrides: Any) -> Objective:
    values: dict[str, Any] = {
        "team_id": team_id,
        "number": number,
        "title": f"{team_id} objective {number}",
        "owner_id": "U1",
        "channel_id": "C1",
        "cycle": "2026-Q4",
        "status": "active",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Objective(**values)


def key_result_row(team_id: str, number: int, objective_id: int, **overrides: Any) -> KeyResult:
    values: dict[str, Any] = {
        "team_id": team_id,
        "number": number,
        "objective_id": objective_id,
        "title": f"{team_id} key result {number}",
        "owner_id": "U1",
        "kind": "increase",
        "start_value": 0.0,
        "target_value": 10.0,
        "current_value": 5.0,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return KeyResult(**values)


def check_in_row(team_id: str, key_result_id: int, at: datetime, value: float) -> CheckIn:
    return CheckIn(
        team_id=team_id,
        key_result_id=key_result_id,
        value=value,
        status="on_track",
        confidence=7,
        author_id="U1",
        source="command",
        created_at=at,
    )


# Migrations -----------------------------------------------------------------


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, Base.metadata))


def _diff_table(diff: Any) -> str:
    """The table a `compare_metadata` entry is about."""
    if isinstance(diff, list):  # modify_* entries come grouped per column
        return _diff_table(diff[0])
    kind = diff[0]
    if kind.endswith("_table"):
        return str(diff[1].name)
    if kind in {"add_column", "remove_column"} or kind.startswith("modify_"):
        return str(diff[2])
    return str(diff[1].table.name)  # indexes, unique constraints, foreign keys


async def _inspect(url: str, function: Callable[[Connection], T]) -> T:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(function)
    finally:
        await database.dispose()


async def _round_trip(url: str) -> set[str]:
    """Downgrade to base, then upgrade again; returns the tables left at base."""
    await asyncio.to_thread(downgrade, url, "base")
    try:
        return await _inspect(url, _table_names)
    finally:
        await asyncio.to_thread(upgrade, url)  # the module's database stays migrated


async def test_migrations_down_to_base_and_up_again_match_the_models(database_url: str) -> None:
    left = await _round_trip(database_url)
    assert left <= {"alembic_version"}, f"downgrade left tables behind: {sorted(left)}"

    tables = await _inspect(database_url, _table_names)
    diffs = await _inspect(database_url, _schema_diff)
    assert set(Base.metadata.tables) | set(OAUTH_TABLES) | {"alembic_version"} == tables
    oauth = [d for d in diffs if _diff_table(d) in OAUTH_TABLES]
    unexpected = [d for d in diffs if _diff_table(d) not in OAUTH_TABLES]
    assert unexpected == [], f"migrated schema differs from the models: {unexpected}"
    # slack_sdk's OAuth tables (and their indexes) exist in the database but not in
    # our metadata: autogenerate would drop them, and that is the only difference.
    assert {d[0] for d in oauth} <= {"remove_table", "remove_index"}, oauth
    assert {d[1].name for d in oauth if d[0] == "remove_table"} == set(OAUTH_TABLES)

    # A second round trip from the re-migrated database works the same way.
    assert await _round_trip(database_url) == left
    assert await _inspect(database_url, _table_names) == tables


# Numbering ------------------------------------------------------------------


async def _create_objective(db: Database, team_id: str, start: asyncio.Barrier) -> int:
    await start.wait()
    async with db.session() as session:
        repo = TeamStore(session, team_id)
        number = await repo.workspace.next_objective_number()
        await asyncio.sleep(0.005)  # widen the window between numbering and insert
        await repo.okrs.add(objective_row(team_id, number))
        return number


async def test_objective_numbers_are_unique_under_concurrency(db: Database) -> None:
    async with db.session() as session:
        await TeamStore(session, "T1").workspace.ensure(NOW)
        await TeamStore(session, "T2").workspace.ensure(NOW)
    start = asyncio.Barrier(30)
    numbers = await asyncio.gather(
        *(_create_objective(db, "T1", start) for _ in range(20)),
        *(_create_objective(db, "T2", start) for _ in range(10)),
    )
    assert sorted(numbers[:20]) == list(range(1, 21))
    assert sorted(numbers[20:]) == list(range(1, 11))

    async with db.session() as session:
        rows = (await session.execute(select(Objective.team_id, Objective.number))).all()
        counter_rows = await session.execute(
            select(Workspace.team_id, Workspace.last_objective_number)
        )
        counters = {team_id: number for team_id, number in counter_rows}
    assert sorted(n for t, n in rows if t == "T1") == list(range(1, 21))
    assert sorted(n for t, n in rows if t == "T2") == list(range(1, 11))
    assert counters == {"T1": 20, "T2": 10}

    # The next number continues each team's own sequence.
    async with db.session() as session:
        assert await TeamStore(session, "T2").workspace.next_objective_number() == 11
        assert await TeamStore(session, "T1").workspace.next_key_result_number() == 1
        assert await TeamStore(session, "T1").workspace.next_objective_number() == 21


# Scoping --------------------------------------------------------------------


async def _seed_twin_teams(db: Database) -> dict[str, dict[str, Any]]:
    """Two workspaces with the same numbers, channel, users and schedule shape."""
    ids: dict[str, dict[str, Any]] = {}
    async with db.session() as session:
        for team_id in ("T1", "T2"):
            await TeamStore(session, team_id).workspace.ensure(NOW)
            repo = TeamStore(session, team_id)
            first = objective_row(team_id, 1, key="growth", owner_id="U1")
            second = objective_row(team_id, 2, owner_id="U2", channel_id="C2")
            await repo.okrs.add(first)
            await repo.okrs.add(second)
            second.parent_id = first.id
            done = objective_row(team_id, 3, status="done")
            await repo.okrs.add(done)
            kr_owner = "U9" if team_id == "T2" else "U3"
            kr1 = key_result_row(team_id, 1, first.id)
            kr2 = key_result_row(team_id, 2, second.id, owner_id=kr_owner)
            await repo.okrs.add(kr1)
            await repo.okrs.add(kr2)
            for kr in (kr1, kr2):
                for week in range(3):
                    await repo.checkins.add(
                        check_in_row(team_id, kr.id, NOW - timedelta(weeks=week), float(week))
                    )
            await repo.prompts.set_schedule(0, "09:00", NOW, channel_id="C1")
            await repo.workspace.cache_user(Member("U1", f"ana-{team_id}", "UTC", False), NOW)
            ids[team_id] = {
                "objectives": [first.id, second.id, done.id],
                "key_results": [kr1.id, kr2.id],
            }
        # Only T2 has a workspace-wide schedule.
        await TeamStore(session, "T2").prompts.set_schedule(2, "15:30", NOW)
    return ids


async def test_every_repository_query_is_scoped_to_its_team(db: Database) -> None:
    ids = await _seed_twin_teams(db)
    t1, t2 = ids["T1"], ids["T2"]
    async with db.session() as session:
        repo = TeamStore(session, "T1")

        found = await repo.okrs.objective(1)
        assert found is not None and found.team_id == "T1" and found.id == t1["objectives"][0]
        assert await repo.okrs.objective(4) is None
        assert await repo.okrs.objective_by_id(t2["objectives"][0]) is None
        assert [o.id for o in await repo.okrs.all_objectives()] == t1["objectives"]

        active = await repo.okrs.active_objectives()
        assert [(o.team_id, o.number) for o in active] == [("T1", 1), ("T1", 2)]
        in_c1 = await repo.okrs.active_objectives(channel_id="C1")
        assert [(o.team_id, o.number) for o in in_c1] == [("T1", 1)]
        assert [o.number for o in await repo.okrs.active_objectives(channel_id="C2")] == [2]
        assert [o.number for o in await repo.okrs.active_objectives(user_id="U1")] == [1]
        # U3 owns a key result under O-2 in T1; U9 owns one only in T2.
        assert [o.number for o in await repo.okrs.active_objectives(user_id="U3")] == [2]
        assert await repo.okrs.active_objectives(user_id="U9") == []
        assert await repo.okrs.active_objectives(channel_id="C1", user_id="U9") == []

        assert await repo.okrs.parent_links() == {
            t1["objectives"][0]: None,
            t1["objectives"][1]: t1["objectives"][0],
            t1["objectives"][2]: None,
        }
        assert await repo.okrs.numbers_by_id(t2["objectives"]) == {}
        assert await repo.okrs.numbers_by_id(t1["objectives"][:1] + t2["objectives"]) == {
            t1["objectives"][0]: 1
        }

        kr = await repo.okrs.key_result(1)
        assert kr is not None and kr.team_id == "T1" and kr.id == t1["key_results"][0]
        assert await repo.okrs.key_result(3) is None
        assert await repo.okrs.key_results_for(t2["objectives"]) == []
        mixed = await repo.okrs.key_results_for(t1["objectives"] + t2["objectives"])
        assert [k.id for k in mixed] == t1["key_results"]
        assert await repo.okrs.key_result_rows(t2["objectives"]) == []
        rows = await repo.okrs.key_result_rows(t1["objectives"] + t2["objectives"])
        assert [(k.id, k.number, k.title) for k in rows] == [
            (k.id, k.number, k.title) for k in mixed
        ]
        assert await repo.okrs.key_results_with_latest(t2["objectives"]) == []
        with_latest = await repo.okrs.key_results_with_latest(t1["objectives"] + t2["objectives"])
        assert [kr.id for kr, _ in with_latest] == t1["key_results"]
        assert all(c is None or c.key_result_id == kr.id for kr, c in with_latest)
        object_rows = await repo.okrs.objective_rows()  # the active ones, as rows
        assert [o.id for o in object_rows] == [o.id for o in await repo.okrs.active_objectives()]
        assert [o.number for o in object_rows] == [1, 2]
        assert [o.number for o in await repo.okrs.objective_rows(channel_id="C2")] == [2]
        assert [o.number for o in await repo.okrs.objective_rows(user_id="U3")] == [2]
        assert [o.number for o in await repo.okrs.objective_rows(number=3)] == [3]  # any status
        assert await repo.okrs.objective_rows(number=99) == []
        assert [o.id for o in await repo.okrs.objective_rows(user_id="U9")] == []
        assert await repo.okrs.key_results_owned_by("U9") == []
        assert [k.id for k in await repo.okrs.key_results_owned_by("U3")] == [t1["key_results"][1]]

        assert await repo.checkins.recent(t2["key_results"], per_key_result=5) == []
        recent = await repo.checkins.recent(t1["key_results"] + t2["key_results"], 5)
        assert len(recent) == 6 and {c.key_result_id for c in recent} <= set(t1["key_results"])
        assert await repo.checkins.latest(t2["key_results"]) == {}
        latest = await repo.checkins.latest(t1["key_results"] + t2["key_results"])
        assert set(latest) == set(t1["key_results"])

        assert await repo.prompts.schedule() is None  # T2's workspace-wide slot is not ours
        channel_slot = await repo.prompts.schedule("C1")
        assert channel_slot is not None and channel_slot.team_id == "T1"
        user = await repo.workspace.cached_user("U1")
        assert user is not None and user.team_id == "T1" and user.name == "ana-T1"

        with pytest.raises(ValueError, match="another workspace"):
            await repo.okrs.add(objective_row("T2", 99))

        # Writes through T1's repository leave T2 alone.
        await repo.prompts.set_schedule(4, "08:00", NOW)
        await repo.workspace.mark_uninstalled(NOW)

    async with db.session() as session:
        t2_repo = TeamStore(session, "T2")
        slot = await t2_repo.prompts.schedule()
        assert slot is not None and (slot.weekday, slot.local_time) == (2, "15:30")
        installed_rows = await session.execute(select(Workspace.team_id, Workspace.installed))
        installed = {team_id: flag for team_id, flag in installed_rows}
        assert installed == {"T1": False, "T2": True}
        assert await known_team_ids(session) == ["T1", "T2"]
        assert [o.team_id for o in await t2_repo.okrs.active_objectives(user_id="U9")] == ["T2"]


async def test_delete_objective_touches_only_its_team(db: Database) -> None:
    ids = await _seed_twin_teams(db)
    async with db.session() as session:
        repo = TeamStore(session, "T1")
        first = await repo.okrs.objective(1)
        assert first is not None
        await repo.okrs.delete_objective(first)
    async with db.session() as session:
        t1, t2 = TeamStore(session, "T1"), TeamStore(session, "T2")
        assert [o.number for o in await t1.okrs.all_objectives()] == [2, 3]
        assert await t1.okrs.parent_links() == {ids["T1"]["objectives"][1]: None} | {
            ids["T1"]["objectives"][2]: None
        }
        assert [k.number for k in await t1.okrs.key_results_for(ids["T1"]["objectives"])] == [2]
        assert [o.number for o in await t2.okrs.all_objectives()] == [1, 2, 3]
        assert (await t2.okrs.parent_links())[ids["T2"]["objectives"][1]] == ids["T2"][
            "objectives"
        ][0]
        assert len(await t2.okrs.key_results_for(ids["T2"]["objectives"])) == 2


# Check-ins, insert-or-ignore, datetimes ---------------------------------------


async def test_recent_check_ins_newest_first_at_most_n_per_key_result(db: Database) -> None:
    async with db.session() as session:
        await TeamStore(session, "T1").workspace.ensure(NOW)
        repo = TeamStore(session, "T1")
        objective = objective_row("T1", 1)
        await repo.okrs.add(objective)
        krs = [key_result_row("T1", n, objective.id) for n in (1, 2, 3)]
        for kr in krs:
            await repo.okrs.add(kr)
        busy, quiet, silent = krs
        # Inserted out of time order, with a tie on the newest instant.
        offsets = [3, 0, 7, 1, 5, 2, 6, 4]
        for offset in offsets:
            await repo.checkins.add(
                check_in_row("T1", busy.id, NOW - timedelta(days=offset), float(offset))
            )
        tie = check_in_row("T1", busy.id, NOW, 100.0)
        tie.status = "at_risk"
        tie.period_start = NOW - timedelta(days=2)  # answered late, for an earlier period
        await repo.checkins.add(tie)  # same instant as offset 0, higher id: newer
        await repo.checkins.add(check_in_row("T1", quiet.id, NOW - timedelta(days=9), 9.0))
        await repo.checkins.add(check_in_row("T1", quiet.id, NOW - timedelta(days=8), 8.0))

    async with db.session() as session:
        repo = TeamStore(session, "T1")
        recent = await repo.checkins.recent([busy.id, quiet.id, silent.id, busy.id], 3)
        by_kr: dict[int, list[CheckInRow]] = {}
        for check_in in recent:
            by_kr.setdefault(check_in.key_result_id, []).append(check_in)
        assert set(by_kr) == {busy.id, quiet.id}
        assert [c.value for c in by_kr[busy.id]] == [100.0, 0.0, 1.0]
        assert [c.value for c in by_kr[quiet.id]] == [8.0, 9.0]
        for rows in by_kr.values():
            times = [c.created_at for c in rows]
            assert times == sorted(times, reverse=True)
        assert all(c.created_at.tzinfo is not None for c in recent)

        assert len(await repo.checkins.recent([busy.id], 50)) == 9
        assert await repo.checkins.recent([], 3) == []
        latest = await repo.checkins.latest([busy.id, quiet.id, silent.id])
        assert {k: c.value for k, c in latest.items()} == {busy.id: 100.0, quiet.id: 8.0}
        # The summary's one query: the same newest check-in (the tie broken by id), none
        # for a key result without any, every key result of the objective by number.
        with_latest = await repo.okrs.key_results_with_latest([objective.id, objective.id])
        assert [kr.id for kr, _ in with_latest] == [busy.id, quiet.id, silent.id]
        newest = {kr.id: c for kr, c in with_latest}
        assert newest[silent.id] is None
        assert newest[busy.id] is not None and newest[quiet.id] is not None
        assert latest[busy.id].created_at == NOW
        assert newest[busy.id].status == latest[busy.id].status == "at_risk"
        # It counts for the period stored with it, else for when it arrived.
        assert newest[busy.id].counts_for == NOW - timedelta(days=2)
        assert newest[quiet.id].counts_for == NOW - timedelta(days=8)
        assert newest[quiet.id].counts_for.tzinfo is not None


async def test_insert_ignore_inserts_once(db: Database) -> None:
    event = {"event_id": "Ev1", "team_id": "T1", "received_at": NOW}
    async with db.session() as session:
        assert await insert_ignore(session, ProcessedEvent, event, ["event_id"]) is True
    async with db.session() as session:
        assert await insert_ignore(session, ProcessedEvent, event, ["event_id"]) is False
        assert (
            await insert_ignore(session, ProcessedEvent, event | {"event_id": "Ev2"}, ["event_id"])
            is True
        )

    # A composite unique constraint: one prompt per team, user and period.
    async with db.session() as session:
        await TeamStore(session, "T1").workspace.ensure(NOW)
        await TeamStore(session, "T1").workspace.ensure(NOW)  # idempotent itself
        prompt = {
            "team_id": "T1",
            "user_id": "U1",
            "period_start": NOW,
            "period_end": NOW + timedelta(weeks=1),
            "state": "pending",
            "created_at": NOW,
        }
        conflict = ["team_id", "user_id", "period_start"]
        assert await insert_ignore(session, Prompt, prompt, conflict) is True
        assert await insert_ignore(session, Prompt, prompt, conflict) is False
        # The same instant written in another zone is the same period.
        shifted = prompt | {"period_start": NOW.astimezone(timezone(timedelta(hours=9)))}
        assert await insert_ignore(session, Prompt, shifted, conflict) is False
        later = prompt | {"period_start": NOW + timedelta(weeks=1)}
        assert await insert_ignore(session, Prompt, later, conflict) is True

    async with db.session() as session:
        events = (await session.scalars(select(ProcessedEvent.event_id))).all()
        prompts = (await session.scalars(select(Prompt.period_start))).all()
        workspaces = (await session.scalars(select(Workspace.team_id))).all()
    assert sorted(events) == ["Ev1", "Ev2"]
    assert sorted(prompts) == [NOW, NOW + timedelta(weeks=1)]
    assert workspaces == ["T1"]


async def test_utc_datetime_round_trips_aware_values(db: Database) -> None:
    tokyo = timezone(timedelta(hours=9))
    written = datetime(2026, 11, 25, 19, 30, 15, 123456, tzinfo=tokyo)
    async with db.session() as session:
        await TeamStore(session, "T1").workspace.ensure(written)
        session.add(
            SlackUser(
                team_id="T1", user_id="U1", tz="Asia/Tokyo", is_admin=False, fetched_at=written
            )
        )
    async with db.session() as session:
        created = await session.scalar(select(Workspace.created_at))
        fetched = await session.scalar(select(SlackUser.fetched_at))
        # Filtering by an aware value in another zone finds the row too.
        by_instant = await session.scalar(
            select(SlackUser.user_id).where(SlackUser.fetched_at == written.astimezone(UTC))
        )
    for value in (created, fetched):
        assert value is not None
        assert value == written
        assert value.utcoffset() == timedelta(0)
        assert (value.hour, value.minute, value.microsecond) == (10, 30, 123456)
    assert by_instant == "U1"


async def test_utc_datetime_reads_values_written_by_sql_itself_as_aware_utc(db: Database) -> None:
    """Values no bind processor formatted (the database's clock, a raw string with or
    without an offset or microseconds) read back as aware UTC like ours."""
    async with db.session() as session:
        await TeamStore(session, "T1").workspace.ensure(NOW)
        # SQLite keeps what it is given; PostgreSQL needs the offset to read a literal as
        # UTC whatever the server's time zone
        written = {
            "U1": ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
            "U2": ("'2026-11-25 10:30:15'", "'2026-11-25 10:30:15+00'"),
            "U3": ("'2026-11-25 19:30:15.5+09:00'", "'2026-11-25 19:30:15.5+09:00'"),
            "U4": ("'2026-11-25T10:30:15.123456'", "'2026-11-25T10:30:15.123456Z'"),
        }
        sqlite = db.engine.dialect.name == "sqlite"
        for user_id, (on_sqlite, on_postgres) in written.items():
            await session.execute(
                text(
                    "INSERT INTO slack_users (team_id, user_id, tz, is_admin, fetched_at) "
                    f"VALUES ('T1', :user_id, 'UTC', false, {on_sqlite if sqlite else on_postgres})"
                ),
                {"user_id": user_id},
            )
    async with db.session() as session:
        rows = dict((await session.execute(select(SlackUser.user_id, SlackUser.fetched_at))).all())
    for value in rows.values():
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    assert abs(rows["U1"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert rows["U2"] == datetime(2026, 11, 25, 10, 30, 15, tzinfo=UTC)
    assert rows["U3"] == datetime(2026, 11, 25, 10, 30, 15, 500000, tzinfo=UTC)
    assert rows["U4"] == datetime(2026, 11, 25, 10, 30, 15, 123456, tzinfo=UTC)


async def test_utc_datetime_rejects_naive_values(db: Database) -> None:
    naive = datetime(2026, 11, 25, 10, 0)
    with pytest.raises(StatementError) as raised:
        async with db.session() as session:
            await TeamStore(session, "T1").workspace.ensure(naive)
    assert isinstance(raised.value.orig, ValueError)
    assert "naive" in str(raised.value.orig)

    with pytest.raises(StatementError, match="naive"):
        async with db.session() as session:
            await TeamStore(session, "T1").workspace.ensure(NOW)
            session.add(
                Schedule(
                    team_id="T1",
                    channel_id="",
                    weekday=0,
                    local_time="09:00",
                    created_at=naive,
                    updated_at=naive,
                )
            )
            await session.flush()
    async with db.session() as session:
        # Nothing was stored by either failed transaction.
        assert (await session.scalars(select(Workspace.team_id))).all() == []
        assert (await session.scalars(select(Schedule.id))).all() == []


async def test_sqlite_connections_use_wal_and_commit_without_an_fsync_each(tmp_path: Any) -> None:
    """WAL with synchronous=NORMAL (1): safe against a killed process, and a commit costs
    no fsync (the fan-out's 50 posts a second need about 150 commits a second)."""
    db = Database(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with db.engine.connect() as connection:
            journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            synchronous = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar()
            foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            cache_size = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar()
    finally:
        await db.dispose()
    assert (journal, synchronous, foreign_keys) == ("wal", 1, 1)
    assert cache_size == -16384  # 16 MB of pages per connection, not SQLite's 2 MB


# The planning version (migration 0016's triggers) -------------------------------------


async def _version(db: Database, team_id: str) -> int:
    async with db.session() as session:
        workspace = await session.get(Workspace, team_id)
        assert workspace is not None
        return workspace.planning_version


async def test_every_write_that_can_make_an_owner_due_bumps_the_planning_version(
    db: Database,
) -> None:
    """Triggers, so no code path can forget; writes that cannot make anyone due do not
    bump it (the idle tick would ask "who is due" again for nothing)."""
    async with db.session() as session:
        session.add_all(
            [Workspace(team_id=t, created_at=NOW, installed=True) for t in ("T1", "T2")]
        )
    async with db.session() as session:
        objective = objective_row("T1", 1)
        session.add(objective)
        await session.flush()
        session.add(key_result_row("T1", 1, objective.id))
        objective_id = objective.id
    steps: list[tuple[str, str, bool]] = [
        ("UPDATE key_results SET owner_id = 'U2'", "a key result's new owner", True),
        ("UPDATE key_results SET title = 'Renamed'", "a renamed key result", False),
        ("UPDATE key_results SET current_value = 7", "a new value", False),
        ("UPDATE objectives SET status = 'archived'", "an objective archived", True),
        ("UPDATE objectives SET status = 'archived'", "archived again (no change)", False),
        ("UPDATE objectives SET channel_id = 'C9'", "an objective's new channel", True),
        ("UPDATE objectives SET title = 'Renamed'", "a renamed objective", False),
    ]
    async with db.session() as session:
        session.add(SlackUser(team_id="T1", user_id="U2", tz=None, is_admin=False, fetched_at=NOW))
    async with db.session() as session:
        session.add(
            Prompt(
                team_id="T1",
                user_id="U2",
                period_start=NOW,
                period_end=NOW + timedelta(days=7),
                created_at=NOW,
            )
        )
    before = await _version(db, "T1")
    steps += [
        ("UPDATE slack_users SET tz = 'Asia/Tokyo'", "a time zone learned", True),
        ("UPDATE slack_users SET tz = 'Asia/Tokyo'", "the same time zone again", False),
        ("UPDATE slack_users SET name = 'ben'", "a new display name", False),
        ("UPDATE prompts SET state = 'sent'", "a prompt sent", False),
        ("DELETE FROM prompts", "a prompt deleted", True),
        ("DELETE FROM slack_users", "a cached user forgotten", True),
    ]
    for statement, what, bumps in steps:
        async with db.session() as session:
            await session.execute(text(f"{statement} WHERE team_id = 'T1'"))
        after = await _version(db, "T1")
        assert after == before + (1 if bumps else 0), what
        before = after
    async with db.session() as session:
        session.add(key_result_row("T1", 2, objective_id, owner_id="U3"))
    assert await _version(db, "T1") == before + 1, "a new key result"
    assert await _version(db, "T2") == 0, "another workspace's writes leave it alone"


# Reaching the database ---------------------------------------------------------------------


def test_errors_that_mean_the_database_cannot_be_reached() -> None:
    import asyncpg

    starting = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    assert is_unavailable(starting)  # raised as it is while a connection is being made
    assert is_unavailable(DBAPIError("SELECT 1", None, starting))  # wrapped once connected
    assert is_unavailable(ConnectionRefusedError(111, "Connect call failed"))
    syntax = asyncpg.exceptions.PostgresSyntaxError("syntax error at or near")
    assert not is_unavailable(syntax)
    assert not is_unavailable(DBAPIError("SELEC 1", None, syntax))
    assert not is_unavailable(ValueError("bad input"))


async def test_a_server_still_starting_up_is_unavailable_not_a_failure() -> None:
    """PostgreSQL restarting answers "the database system is starting up" for a moment:
    a unit of work started then raises DatabaseUnavailable (commands get the degraded
    reply), not the raw asyncpg error (which made a command's ack a 500)."""
    import asyncpg

    attempts = 0

    async def starting_up() -> Any:
        nonlocal attempts
        attempts += 1
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    db = Database("postgresql+asyncpg://okrbot@127.0.0.1:1/okrbot", async_creator=starting_up)
    try:
        with pytest.raises(DatabaseUnavailable):
            async with db.team("T1") as store:
                await store.workspace.get()
        assert attempts == 2  # tried once more, as for a dropped connection
        assert not db.reachable
    finally:
        await db.engine.dispose()
