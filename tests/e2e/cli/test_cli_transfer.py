"""`okrbot export --with-history` and `okrbot import` as real processes (issue 10):
ids and history survive a move into an empty database on SQLite and PostgreSQL,
names resolve through the Slack emulator, and every problem is on stderr at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from tests.e2e.cli.test_cli import assert_clean_failure, assert_ok, okrbot
from tests.e2e.transfer.test_yaml_keeps_everything import NUMBERED
from tests.support.processes import OKRBOT, okrbot_env
from tests.support.slack_emulator import SlackEmulator

WITH_CHECK_INS = NUMBERED.replace(
    "        unit: teams\n",
    "        unit: teams\n"
    "        check_ins:\n"
    "          - {at: '2026-11-02T09:00:00Z', value: 150, status: on_track, confidence: 7,"
    " note: 'steady: 30 more', by: U0000AAAA, source: modal}\n"
    "          - {at: '2026-11-09T09:00:00Z', value: 164, status: at_risk, source: dm}\n",
)
HISTORY_CSV = "timestamp,value\n" + "".join(
    f"2026-11-{day:02d}T{hour:02d}:00:00Z,{3 + (hour % 5) / 10}\n"
    for day in range(1, 4)
    for hour in range(0, 24, 2)
)


@pytest.fixture(params=["sqlite", "postgresql"])
def two_databases(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_problem: str | None
) -> tuple[str, str]:
    """A source and an empty target database on one backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'target.db'}"
    source: str = request.getfixturevalue("postgresql_url")
    from tests.support.harness import create_postgres_database, drop_postgres_database
    from tests.support.harness import postgres_url as url_of

    name = create_postgres_database(postgres_problem)
    request.addfinalizer(lambda: drop_postgres_database(name))
    return source, url_of(name)


def test_export_with_history_into_an_empty_database_keeps_ids_and_history(
    tmp_path: Path, two_databases: tuple[str, str]
) -> None:
    source_url, target_url = two_databases
    okrs = tmp_path / "okrs.yml"
    okrs.write_text(WITH_CHECK_INS, encoding="utf-8")
    history = tmp_path / "signups.csv"
    history.write_text(HISTORY_CSV, encoding="utf-8")

    def source(*args: str) -> str:
        result = okrbot(*args, database_url=source_url, cwd=tmp_path)
        assert_ok(result)
        return result.stdout + result.stderr

    assert "created 1 KPI, 2 check-ins, 3 key results, 2 objectives" in source(
        "import", str(okrs), "--team", "T1"
    )
    assert "stored 36 measurements" in source("kpi", "import", str(history), "signup_rate")
    plain = okrbot("export", database_url=source_url, cwd=tmp_path)
    assert_ok(plain)
    assert "check_ins" not in plain.stdout and "measurements" not in plain.stdout
    exported = okrbot("export", "--with-history", database_url=source_url, cwd=tmp_path)
    assert_ok(exported)
    document = yaml.safe_load(exported.stdout)
    assert [o["id"] for o in document["objectives"]] == ["O-2", "O-5"]
    kr4 = document["objectives"][0]["key_results"][0]
    assert kr4["id"] == "KR-4" and [c["value"] for c in kr4["check_ins"]] == [150, 164]
    assert len(document["kpis"][0]["measurements"]) == 36
    assert document["kpis"][0]["owner"] == "U0000BBBB"

    moved = tmp_path / "moved.yml"
    moved.write_text(exported.stdout, encoding="utf-8")
    into_empty = okrbot("import", str(moved), "--team", "T1", database_url=target_url, cwd=tmp_path)
    assert_ok(into_empty)
    assert "2 check-ins" in into_empty.stderr and "36 measurements" in into_empty.stderr
    again = okrbot("export", "--with-history", database_url=target_url, cwd=tmp_path)
    assert_ok(again)
    assert again.stdout == exported.stdout
    twice = okrbot("import", str(moved), database_url=target_url, cwd=tmp_path)
    assert_ok(twice)
    assert "nothing to change" in twice.stderr
    assert okrbot("export", "--with-history", database_url=target_url, cwd=tmp_path).stdout == (
        exported.stdout
    )


def test_every_problem_is_on_stderr_and_nothing_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    good = tmp_path / "good.yml"
    good.write_text(NUMBERED, encoding="utf-8")
    assert_ok(okrbot("import", str(good), "--team", "T1", database_url=url, cwd=tmp_path))
    before = okrbot("export", "--with-history", database_url=url, cwd=tmp_path).stdout
    bad_text = (
        NUMBERED.replace("Grow weekly", "Shrink weekly")
        .replace("to: 200", "to: lots")
        .replace("id: O-5", "id: O-2")
        .replace("owner: U0000BBBB\n    cycle", "owner: '@ghost'\n    cycle")
    )
    bad = tmp_path / "bad.yml"
    bad.write_text(bad_text, encoding="utf-8")
    lines = bad_text.splitlines()
    ghost = lines.index("    owner: '@ghost'") + 1
    failed = okrbot("import", str(bad), database_url=url, cwd=tmp_path)
    assert_clean_failure(
        failed,
        "bad.yml",
        "3 problems, nothing was stored",
        f"line {lines.index('        to: lots') + 1}: `objectives[0].key_results[0].to`",
        f"line {lines.index('  - id: O-2', 5) + 1}: `objectives[1].id` repeats",
        f"line {ghost}: `objectives[1].owner` @ghost cannot be looked up",
        "SLACK_BOT_TOKEN",
    )
    assert okrbot("export", "--with-history", database_url=url, cwd=tmp_path).stdout == before


NAMED_FILE = """\
objectives:
  - id: O-3
    title: Grow weekly active teams
    owner: "@dora"
    channel: "#growth-okrs"
    key_results:
      - id: KR-8
        title: Weekly active teams
        owner: eve@example.com
        from: 120
        to: 200
kpis:
  - key: signup_rate
    name: Signup conversion
    owner: dora@example.com
    channel: C0GROW
"""


async def test_names_resolve_through_slack_in_a_real_process(tmp_path: Path) -> None:
    emulator = SlackEmulator(bot_tokens={"xoxb-test": "T1"})
    await emulator.start()
    try:
        emulator.add_user("U0DORA", "dora", email="dora@example.com")
        emulator.add_user("U0EVE", "eve", email="eve@example.com")
        emulator.add_channel("C0GROW", "growth-okrs")
        url = f"sqlite:///{tmp_path / 'okrbot.db'}"
        env = okrbot_env(emulator.base_url, url)
        source = tmp_path / "named.yml"
        source.write_text(NAMED_FILE, encoding="utf-8")

        async def run(*args: str) -> tuple[int, str, str]:
            process = await asyncio.create_subprocess_exec(
                OKRBOT,
                *args,
                env=env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode is not None
            return process.returncode, out.decode(), err.decode()

        code, _, err = await run("import", str(source), "--team", "T1")
        assert code == 0, err
        code, out, err = await run("export")
        assert code == 0, err
        document = yaml.safe_load(out)
        [objective] = document["objectives"]
        assert (objective["id"], objective["owner"], objective["channel"]) == (
            "O-3",
            "U0DORA",
            "C0GROW",
        )
        assert objective["key_results"][0]["id"] == "KR-8"
        assert objective["key_results"][0]["owner"] == "U0EVE"
        assert document["kpis"][0]["owner"] == "U0DORA"
        methods = [call.method for call in emulator.calls]
        assert {"users.list", "users.lookupByEmail", "conversations.list"} <= set(methods)

        unknown = tmp_path / "unknown.yml"
        unknown.write_text(
            NAMED_FILE.replace('"@dora"', '"@zed"').replace("C0GROW", "'#nowhere'"),
            encoding="utf-8",
        )
        code, out, err = await run("import", str(unknown))
        assert code != 0 and "Traceback" not in err
        assert "2 problems, nothing was stored" in err
        assert "line 4: `objectives[0].owner` @zed is not a user of this Slack workspace" in err
        assert "line 16: `kpis[0].channel` #nowhere is not a channel okrbot can see" in err
    finally:
        await emulator.stop()
    emulator.assert_no_invalid_payloads()
