"""`okrbot token …` and `okrbot kpi …`, run for real in subprocesses (SPEC "Command line").

Each test uses its own SQLite file and a clean environment without any SLACK_*
variable, like tests/test_cli.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cli.test_cli import assert_clean_failure, assert_ok, clean_env, many, okrbot

T0 = datetime(2026, 1, 5, tzinfo=UTC)
KPI_YAML = """\
objectives: []
kpis:
  - key: signup_rate
    name: Signup conversion
    unit: '%'
"""


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "okrbot.db"


def history_csv(n: int, *, spike_at: int | None = None) -> str:
    """An hourly `timestamp,value` history with a little seasonality and one optional spike."""
    lines = ["timestamp,value"]
    for i in range(n):
        value = 3.0 + 0.5 * math.sin(2 * math.pi * i / 24) + 0.05 * ((i * 7) % 5)
        if i == spike_at:
            value = 30.0
        at = (T0 + timedelta(hours=i)).isoformat().replace("+00:00", "Z")
        lines.append(f"{at},{value:.3f}")
    return "\n".join(lines) + "\n"


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def test_token_create_shows_it_once_and_stores_only_its_hash(
    tmp_path: Path, sqlite_path: Path
) -> None:
    url = f"sqlite:///{sqlite_path}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return okrbot(*args, database_url=url, cwd=tmp_path)

    created = run("token", "create", "metrics-pipeline", "--team", "T1")
    assert_ok(created)
    lines = created.stdout.splitlines()
    token = lines[-1]
    assert re.fullmatch(r"okr_[A-Za-z0-9_\-]{40,}", token), created.stdout
    assert token not in created.stderr
    assert created.stdout.count(token) == 1

    stored = query(sqlite_path, "SELECT team_id, name, token_hash, revoked_at FROM api_tokens")
    assert stored == [("T1", "metrics-pipeline", hashlib.sha256(token.encode()).hexdigest(), None)]
    with sqlite3.connect(sqlite_path) as connection:
        dump = "\n".join(connection.iterdump())
    assert token not in dump and token[4:] not in dump  # nowhere in any table

    again = run("token", "create", "metrics-pipeline", "--team", "T1")
    assert_clean_failure(again, "metrics-pipeline", "active", "revoke")
    assert again.stdout == ""
    assert len(query(sqlite_path, "SELECT id FROM api_tokens")) == 1

    revoked = run("token", "revoke", "metrics-pipeline", "--team", "T1")
    assert_ok(revoked)
    assert "revoked" in revoked.stderr
    assert token not in revoked.stdout + revoked.stderr
    assert query(sqlite_path, "SELECT revoked_at IS NOT NULL FROM api_tokens") == [(1,)]

    twice = run("token", "revoke", "metrics-pipeline")  # the only workspace
    assert_clean_failure(twice, "metrics-pipeline", "no active token")
    assert twice.stdout == ""

    # Once revoked, the name is free again, and the new token is a different one.
    renewed = run("token", "create", "metrics-pipeline")
    assert_ok(renewed)
    assert renewed.stdout.splitlines()[-1] not in (token, "")
    assert len(query(sqlite_path, "SELECT id FROM api_tokens WHERE revoked_at IS NULL")) == 1


def test_kpi_import_upserts_and_fails_clearly(tmp_path: Path, sqlite_path: Path) -> None:
    url = f"sqlite:///{sqlite_path}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return okrbot(*args, database_url=url, cwd=tmp_path)

    spec = tmp_path / "kpis.yml"
    spec.write_text(KPI_YAML, encoding="utf-8")
    assert_ok(run("import", str(spec), "--team", "T1"))

    rows = 300
    history = tmp_path / "history.csv"
    history.write_text(history_csv(rows), encoding="utf-8")
    imported = run("kpi", "import", str(history), "signup_rate", "--team", "T1")
    assert_ok(imported)
    assert f"{rows}" in imported.stderr and "signup_rate" in imported.stderr
    count_sql = "SELECT count(*) FROM measurements"
    assert query(sqlite_path, count_sql) == [(rows,)]
    first = query(sqlite_path, "SELECT at, value, source FROM measurements ORDER BY at")
    assert {source for _, _, source in first} == {"import"}

    bad = tmp_path / "bad.csv"
    bad_lines = history_csv(5).splitlines()
    bad_lines[3] = bad_lines[3].split(",")[0] + ",lots"
    bad.write_text("\n".join(bad_lines) + "\n", encoding="utf-8")
    no_header = tmp_path / "no_header.csv"
    no_header.write_text("2026-01-05T00:00:00Z,3\n", encoding="utf-8")
    env = clean_env(url)
    again, broken, headless, unknown = many(
        [
            (["kpi", "import", str(history), "signup_rate"], env),  # same file again
            (["kpi", "import", str(bad), "signup_rate"], env),
            (["kpi", "import", str(no_header), "signup_rate"], env),
            (["kpi", "import", str(history), "nope_rate", "--team", "T1"], env),
        ],
        tmp_path,
    )
    assert_ok(again)
    assert query(sqlite_path, count_sql) == [(rows,)]  # upsert: no duplicates
    assert query(sqlite_path, "SELECT at, value, source FROM measurements ORDER BY at") == first
    assert_clean_failure(broken, "bad.csv", "line 4", "lots", "number")
    assert_clean_failure(headless, "no_header.csv", "line 1", "timestamp,value")
    assert_clean_failure(unknown, "nope_rate")
    for failed in (broken, headless, unknown):
        assert failed.stdout == ""
    assert query(sqlite_path, count_sql) == [(rows,)]

    # A changed value for a known instant replaces the stored one.
    changed = tmp_path / "changed.csv"
    changed.write_text("timestamp,value\n2026-01-05T00:00:00Z,9.5\n", encoding="utf-8")
    assert_ok(run("kpi", "import", str(changed), "signup_rate"))
    assert query(sqlite_path, count_sql) == [(rows,)]
    assert query(sqlite_path, "SELECT value FROM measurements ORDER BY at LIMIT 1") == [(9.5,)]


def test_kpi_backtest_prints_only_csv(tmp_path: Path) -> None:
    rows = 400
    spike = 300
    history = tmp_path / "history.csv"
    history.write_text(history_csv(rows, spike_at=spike), encoding="utf-8")
    missing = tmp_path / "missing.csv"
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("timestamp,value\nyesterday,3\n", encoding="utf-8")
    env = clean_env(f"sqlite:///{tmp_path / 'unused.db'}")
    learned, static, absent, broken = many(
        [
            (["kpi", "backtest", str(history)], env),
            (["kpi", "backtest", str(history), "--min", "2", "--max", "5"], env),
            (["kpi", "backtest", str(missing)], env),
            (["kpi", "backtest", str(garbage)], env),
        ],
        tmp_path,
    )
    source = list(csv.reader(io.StringIO(history.read_text(encoding="utf-8"))))[1:]
    alerts: dict[str, list[int]] = {}
    for name, result in (("learned", learned), ("static", static)):
        assert_ok(result)
        assert result.stdout.endswith("\n")
        table = list(csv.reader(io.StringIO(result.stdout)))
        assert table[0] == ["timestamp", "value", "score", "alert"]
        assert len(table) == rows + 1, result.stdout[-500:]
        for (at, value), out in zip(source, table[1:], strict=True):
            assert len(out) == 4
            assert parse_instant(out[0]) == parse_instant(at)
            assert float(out[1]) == float(value)
            assert 0.0 <= float(out[2]) <= 1.0
            assert out[3] in ("0", "1")
        opened = [i for i, out in enumerate(table[1:]) if out[3] == "1"]
        assert spike in opened, (result.args, opened)
        assert float(table[1 + spike][2]) > 0.5
        assert f"{rows} measurements, {len(opened)} alert" in result.stderr
        alerts[name] = opened
    assert alerts["static"] == [spike]  # inside 2..5 until the spike
    assert_clean_failure(absent, "missing.csv")
    assert_clean_failure(broken, "garbage.csv", "line 2", "yesterday")
    assert absent.stdout == broken.stdout == ""
    assert not (tmp_path / "unused.db").exists()  # backtesting needs no database


def test_kpi_backtest_of_a_stored_kpi_replays_it_with_its_current_rules(
    tmp_path: Path, sqlite_path: Path
) -> None:
    url = f"sqlite:///{sqlite_path}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return okrbot(*args, database_url=url, cwd=tmp_path)

    spec = tmp_path / "kpis.yml"
    spec.write_text(KPI_YAML, encoding="utf-8")
    assert_ok(run("import", str(spec), "--team", "T1"))
    history = tmp_path / "history.csv"
    history.write_text(history_csv(400, spike_at=300), encoding="utf-8")
    assert_ok(run("kpi", "import", str(history), "signup_rate"))

    # A stored KPI, replayed over all its history, says what the file itself says.
    days = (datetime.now(UTC) - T0).days + 2
    stored = run("kpi", "backtest", "--kpi", "signup_rate", "--days", str(days))
    from_file = run("kpi", "backtest", str(history))
    assert_ok(stored)
    assert stored.stdout == from_file.stdout
    assert stored.stdout.count(",1\n") >= 1  # the spike
    assert f"in the last {days} days" in stored.stderr and "alert(s) would open" in stored.stderr

    # Only the last few days are reported (older values still train the model).
    recent = run("kpi", "backtest", "--kpi", "signup_rate", "--days", "1")
    assert_ok(recent)
    assert recent.stdout == "timestamp,value,score,alert\n"  # the history is years old
    both, neither, unknown = many(
        [
            (["kpi", "backtest", str(history), "--kpi", "signup_rate"], clean_env(url)),
            (["kpi", "backtest"], clean_env(url)),
            (["kpi", "backtest", "--kpi", "nope_rate"], clean_env(url)),
        ],
        tmp_path,
    )
    for failed in (both, neither):
        assert_clean_failure(failed, "FILE.csv or --kpi KEY")
    assert_clean_failure(unknown, "nope_rate")
