"""Export/import keeps everything (issue 10): KPI owners, O-/KR- numbers, history,
people and channels by name or email, and every problem of a file at once.

Runs on SQLite and PostgreSQL through the `services` fixture; names resolve through
the Slack emulator (users.list, users.lookupByEmail, conversations.list).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.checkins.dm import Entry
from bot.core.errors import UserError
from bot.runtime.services import Services
from storage.models import CheckIn, KeyResult, Kpi, Measurement, Objective
from storage.repositories.kpis import Point
from tests.e2e.transfer.test_yaml_io import do_import, rows, snapshot
from tests.support.slack_emulator import SlackEmulator

# Numbers with gaps, as a workspace has them after deletions: O-2, O-5; KR-4, KR-7, KR-9.
NUMBERED = """\
objectives:
  - id: O-2
    key: growth
    title: Grow weekly active teams
    owner: U0000AAAA
    channel: C0000GROW
    cycle: 2026-Q4
    key_results:
      - id: KR-4
        title: Weekly active teams
        from: 120
        to: 200
        unit: teams
      - id: KR-7
        title: Launch referrals
        boolean: true
  - id: O-5
    title: Keep the lights on
    owner: U0000BBBB
    cycle: 2026-Q4
    key_results:
      - id: KR-9
        title: p95 page load
        range: [0, 1.5]
        unit: s
kpis:
  - key: signup_rate
    name: Signup conversion
    unit: '%'
    owner: U0000BBBB
    min: 2
    max: 5
"""


async def numbers(services: Services, team: str = "T1") -> tuple[list[int], list[int]]:
    objectives = [o.number for o in await rows(services, Objective, team)]
    key_results = [kr.number for kr in await rows(services, KeyResult, team)]
    return sorted(objectives), sorted(key_results)


async def test_kpi_owner_is_imported_and_exported(services: Services) -> None:
    await do_import(services, NUMBERED)
    [kpi] = await rows(services, Kpi)
    assert kpi.owner_id == "U0000BBBB"
    exported = yaml.safe_load(await services.transfer.export("T1"))
    assert exported["kpis"][0]["owner"] == "U0000BBBB"
    changed = NUMBERED.replace(
        "    owner: U0000BBBB\n    min: 2", "    owner: U0000CCCC\n    min: 2"
    )
    assert await do_import(services, changed) == "import: created nothing; updated 1 KPI"
    [kpi] = await rows(services, Kpi)
    assert kpi.owner_id == "U0000CCCC"


async def test_ids_are_kept_in_an_empty_workspace_and_numbering_continues(
    services: Services,
) -> None:
    await do_import(services, NUMBERED)
    assert await numbers(services) == ([2, 5], [4, 7, 9])
    exported = yaml.safe_load(await services.transfer.export("T1"))
    assert [o["id"] for o in exported["objectives"]] == ["O-2", "O-5"]
    assert [kr["id"] for o in exported["objectives"] for kr in o["key_results"]] == [
        "KR-4",
        "KR-7",
        "KR-9",
    ]
    # A later entry without an id is numbered after the highest, as a command would.
    later = """\
objectives:
  - title: Win the mid-market
    owner: U0000AAAA
    key_results:
      - {title: Paying teams, from: 300, to: 1000}
"""
    await do_import(services, later)
    assert await numbers(services) == ([2, 5, 6], [4, 7, 9, 10])
    async with services.db.team("T1") as store:
        assert await store.workspace.next_objective_number() == 7
        assert await store.workspace.next_key_result_number() == 11


async def test_entries_without_ids_never_take_a_kept_number(services: Services) -> None:
    # The keyless entry comes first in the file, yet KR-1 and O-1 stay with their owners.
    text = """\
objectives:
  - title: First without id
    owner: U0000AAAA
    key_results:
      - {title: No id, from: 0, to: 1}
  - id: O-1
    title: Kept one
    owner: U0000AAAA
    key_results:
      - {id: KR-1, title: Kept, from: 0, to: 1}
"""
    await do_import(services, text)
    by_title = {o.title: o.number for o in await rows(services, Objective)}
    assert by_title == {"Kept one": 1, "First without id": 2}
    krs = {kr.title: kr.number for kr in await rows(services, KeyResult)}
    assert krs == {"Kept": 1, "No id": 2}


async def test_a_taken_id_gets_the_next_number_and_says_so(services: Services) -> None:
    await do_import(
        services, "objectives:\n  - {title: Already here, owner: U0000AAAA}\n", team="T1"
    )
    summary = await do_import(services, NUMBERED.replace("id: O-5", "id: O-1"))
    assert "O-1 is taken in this workspace: 'Keep the lights on' gets the next number" in summary
    assert (await numbers(services))[0] == [1, 2, 3]


async def test_an_id_renames_a_key_result_in_place(services: Services) -> None:
    await do_import(services, NUMBERED)
    renamed = NUMBERED.replace("title: Weekly active teams", "title: Weekly active workspaces")
    summary = await do_import(services, renamed)
    assert summary == "import: created nothing; updated 1 key result"
    kr4 = next(kr for kr in await rows(services, KeyResult) if kr.number == 4)
    assert kr4.title == "Weekly active workspaces"
    assert await numbers(services) == ([2, 5], [4, 7, 9])


async def _workspace_with_history(services: Services) -> None:
    """T1 as the product leaves it: check-ins recorded by people, measurements ingested."""
    clock: Any = services.clock
    await do_import(services, NUMBERED)
    async with services.db.team("T1") as store:
        kr4 = await store.okrs.key_result(4)
        kr7 = await store.okrs.key_result(7)
    assert kr4 is not None and kr7 is not None
    await services.checkins.record(
        "T1",
        "U0000AAAA",
        [(Entry(4, "150", "on_track", 7, "steady: 30 more"), kr4)],
        "modal",
        clock.advance(hours=1),
    )
    await services.checkins.record(
        "T1",
        "U0000AAAA",
        [(Entry(4, "164", "at_risk", None, None), kr4)],
        "dm",
        clock.advance(days=7),
    )
    await services.checkins.record(
        "T1", "U0000AAAA", [(Entry(7, "done"), kr7)], "dm", clock.advance(hours=2)
    )
    start = clock.now - timedelta(days=3)
    points = [Point(start + timedelta(hours=i), 3 + (i % 5) / 10) for i in range(40)]
    await services.kpis.ingest("T1", "signup_rate", points, "api", clock.now)


async def test_history_round_trip_into_an_empty_workspace_keeps_ids_and_history(
    services: Services,
) -> None:
    await _workspace_with_history(services)
    plain = await services.transfer.export("T1")
    assert "check_ins" not in plain and "measurements" not in plain
    first = await services.transfer.export("T1", with_history=True)
    document = yaml.safe_load(first)
    kr4 = document["objectives"][0]["key_results"][0]
    assert kr4["id"] == "KR-4"
    assert [(c["value"], c.get("status"), c["source"]) for c in kr4["check_ins"]] == [
        (150, "on_track", "modal"),
        (164, "at_risk", "dm"),
    ]
    assert kr4["check_ins"][0]["note"] == "steady: 30 more"
    assert kr4["check_ins"][0]["by"] == "U0000AAAA"
    assert len(document["kpis"][0]["measurements"]) == 40

    summary = await do_import(services, first, team="T2")
    assert "2 objectives" in summary and "3 check-ins" in summary
    assert "40 measurements" in summary
    assert await numbers(services, "T2") == ([2, 5], [4, 7, 9])
    assert await services.transfer.export("T2", with_history=True) == first
    t1_krs = {kr.number: kr for kr in await rows(services, KeyResult, "T1")}
    for kr in await rows(services, KeyResult, "T2"):
        assert (kr.current_value, kr.confidence) == (
            t1_krs[kr.number].current_value,
            t1_krs[kr.number].confidence,
        )
    [t1_kpi], [t2_kpi] = await rows(services, Kpi, "T1"), await rows(services, Kpi, "T2")
    assert t2_kpi.last_measurement_at == t1_kpi.last_measurement_at
    assert t2_kpi.detector_state is not None

    # Importing again changes nothing and duplicates no history.
    before = await snapshot(services)
    services.clock.advance(hours=1)  # type: ignore[attr-defined]
    assert await do_import(services, first, team="T2") == "import: nothing to change"
    assert await do_import(services, first, team="T1") == "import: nothing to change"
    assert await snapshot(services) == before
    assert len(await rows(services, CheckIn, "T2")) == 3
    assert len(await rows(services, Measurement, "T2")) == 40


async def test_new_history_is_added_to_what_is_stored(services: Services) -> None:
    await do_import(services, NUMBERED)
    one = NUMBERED.replace(
        "        unit: teams\n",
        "        unit: teams\n        check_ins:\n"
        "          - {at: '2026-11-02T09:00:00Z', value: 130, confidence: 6}\n",
    )
    assert "created 1 check-in" in await do_import(services, one)
    two = one.replace(
        "confidence: 6}\n",
        "confidence: 6}\n          - {at: 2026-11-09T09:00:00Z, value: 141, status: at_risk}\n",
    )
    assert "created 1 check-in" in await do_import(services, two)
    kr4 = next(kr for kr in await rows(services, KeyResult) if kr.number == 4)
    assert kr4.current_value == 141 and kr4.confidence == 6
    assert [c.value for c in await rows(services, CheckIn)] == [130, 141]


@pytest.fixture
def people(slack: SlackEmulator) -> SlackEmulator:
    slack.add_user("U0DORA", "dora", real_name="Dora Lima", email="dora@example.com")
    slack.add_user("U0EVE", "eve", real_name="Eve Ortiz", email="Eve@Example.com")
    slack.add_user("U0OLD", "gone", deleted=True, email="gone@example.com")
    slack.add_user("U0AL1", "al.one", real_name="Al")
    slack.add_user("U0AL2", "al.two", real_name="Al")
    slack.add_user("U0IMP", "ana.other", real_name="Ana")  # the handle @ana still wins
    slack.add_channel("C0GROW", "growth-okrs")
    return slack


NAMED = """\
objectives:
  - title: Grow weekly active teams
    owner: "@dora"
    channel: "#growth-okrs"
    key_results:
      - title: Weekly active teams
        owner: eve@example.com
        from: 120
        to: 200
        check_ins:
          - {at: '2026-11-02T09:00:00Z', value: 130, by: "@Eve Ortiz"}
      - title: Referrals
        owner: "@ana"
        boolean: true
kpis:
  - key: signup_rate
    name: Signup conversion
    owner: dora@example.com
    channel: "#growth-okrs"
"""


async def test_people_and_channels_by_name_and_email(
    services: Services, people: SlackEmulator
) -> None:
    await do_import(services, NAMED)
    [objective] = await rows(services, Objective)
    assert (objective.owner_id, objective.channel_id) == ("U0DORA", "C0GROW")
    assert [kr.owner_id for kr in await rows(services, KeyResult)] == ["U0EVE", "U1"]
    [check_in] = await rows(services, CheckIn)
    assert check_in.author_id == "U0EVE"
    [kpi] = await rows(services, Kpi)
    assert (kpi.owner_id, kpi.channel_id) == ("U0DORA", "C0GROW")
    # One pass over each list, one lookup per distinct email, however many uses.
    methods = [call.method for call in people.calls]
    assert methods.count("users.list") == 1
    assert methods.count("conversations.list") == 1
    assert methods.count("users.lookupByEmail") == 2
    # The export writes ids, and importing it changes nothing.
    exported = await services.transfer.export("T1", with_history=True)
    assert "U0DORA" in exported and "@dora" not in exported
    assert await do_import(services, exported) == "import: nothing to change"


async def test_unknown_names_are_each_reported_and_nothing_is_stored(
    services: Services, people: SlackEmulator
) -> None:
    text = """\
objectives:
  - title: Grow
    owner: "@zed"
    channel: "#nowhere"
    key_results:
      - title: One
        owner: nobody@example.com
        from: 1
        to: 2
      - title: Two
        owner: "@al"
        boolean: true
      - title: Three
        owner: gone@example.com
        boolean: true
"""
    before = await snapshot(services)
    with pytest.raises(UserError) as raised:
        await do_import(services, text)
    lines = raised.value.message.splitlines()
    assert lines[0] == "5 problems, nothing was stored:"
    assert lines[1:] == [
        "line 3: `objectives[0].owner` @zed is not a user of this Slack workspace",
        "line 4: `objectives[0].channel` #nowhere is not a channel okrbot can see "
        "(for a private channel, invite okrbot first)",
        "line 7: `objectives[0].key_results[0].owner` no user of this Slack workspace has "
        "the email nobody@example.com",
        "line 11: `objectives[0].key_results[1].owner` @al matches several Slack users "
        "(U0AL1, U0AL2): write the user id instead",
        "line 14: `objectives[0].key_results[2].owner` no user of this Slack workspace has "
        "the email gone@example.com",
    ]
    assert await snapshot(services) == before


async def test_names_without_slack_say_how_to_fix_it(services: Services) -> None:
    services.clients._bot_token = None  # type: ignore[attr-defined]  # no token configured
    with pytest.raises(UserError) as raised:
        await do_import(services, "objectives:\n  - {title: Grow, owner: '@ana'}\n")
    assert raised.value.message == (
        "line 2: `objectives[0].owner` @ana cannot be looked up: okrbot has no Slack token "
        "for T1 (set SLACK_BOT_TOKEN, or write the Slack id instead)"
    )
    # Ids need no Slack at all.
    assert "created 1 objective" in await do_import(
        services, "objectives:\n  - {title: Grow, owner: U0DORA}\n"
    )


async def test_an_unquoted_channel_name_is_explained(services: Services) -> None:
    with pytest.raises(
        UserError,
        match="line 2: `objectives\\[0\\].channel` is empty: write a "
        'channel id, or a name in quotes like "#growth"',
    ):
        await do_import(services, "objectives:\n  - {title: Grow, owner: U0DORA, channel: }\n")


EVERYTHING_WRONG = """\
schedule: {weekday: someday, time: "09:00"}
objectives:
  - id: O-1
    title: First
    owner: bob
    cycle: 2026-Q9
    colour: blue
    key_results:
      - id: KR-x
        title: One
        from: abc
        to: 2
      - title: Two
        boolean: true
        check_ins:
          - {at: yesterday, value: 1}
          - {at: '2026-11-02T09:00:00Z', confidence: 11}
  - id: O-1
    title: Second
    owner: U0000AAAA
    parent: nowhere
    key_results:
      - {title: Three, from: 1, to: 2, follows: no_such_kpi}
      - {title: Three, from: 1, to: 3}
kpis:
  - key: Bad Key
    name: Bad
  - key: fine
    name: Fine
    min: 9
    max: 1
    measurements:
      - {at: '2026-11-01T00:00:00Z', value: 1}
      - {at: '2026-11-01T00:00:00Z', value: 2}
"""


async def test_every_problem_of_a_file_is_reported_at_once(services: Services) -> None:
    await do_import(services, NUMBERED)
    before = await snapshot(services)
    with pytest.raises(UserError) as raised:
        await do_import(services, EVERYTHING_WRONG)
    lines = raised.value.message.splitlines()
    expected = [
        (1, "`schedule.weekday` must be a weekday"),
        (5, "`objectives[0].owner` must be a Slack user id"),
        (6, "`objectives[0].cycle`"),
        (7, "`objectives[0].colour` is not a known field"),
        (9, "`objectives[0].key_results[0].id` must be a key result id like KR-4"),
        (11, "`objectives[0].key_results[0].from` must be a number"),
        (16, "`objectives[0].key_results[1].check_ins[0].at` must be a time"),
        (17, "`objectives[0].key_results[1].check_ins[1].confidence` must be a whole number"),
        (18, "`objectives[1].id` repeats the objective id `O-1` (first on line 3)"),
        (21, "`objectives[1].parent` names no objective"),
        (23, "`objectives[1].key_results[0].follows` names no KPI"),
        (24, "`objectives[1].key_results[1].title` repeats the key result title `Three`"),
        (26, "`kpis[0].key` must be lowercase"),
        (30, "`kpis[1].min` (9) is above `max` (1)"),
        (34, "`kpis[1].measurements[1]` repeats the time of line 33"),
    ]
    assert lines[0] == f"{len(expected)} problems, nothing was stored:", lines
    assert len(lines) == len(expected) + 1, lines
    for (line, words), got in zip(expected, lines[1:], strict=True):
        assert got.startswith(f"line {line}: "), (line, got)
        assert words in got, (words, got)
    assert await snapshot(services) == before


async def test_a_key_result_with_an_unknown_field_is_still_checked_whole(
    services: Services,
) -> None:
    huge = "9" * 400
    text = f"""\
objectives:
  - title: A
    owner: U0000AAAA
    key_results:
      - title: One
        colour: blue
        owner: somebody
        from: {huge}
        to: 1
"""
    with pytest.raises(UserError) as raised:
        await do_import(services, text)
    assert raised.value.message.splitlines() == [
        "3 problems, nothing was stored:",
        "line 6: `objectives[0].key_results[0].colour` is not a known field (expected one of: "
        "boolean, check_ins, follows, from, id, owner, range, title, to, unit)",
        "line 7: `objectives[0].key_results[0].owner` must be a Slack user id like U0123ABCD, an "
        '"@name" or an email like ana@example.com',
        "line 8: `objectives[0].key_results[0].from` must be a finite number",
    ]


async def test_history_from_the_future_is_refused_with_the_other_problems(
    services: Services,
) -> None:
    text = """\
objectives:
  - title: A
    owner: U0000AAAA
    key_results:
      - title: One
        from: 0
        to: 1
        check_ins:
          - {at: '2099-01-01T00:00:00Z', value: 1}
          - {at: '2026-11-02T00:00:00Z', value: x}
kpis:
  - key: soon
    name: Soon
    measurements:
      - {at: '2099-01-01T00:00:00Z', value: 1}
"""
    before = await snapshot(services)
    with pytest.raises(UserError) as raised:
        await do_import(services, text)
    assert raised.value.message.splitlines() == [
        "3 problems, nothing was stored:",
        "line 9: `objectives[0].key_results[0].check_ins[0]` 2099-01-01T00:00:00Z is in the "
        "future: a check-in may be at most 5 minutes ahead of now (2026-11-25T10:00:00Z)",
        "line 10: `objectives[0].key_results[0].check_ins[1].value` must be a number, not 'x'",
        "line 15: `kpis[0].measurements[0]` 2099-01-01T00:00:00Z is in the future: a "
        "measurement may be at most 5 minutes ahead of now (2026-11-25T10:00:00Z)",
    ]
    assert await snapshot(services) == before


async def test_a_loop_found_while_applying_stores_nothing(services: Services) -> None:
    text = """\
objectives:
  - {key: a, title: A, owner: U0000AAAA, parent: b}
  - {key: b, title: B, owner: U0000AAAA, parent: a}
"""
    before = await snapshot(services)
    with pytest.raises(UserError) as raised:
        await do_import(services, text)
    assert raised.value.message == "line 3: `objectives[1].parent` would make a loop of parents"
    assert await snapshot(services) == before


def _readme_example() -> str:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### YAML (import / export)") :]
    return section[section.index("```yaml\n") + 8 : section.index("```\n", 10)]


async def test_the_readme_example_imports_and_round_trips(services: Services) -> None:
    example = _readme_example()
    summary = await do_import(services, example)
    assert "1 check-in" in summary and "1 measurement," in summary
    exported = yaml.safe_load(await services.transfer.export("T1", with_history=True))
    assert exported == yaml.safe_load(example)
