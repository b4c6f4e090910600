"""storage.repositories beyond objectives and key results, on both backends: every query
stays in its workspace, and the promises the database keeps (one prompt per owner and
period, one open alert per KPI and kind, one outbox row per purpose) hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.db import Database
from storage.models import Alert, ApiToken, Kpi
from storage.repositories import TeamStore
from storage.repositories.fleet import installed_team_ids, known_team_ids, team_for_token_hash
from storage.repositories.kpis import Point
from storage.repositories.outbox import Planned
from storage.repositories.prompts import NewPrompt
from storage.repositories.workspaces import Member

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)
WEEK = timedelta(weeks=1)


async def _kpi(store: TeamStore, key: str = "signups") -> Kpi:
    kpi = Kpi(
        team_id=store.team_id,
        key=key,
        name=key,
        consecutive=1,
        min_history=30,
        channel_id="C1",
        created_at=NOW,
        updated_at=NOW,
    )
    await store.kpis.add(kpi)
    return kpi


async def test_prompts_once_per_owner_and_period_and_scoped(db: Database) -> None:
    for team in ("T1", "T2"):
        async with db.team(team) as store:
            await store.workspace.ensure(NOW)
            planned = await store.prompts.insert_new(
                [NewPrompt("U1", NOW, NOW + WEEK, "0@09:00")] * 2, NOW
            )
            assert len(planned) == 1
    async with db.team("T1") as store:
        again = await store.prompts.insert_new([NewPrompt("U1", NOW, NOW + WEEK, "0@09:00")], NOW)
        assert again == []
        assert await store.prompts.periods_since(NOW - WEEK) == {("U1", NOW)}
        [prompt] = await store.prompts.of_owners_starting(["U1"], NOW, NOW + WEEK)
        assert prompt.team_id == "T1"
        assert await store.prompts.latest_started("U1", NOW, open_only=True) == prompt
        assert await store.prompts.latest_started("U1", NOW + WEEK, open_only=True) is None
        assert await store.prompts.latest_started("U1", NOW + WEEK, open_only=False) == prompt
        await store.prompts.record_sent(prompt.id, "D1", "1.0", NOW)
    async with db.team("T2") as store:
        [theirs] = await store.prompts.of_owners_starting(["U1"], NOW, NOW + WEEK)
        assert await store.prompts.get(prompt.id) is None  # T1's id is not T2's prompt
        assert theirs.message_ts is None and theirs.state == "pending"
        # Reminders: only sent prompts, once.
        assert (
            await store.prompts.claim_reminders(NOW + timedelta(days=2), timedelta(hours=24)) == []
        )
    async with db.team("T1") as store:
        due = await store.prompts.claim_reminders(NOW + timedelta(days=2), timedelta(hours=24))
        assert [p.prompt_id for p in due] == [prompt.id]
        assert (
            await store.prompts.claim_reminders(NOW + timedelta(days=2), timedelta(hours=24)) == []
        )


async def test_measurements_and_alerts_stay_in_their_workspace(db: Database) -> None:
    kpis: dict[str, Kpi] = {}
    for team in ("T1", "T2"):
        async with db.team(team) as store:
            await store.workspace.ensure(NOW)
            kpis[team] = kpi = await _kpi(store)
            points = [Point(NOW + timedelta(minutes=i), float(i)) for i in range(5)]
            await store.kpis.store(kpi.id, points, points, "api")
            # Older points are upserted: a corrected value replaces the stored one.
            await store.kpis.store(kpi.id, [Point(NOW, 42.0)], [], "import")
    async with db.team("T1") as store:
        mine, theirs = kpis["T1"], kpis["T2"]
        found = await store.kpis.by_key("signups")
        assert found is not None and found.id == mine.id
        assert await store.kpis.count(mine.id) == 5
        assert await store.kpis.count(theirs.id) == 0
        assert (await store.kpis.recent(mine.id, 2)) == [
            (NOW + timedelta(minutes=3), 3.0),
            (NOW + timedelta(minutes=4), 4.0),
        ]
        assert (await store.kpis.recent(mine.id, 5))[0] == (NOW, 42.0)
        assert await store.kpis.latest_of([mine.id, theirs.id]) == {
            mine.id: (NOW + timedelta(minutes=4), 4.0)
        }
        assert [k.id for k in await store.kpis.many([mine.id, theirs.id])] == [mine.id]
        first = Alert(team_id="T1", kpi_id=mine.id, kind="range", opened_at=NOW)
        assert await store.alerts.add_unless_open(first) is True
        twin = Alert(team_id="T1", kpi_id=mine.id, kind="range", opened_at=NOW)
        assert await store.alerts.add_unless_open(twin) is False  # one open per KPI and kind
        other = Alert(team_id="T1", kpi_id=mine.id, kind="no_data", opened_at=NOW)
        assert await store.alerts.add_unless_open(other) is True
        assert {a.kind for a in await store.alerts.open_for([mine.id, theirs.id])} == {
            "range",
            "no_data",
        }
        with pytest.raises(ValueError, match="another workspace"):
            await store.alerts.add_unless_open(
                Alert(team_id="T2", kpi_id=theirs.id, kind="range", opened_at=NOW)
            )
    async with db.team("T2") as store:
        assert await store.alerts.get(first.id) is None
        assert await store.alerts.open_for([kpis["T1"].id]) == []
        assert await store.kpis.latest_value(kpis["T2"].id) == 4.0


async def test_outbox_rows_once_per_purpose_claimed_per_workspace(db: Database) -> None:
    row = Planned(kind="digest", dedupe_key="digest:C1:x", recipient="C1", due_at=NOW)
    for team in ("T1", "T2"):
        async with db.team(team) as store:
            await store.workspace.ensure(NOW)
            assert await store.outbox.plan([row, row], NOW) == 1
            assert await store.outbox.plan([row], NOW) == 0
    lease = timedelta(seconds=10)
    async with db.team("T1") as store:
        assert await store.outbox.planned_keys("digest", NOW - WEEK) == {"digest:C1:x"}
        claimed = await store.outbox.claim_due(["digest"], NOW, lease, "sender-a", 10)
        [row] = claimed.rows
        assert (row.team_id, row.state, row.claimed_by) == ("T1", "sending", "sender-a")
        assert row.attempts == 0 and claimed.taken_over == 0  # claimed, not yet tried
        held = await store.outbox.claim_due(["digest"], NOW, lease, "sender-b", 10)
        assert held.rows == []  # held by a live claim
        assert await store.outbox.mark_attempt(row.id, "sender-b") is False
        assert await store.outbox.mark_attempt(row.id, "sender-a") is True
    async with db.team("T2") as store:
        [theirs] = await store.outbox.claim_planned(["digest:C1:x"], NOW, lease, "sender-b")
        assert theirs.team_id == "T2" and theirs.id != row.id  # only T2's own row


async def test_users_tokens_events_and_the_cross_team_queries(db: Database) -> None:
    for team in ("T1", "T2"):
        async with db.team(team) as store:
            await store.workspace.ensure(NOW)
            await store.workspace.replace_members(
                [Member("U1", f"ana-{team}", "Asia/Tokyo", False)], NOW
            )
            await store.tokens.add(
                ApiToken(team_id=team, name="ci", token_hash=f"hash-{team}", created_at=NOW)
            )
    async with db.team("T1") as store:
        assert await store.workspace.display_names(["U1", "U9"]) == {"U1": "ana-T1"}
        assert await store.workspace.zones() == {"U1": "Asia/Tokyo"}
        assert await store.workspace.first_delivery("Ev1", NOW) is True
        assert await store.workspace.first_delivery("Ev1", NOW) is False
        assert await store.tokens.revoke_all(NOW) == 1
        await store.workspace.mark_uninstalled(NOW)
    async with db.session() as session:
        assert await known_team_ids(session) == ["T1", "T2"]
        assert await installed_team_ids(session) == ["T2"]
        assert await team_for_token_hash(session, "hash-T1") is None  # revoked
        assert await team_for_token_hash(session, "hash-T2") == "T2"
    async with db.team("T2") as store:
        assert (await store.tokens.active_named("ci")) is not None
        workspace = await store.workspace.get()
        assert workspace is not None and workspace.users_synced_at == NOW
