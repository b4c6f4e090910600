"""YAML import / export (SPEC "YAML"): idempotent, transactional, team-scoped, a round trip.

Runs on SQLite and PostgreSQL through the `services` fixture.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.core.errors import UserError
from bot.runtime.services import Services
from bot.transfer.yaml_io import load_document
from storage.models import Base, KeyResult, Kpi, Objective, Schedule

# The example in SPEC's "YAML (import / export)" section, verbatim.
SPEC_EXAMPLE = """\
schedule: {weekday: monday, time: "09:00"}
objectives:
  - key: grow-teams            # optional stable handle; else matched by title
    title: Grow weekly active teams
    owner: U0123ABCD
    channel: C0123ABCD
    cycle: 2026-Q4
    key_results:
      - title: Weekly active teams
        owner: U0456EFGH
        from: 120
        to: 200
        unit: teams
      - title: p95 page load under 1.5 s
        range: [0, 1.5]
        unit: s
kpis:
  - key: signup_rate
    name: Signup conversion
    unit: "%"
    channel: C0999ZZZZ
    min: 2.0                   # omit min and max for a learned range
    max: 5.0
"""

# Everything the format can say: parents by key and by title, every kind, statuses,
# a learned KPI, a one-sided KPI, text that YAML would otherwise misread.
RICH = """\
schedule: {weekday: thursday, time: "16:30"}
objectives:
  - key: company
    title: Win the mid-market
    owner: U0000BOSS
    channel: C0000ALL
    cycle: '2026'
    key_results:
      - title: Paying teams
        from: 300
        to: 1000
        unit: teams
  - title: Grow weekly active teams
    owner: U0123ABCD
    channel: C0123ABCD
    cycle: 2026-Q4
    parent: company
    key_results:
      - title: Weekly active teams
        owner: U0456EFGH
        from: 120
        to: 200
        unit: teams
        follows: weekly.active_teams
      - title: Churn
        from: 8.5
        to: 4
        unit: '%'
      - title: p95 page load under 1.5 s
        range: [0, 1.5]
        unit: s
      - title: 'yes: launch the référral programme'
        boolean: true
  - key: infra
    title: Keep the lights on
    owner: U0777CCCC
    cycle: 2026-H2
    status: done
    parent: Grow weekly active teams
    key_results: []
kpis:
  - key: errors
    name: Error rate
    unit: '%'
    max: 1.5
    every: 1h
    after: 3
    history: 50
  - key: signup_rate
    name: Signup conversion
    unit: '%'
    channel: C0999ZZZZ
    min: 2
    max: 5
  - key: weekly.active_teams
    name: Weekly active teams
"""


def with_ids(text: str) -> dict[str, Any]:
    """The file as export writes it after a first import into an empty workspace: each
    objective and key result with the id it was given (O-1, KR-1, … in file order)."""
    document = yaml.safe_load(text)
    key_results = 0
    for number, objective in enumerate(document.get("objectives", []), 1):
        objective["id"] = f"O-{number}"
        for kr in objective.get("key_results", []):
            key_results += 1
            kr["id"] = f"KR-{key_results}"
    return dict(document)


async def snapshot(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with services.db.session() as session:
        for table in Base.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in (await session.execute(query)).all()]
    return out


async def do_import(services: Services, text: str, team: str = "T1") -> str:
    document = load_document(text, "test.yml")
    return (await services.transfer.import_document(team, document, services.clock())).summary()


async def rows(services: Services, model: type[Any], team: str = "T1") -> list[Any]:
    async with services.db.session() as session:
        query = select(model).where(model.team_id == team).order_by(model.id)
        return list((await session.scalars(query)).all())


async def test_spec_example_imports_and_second_import_changes_nothing(
    services: Services,
) -> None:
    summary = await do_import(services, SPEC_EXAMPLE)
    assert summary == (
        "import: created 1 KPI, 2 key results, 1 objective, 1 schedule; updated nothing"
    )

    [schedule] = await rows(services, Schedule)
    assert (schedule.weekday, schedule.local_time, schedule.channel_id) == (0, "09:00", "")
    [objective] = await rows(services, Objective)
    assert (objective.number, objective.key, objective.title) == (
        1,
        "grow-teams",
        "Grow weekly active teams",
    )
    assert (objective.owner_id, objective.channel_id, objective.cycle) == (
        "U0123ABCD",
        "C0123ABCD",
        "2026-Q4",
    )
    assert objective.status == "active" and objective.parent_id is None
    teams, page_load = await rows(services, KeyResult)
    assert teams.objective_id == objective.id and page_load.objective_id == objective.id
    assert (teams.number, teams.kind, teams.owner_id) == (1, "increase", "U0456EFGH")
    assert (teams.start_value, teams.target_value, teams.unit) == (120, 200, "teams")
    assert teams.current_value == 120
    assert (page_load.number, page_load.kind, page_load.unit) == (2, "range", "s")
    assert (page_load.range_low, page_load.range_high) == (0, 1.5)
    assert page_load.owner_id == "U0123ABCD"  # defaults to the objective's owner
    [kpi] = await rows(services, Kpi)
    assert (kpi.key, kpi.name, kpi.unit, kpi.channel_id) == (
        "signup_rate",
        "Signup conversion",
        "%",
        "C0999ZZZZ",
    )
    assert (kpi.min_value, kpi.max_value) == (2.0, 5.0)

    before = await snapshot(services)
    services.clock.advance(hours=1)  # type: ignore[attr-defined]
    assert await do_import(services, SPEC_EXAMPLE) == "import: nothing to change"
    assert await snapshot(services) == before


async def test_rich_file_second_import_changes_nothing(services: Services) -> None:
    summary = await do_import(services, RICH)
    assert "created 3 KPIs, 5 key results, 3 objectives, 1 schedule; updated nothing" in summary
    churn = next(kr for kr in await rows(services, KeyResult) if kr.title == "Churn")
    assert churn.kind == "decrease"
    before = await snapshot(services)
    services.clock.advance(days=1)  # type: ignore[attr-defined]
    assert await do_import(services, RICH) == "import: nothing to change"
    assert await snapshot(services) == before


async def test_edits_update_in_place(services: Services) -> None:
    await do_import(services, RICH)
    edited = (
        RICH.replace("Win the mid-market", "Win the mid-market segment")  # matched by key
        .replace("to: 200", "to: 250")
        .replace("max: 1.5", "max: 2")
        .replace('time: "16:30"', 'time: "10:00"')
    )
    summary = await do_import(services, edited)
    assert (
        summary == "import: created nothing; updated 1 KPI, 1 key result, 1 objective, 1 schedule"
    )
    objectives = await rows(services, Objective)
    assert [o.number for o in objectives] == [1, 2, 3]
    assert objectives[0].title == "Win the mid-market segment"
    assert await do_import(services, edited) == "import: nothing to change"


async def test_spec_example_exports_as_written(services: Services) -> None:
    await do_import(services, SPEC_EXAMPLE)
    exported = await services.transfer.export("T1")
    assert yaml.safe_load(exported) == with_ids(SPEC_EXAMPLE)


async def test_round_trip_through_a_fresh_team(services: Services) -> None:
    await do_import(services, RICH, team="T1")
    first = await services.transfer.export("T1")
    assert yaml.safe_load(first) == with_ids(RICH)

    assert "created" in await do_import(services, first, team="T2")
    second = await services.transfer.export("T2")
    assert second == first
    # and the export is itself a no-op to import again
    before = await snapshot(services)
    assert await do_import(services, first, team="T1") == "import: nothing to change"
    assert await snapshot(services) == before


async def test_export_of_an_empty_workspace_imports_cleanly(services: Services) -> None:
    assert await do_import(services, "", team="T1") == "import: nothing to change"
    exported = await services.transfer.export("T1")
    assert yaml.safe_load(exported) == {"objectives": [], "kpis": []}
    assert await do_import(services, exported, team="T1") == "import: nothing to change"


# Each bad file changes the first objective (so a partial write would show) and
# carries one mistake on the line marked `# BAD`; the error names that line and path.
GOOD = """\
schedule: {weekday: monday, time: "09:00"}
objectives:
  - key: first
    title: First
    owner: U0000AAAA
    key_results:
      - title: One
        from: 1
        to: 2
  - title: Second
    owner: U0000AAAA
  - title: Third
    owner: U0000AAAA
    cycle: 2026-Q4
    key_results:
      - title: Third one
        from: 10
        to: 50
kpis:
  - key: signup_rate
    name: Signup
    min: 2
    max: 5
  - key: errors
    name: Errors
"""

BAD_CASES = [
    ("from: 10", "from: abc  # BAD", "objectives[2].key_results[0].from", "must be a number"),
    (
        "from: 10\n        to: 50",
        "range: [5, 1]  # BAD",
        "objectives[2].key_results[0].range",
        "above",
    ),
    ("to: 50", "to: .nan  # BAD", "objectives[2].key_results[0].to", "finite"),
    ("to: 50", "to: 10  # BAD", "objectives[2].key_results[0].to", "must differ"),
    (
        "owner: U0000AAAA\n    cycle",
        "owner: bob  # BAD\n    cycle",
        "objectives[2].owner",
        "user id",
    ),
    ("cycle: 2026-Q4", "cycle: 2026-Q4\n    titel: typo  # BAD", "objectives[2].titel", "known"),
    ("cycle: 2026-Q4", "cycle: 2026-Q9  # BAD", "objectives[2].cycle", "unknown cycle"),
    ("cycle: 2026-Q4", "cycle: 2026-Q4\n    status: paused  # BAD", "objectives[2].status", "done"),
    (
        "cycle: 2026-Q4",
        "cycle: 2026-Q4\n    parent: nowhere  # BAD",
        "objectives[2].parent",
        "names no objective",
    ),
    ("cycle: 2026-Q4", "cycle: 2026-Q4\n    parent: Third  # BAD", "objectives[2].parent", "loop"),
    ("name: Errors", "name: Errors\n    min: 9  # BAD\n    max: 1", "kpis[1].min", "above"),
    ("key: errors", "key: signup_rate  # BAD", "kpis[1].key", "repeats"),
    ("key: errors", "key: Bad Key  # BAD", "kpis[1].key", "lowercase"),
    ("name: Errors", "name: Errors\n    min: '2'  # BAD", "kpis[1].min", "must be a number"),
    (
        "    key_results:\n      - title: Third one",
        "    key_results:\n      - title: One\n        boolean: true\n      - title: One  # BAD",
        "objectives[2].key_results[1].title",
        "repeats",
    ),
    (
        "- title: Third one\n        from: 10\n        to: 50",
        "- title: Third one  # BAD\n        unit: x",
        "objectives[2].key_results[0]",
        "exactly one of",
    ),
    ("  - title: Third", "  - title: Second  # BAD", "objectives[2].title", "repeats"),
    (
        "  - title: Third\n    owner: U0000AAAA",
        "  - owner: U0000AAAA  # BAD",
        "objectives[2]",
        "title",
    ),
]


def _bad(old: str, new: str) -> str:
    text = GOOD.replace("title: First", "title: First renamed").replace(old, new, 1)
    assert "# BAD" in text and text != GOOD
    return text


def _bad_line(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if "# BAD" in line)


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    BAD_CASES,
    ids=[f"{n}-{case[2]}" for n, case in enumerate(BAD_CASES)],
)
async def test_a_bad_field_names_line_and_path_and_stores_nothing(
    services: Services, old: str, new: str, path: str, words: str
) -> None:
    await do_import(services, GOOD)
    before = await snapshot(services)
    text = _bad(old, new)
    with pytest.raises(UserError) as raised:
        await do_import(services, text)
    message = raised.value.message
    assert f"line {_bad_line(text)}" in message, message
    assert f"`{path}`" in message, message
    assert words in message, message
    assert await snapshot(services) == before


async def test_bad_file_into_a_new_team_creates_no_workspace(services: Services) -> None:
    before = await snapshot(services)
    with pytest.raises(UserError, match="names no objective"):
        await do_import(services, _bad("cycle: 2026-Q4", "parent: nowhere  # BAD"), team="T9")
    assert await snapshot(services) == before


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("objectives:\n  - title: x\n    owner: U1: 2\n", 3),
        ("kpis:\n  - key: a\n\tname: b\n", 3),
        ("objectives:\n  - title: x\n    title: y\n", 3),
        ("schedule: {weekday: monday, time: !!int nine}\n", 1),
    ],
    ids=["mapping-in-scalar", "tab", "duplicate-key", "bad-tag"],
)
async def test_invalid_yaml_names_its_line(services: Services, text: str, line: int) -> None:
    with pytest.raises(UserError, match=f"line {line}:"):
        await do_import(services, text)
    assert await rows(services, Objective) == []


async def test_top_level_must_be_a_mapping(services: Services) -> None:
    with pytest.raises(UserError, match="must be a mapping"):
        await do_import(services, "- title: x\n")
    with pytest.raises(UserError, match="line 2: `objectives` must be a list"):
        await do_import(services, "kpis: []\nobjectives: {title: x}\n")


async def test_an_objective_matched_by_key_is_not_matched_again_by_title(
    services: Services,
) -> None:
    await do_import(services, "objectives:\n  - {key: k1, title: Same, owner: U0000AAAA}\n")
    both = (
        "objectives:\n"
        "  - {key: k1, title: Same, owner: U0000AAAA}\n"
        "  - {title: Same, owner: U0000BBBB}\n"
    )
    assert await do_import(services, both) == "import: created 1 objective; updated nothing"
    assert await do_import(services, both) == "import: nothing to change"
    keyed, keyless = await rows(services, Objective)
    assert (keyed.key, keyed.owner_id) == ("k1", "U0000AAAA")
    assert (keyless.key, keyless.owner_id) == (None, "U0000BBBB")
    # Order in the file or the database does not matter.
    swapped = "objectives:\n" + "".join(reversed(both.splitlines(keepends=True)[1:]))
    assert await do_import(services, swapped) == "import: nothing to change"
    # the keyless objective existing first, in another workspace
    await do_import(services, "objectives:\n  - {title: Same, owner: U0000BBBB}\n", team="T2")
    assert await do_import(services, both, team="T2") == (
        "import: created 1 objective; updated nothing"
    )
    assert await do_import(services, both, team="T2") == "import: nothing to change"


async def test_parents_by_key_and_title(services: Services) -> None:
    await do_import(services, RICH)
    company, grow, infra = await rows(services, Objective)
    assert company.parent_id is None
    assert grow.parent_id == company.id  # by key
    assert infra.parent_id == grow.id  # by title
    # A later file may hang a new objective under an existing one it does not repeat,
    # and may unlink a parent by leaving `parent` out.
    later = """\
objectives:
  - title: Self-serve onboarding
    owner: U0123ABCD
    parent: Win the mid-market
  - key: infra
    title: Keep the lights on
    owner: U0777CCCC
    cycle: 2026-H2
    status: done
"""
    summary = await do_import(services, later)
    assert summary == "import: created 1 objective; updated 1 objective"
    company, grow, infra, onboarding = await rows(services, Objective)
    assert onboarding.parent_id == company.id and onboarding.number == 4
    assert onboarding.cycle == "2026-Q4"  # the current quarter by default
    assert infra.parent_id is None


@pytest.mark.parametrize(
    "parents",
    [
        ("b", "a"),  # a → b → a
        ("a", None),  # a is its own parent
        ("b", "c", "a"),  # a → b → c → a
    ],
)
async def test_a_parent_loop_in_the_file_is_rejected(
    services: Services, parents: tuple[str | None, ...]
) -> None:
    await do_import(services, GOOD)
    before = await snapshot(services)
    names = "abc"
    entries = []
    for name, parent in zip(names, parents, strict=False):
        entry = f"  - key: {name}\n    title: Objective {name}\n    owner: U0000AAAA\n"
        if parent:
            entry += f"    parent: {parent}\n"
        entries.append(entry)
    text = "objectives:\n" + "".join(entries)
    with pytest.raises(UserError, match=r"line \d+: `objectives\[\d\]\.parent` would make a loop"):
        await do_import(services, text)
    assert await snapshot(services) == before


async def test_an_existing_loop_through_the_database_is_rejected(services: Services) -> None:
    await do_import(services, RICH)  # company ← grow ← infra
    before = await snapshot(services)
    text = (
        "objectives:\n  - key: company\n    title: Win the mid-market\n"
        "    owner: U0000BOSS\n    parent: infra\n"
    )
    with pytest.raises(UserError, match="loop"):
        await do_import(services, text)
    assert await snapshot(services) == before


async def test_import_into_one_team_does_not_touch_another(services: Services) -> None:
    await do_import(services, RICH, team="T2")
    t2_before = await services.transfer.export("T2")
    t2_rows = [
        [(r.id, r.number, r.title, r.updated_at) for r in await rows(services, m, "T2")]
        for m in (Objective, KeyResult)
    ]

    # Same keys and titles in T1: T1 gets its own rows, numbered from 1.
    assert "created" in await do_import(services, SPEC_EXAMPLE, team="T1")
    changed = RICH.replace("to: 200", "to: 999").replace("max: 5", "max: 50")
    assert "created" in await do_import(services, changed, team="T1")
    t1_numbers = [o.number for o in await rows(services, Objective, "T1")]
    assert t1_numbers == [1, 2, 3]  # "Grow weekly active teams" matched by title

    assert await services.transfer.export("T2") == t2_before
    assert [
        [(r.id, r.number, r.title, r.updated_at) for r in await rows(services, m, "T2")]
        for m in (Objective, KeyResult)
    ] == t2_rows
    t1 = yaml.safe_load(await services.transfer.export("T1"))
    assert {k["key"]: k.get("max") for k in t1["kpis"]}["signup_rate"] == 50
    assert await services.transfer.export("T3") == "objectives: []\nkpis: []\n"


@pytest.mark.parametrize(
    ("written", "stored"),
    [("09:00", "09:00"), ("9:30", "09:30"), ("19:45", "19:45"), ("'7:05'", "07:05")],
)
async def test_unquoted_times_are_read_as_times(
    services: Services, written: str, stored: str
) -> None:
    await do_import(services, f"schedule:\n  weekday: fri\n  time: {written}\n")
    [schedule] = await rows(services, Schedule)
    assert (schedule.weekday, schedule.local_time) == (4, stored)
    exported = await services.transfer.export("T1")
    assert yaml.safe_load(exported)["schedule"] == {"weekday": "friday", "time": stored}


@pytest.mark.parametrize("written", ["24:00", "yes", "9", "'9:7'", "noon"])
async def test_bad_times_are_rejected(services: Services, written: str) -> None:
    with pytest.raises(UserError, match="line 3: `schedule.time`"):
        await do_import(services, f"schedule:\n  weekday: monday\n  time: {written}\n")
    assert await rows(services, Schedule) == []


async def test_key_results_follow_kpis_by_key(services: Services) -> None:
    await do_import(services, RICH)
    [kpi] = [k for k in await rows(services, Kpi) if k.key == "weekly.active_teams"]
    following = [kr for kr in await rows(services, KeyResult) if kr.kpi_id is not None]
    assert [(kr.title, kr.kpi_id) for kr in following] == [("Weekly active teams", kpi.id)]
    [errors] = [k for k in await rows(services, Kpi) if k.key == "errors"]
    assert (errors.expected_interval_seconds, errors.consecutive, errors.min_history) == (
        3600,
        3,
        50,
    )
    bad = RICH.replace("follows: weekly.active_teams", "follows: nope")
    with pytest.raises(UserError, match="names no KPI"):
        await do_import(services, bad, team="T9")


async def test_numbers_in_exponent_form_are_numbers(services: Services) -> None:
    text = textwrap.dedent(
        """\
        kpis:
          - key: latency
            name: Latency
            min: 1e-3
            max: 2.5E+3
        """
    )
    await do_import(services, text)
    [kpi] = await rows(services, Kpi)
    assert (kpi.min_value, kpi.max_value) == (0.001, 2500.0)
    assert await do_import(services, await services.transfer.export("T1")) == (
        "import: nothing to change"
    )
