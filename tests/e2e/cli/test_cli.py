"""The `okrbot` console script, run for real in subprocesses (SPEC "Command line").

Each test uses its own SQLite file (plus one PostgreSQL round trip) and a clean
environment without any SLACK_* variable.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from bot.cli.main import main
from tests.e2e.transfer.test_yaml_io import RICH, SPEC_EXAMPLE, with_ids
from tests.support.harness import create_postgres_database, drop_postgres_database, postgres_url

# The console script installed next to this interpreter (the venv's bin/).
OKRBOT = str(Path(sys.executable).parent / "okrbot")
_CLEARED = ("SLACK_", "OKRBOT_", "DATABASE_URL", "PORT", "HOST")


def clean_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_CLEARED)}
    env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def okrbot(
    *args: str, database_url: str, cwd: Path, timeout: float = 30, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OKRBOT, *args],
        env=clean_env(database_url, **extra),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def many(
    calls: list[tuple[list[str], dict[str, str]]], cwd: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Several independent invocations at once (each ~0.5 s to start)."""
    procs = [
        subprocess.Popen(
            [OKRBOT, *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, env in calls
    ]
    results = []
    for (args, _), proc in zip(calls, procs, strict=True):
        out, err = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess([OKRBOT, *args], proc.returncode, out, err))
    return results


def assert_clean_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Non-zero exit, a message naming `words` on stderr, and no stack trace anywhere."""
    shown = f"{result.args}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.returncode != 0, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    for word in words:
        assert word in result.stderr, shown


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'okrbot.db'}"


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_help_on_every_command(tmp_path: Path, sqlite_url: str) -> None:
    paths = list(command_paths(main))
    assert {("run",), ("db", "upgrade"), ("import",), ("export",), ("tick",)} <= set(paths)
    env = clean_env(sqlite_url)
    results = many([([*path, "--help"], env) for path in paths], tmp_path)
    for path, result in zip(paths, results, strict=True):
        assert_ok(result)
        assert result.stdout.startswith(f"Usage: {' '.join(['okrbot', *path])} "), result.stdout
    assert not (tmp_path / "okrbot.db").exists()  # help touches no database


def test_run_without_slack_tokens_explains_what_is_missing(tmp_path: Path, sqlite_url: str) -> None:
    started = time.monotonic()
    result = okrbot("run", database_url=sqlite_url, cwd=tmp_path, timeout=20)
    assert time.monotonic() - started < 15
    assert_clean_failure(result, "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")


def test_bad_environment_values_get_clear_messages(tmp_path: Path, sqlite_url: str) -> None:
    cases: list[tuple[list[str], dict[str, str], tuple[str, ...]]] = [
        (["run"], {"SLACK_BOT_TOKEN": "nope"}, ("SLACK_BOT_TOKEN", "xoxb-")),
        (["export"], {"SLACK_BOT_TOKEN": "nope"}, ("SLACK_BOT_TOKEN", "xoxb-")),
        (["run"], {"SLACK_APP_TOKEN": "xoxb-wrong"}, ("SLACK_APP_TOKEN", "xapp-")),
        (["tick"], {"OKRBOT_TIMEZONE": "Mars/Base"}, ("OKRBOT_TIMEZONE", "Mars/Base")),
        (["db", "upgrade"], {"DATABASE_URL": "mysql://x"}, ("DATABASE_URL", "mysql")),
        (["export"], {"DATABASE_URL": "mysql://x"}, ("DATABASE_URL", "mysql")),
        (["tick"], {"DATABASE_URL": "not a url"}, ("DATABASE_URL",)),
        (["run"], {"PORT": "abc"}, ("PORT",)),
        (["run"], {"SLACK_API_URL": "ftp://slack"}, ("SLACK_API_URL",)),
        (
            ["db", "upgrade"],
            {"DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}"},
            ("database",),
        ),
    ]
    results = many([(args, clean_env(sqlite_url, **env)) for args, env, _ in cases], tmp_path)
    for (_, _, words), result in zip(cases, results, strict=True):
        assert_clean_failure(result, *words)
        assert result.stdout == ""


def test_db_upgrade_creates_the_schema_and_is_repeatable(tmp_path: Path, sqlite_url: str) -> None:
    for _ in range(2):
        result = okrbot("db", "upgrade", database_url=sqlite_url, cwd=tmp_path)
        assert_ok(result)
        assert result.stdout == ""
    with sqlite3.connect(tmp_path / "okrbot.db") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "workspaces", "objectives", "key_results", "kpis"} <= tables


def test_import_export_round_trip_and_errors(tmp_path: Path, sqlite_url: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return okrbot(*args, database_url=sqlite_url, cwd=tmp_path)

    spec = tmp_path / "okrs.yml"
    spec.write_text(SPEC_EXAMPLE, encoding="utf-8")
    bad = tmp_path / "bad.yml"
    bad_text = SPEC_EXAMPLE.replace("Grow weekly", "Shrink weekly").replace("to: 200", "to: lots")
    bad.write_text(bad_text, encoding="utf-8")
    bad_line = bad_text.splitlines().index("        to: lots") + 1
    broken = tmp_path / "broken.yml"
    broken.write_text("objectives:\n  - title: x\n    owner: U1: 2\n", encoding="utf-8")

    # Nothing known yet: export says how to name a workspace.
    assert_clean_failure(run("export"), "--team")

    created = run("import", str(spec), "--team", "T1")
    assert_ok(created)
    assert created.stdout == ""
    assert "created" in created.stderr

    exported = run("export")  # the only workspace
    assert_ok(exported)
    assert yaml.safe_load(exported.stdout) == with_ids(SPEC_EXAMPLE)
    assert "okrbot" not in exported.stdout and "database" not in exported.stdout

    again = run("import", str(spec))
    assert_ok(again)
    assert "nothing to change" in again.stderr

    failed = run("import", str(bad))
    assert_clean_failure(
        failed, "bad.yml", f"line {bad_line}", "objectives[0].key_results[0].to", "number"
    )
    syntax = run("import", str(broken), "--team", "T1")
    assert_clean_failure(syntax, "broken.yml", "line 3")
    # A failed import into a new workspace does not create it either.
    assert_clean_failure(run("import", str(bad), "--team", "T3"), f"line {bad_line}")
    assert_clean_failure(run("import", str(tmp_path / "nope.yml")), "nope.yml")
    assert_clean_failure(run("import", str(spec), "--team", "not a team"), "--team")
    assert run("export").stdout == exported.stdout  # nothing above stored anything

    assert_ok(run("import", str(spec), "--team", "T2"))
    ambiguous = run("export")
    assert_clean_failure(ambiguous, "T1", "T2", "--team")
    assert "T3" not in ambiguous.stderr
    assert ambiguous.stdout == ""
    second = run("export", "--team", "T2")
    assert_ok(second)
    assert second.stdout == exported.stdout


def test_tick(tmp_path: Path, sqlite_url: str) -> None:
    ok, garbage = many(
        [
            (["tick", "--at", "2026-11-30T09:00:00Z"], clean_env(sqlite_url)),
            (["tick", "--at", "garbage"], clean_env(sqlite_url)),
        ],
        tmp_path,
    )
    assert_ok(ok)
    assert "2026-11-30T09:00:00+00:00" in ok.stderr
    assert_clean_failure(garbage, "garbage", "ISO 8601")


def test_import_export_on_postgresql(tmp_path: Path, postgres_problem: str | None) -> None:
    name = create_postgres_database(postgres_problem)
    try:
        url = postgres_url(name)
        source = tmp_path / "rich.yml"
        source.write_text(RICH, encoding="utf-8")
        imported = okrbot("import", str(source), "--team", "T1", database_url=url, cwd=tmp_path)
        assert_ok(imported)
        exported = okrbot("export", database_url=url, cwd=tmp_path)
        assert_ok(exported)
        assert yaml.safe_load(exported.stdout) == with_ids(RICH)
        again = okrbot("import", str(source), database_url=url, cwd=tmp_path)
        assert_ok(again)
        assert "nothing to change" in again.stderr
    finally:
        drop_postgres_database(name)
