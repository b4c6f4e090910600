"""`okrbot kpi …`: replaying histories through the alert rules, and loading them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, migrate, resolve_team, settings_or_exit, team_option, with_services
from bot.kpis.rules import DEFAULTS

if TYPE_CHECKING:
    from datetime import datetime

    from bot.kpis.detection import DetectorConfig
    from bot.runtime.services import Services

History = list[tuple["datetime", float]]


@click.group()
def kpi() -> None:
    """KPI tools: replay a history through the alert rules, load a history from CSV."""


@kpi.command("backtest")
@click.argument(
    "file", metavar="FILE.csv", required=False, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--kpi", "key", metavar="KEY", help="Replay a stored KPI with its current rules.")
@click.option(
    "--days",
    type=click.IntRange(min=1, max=3660),
    default=30,
    show_default=True,
    help="With --kpi: how many days of its history to report on.",
)
@team_option
@click.option("--min", "min_value", type=float, metavar="X", help="Static lower bound.")
@click.option("--max", "max_value", type=float, metavar="Y", help="Static upper bound.")
@click.option(
    "--min-history",
    type=click.IntRange(min=1),
    default=DEFAULTS.min_history,
    show_default=True,
    metavar="N",
    help="Measurements needed before a learned range may alert.",
)
@click.option(
    "--consecutive",
    type=click.IntRange(min=1),
    default=DEFAULTS.consecutive,
    show_default=True,
    metavar="N",
    help="Abnormal measurements in a row that open an alert.",
)
def backtest_command(
    file: Path | None,
    key: str | None,
    days: int,
    team: str | None,
    min_value: float | None,
    max_value: float | None,
    min_history: int,
    consecutive: int,
) -> None:
    """Replay a history through the alert rules; print timestamp,value,score,alert.

    FILE.csv (timestamp,value) is judged by the rules given here — the learned range
    unless --min/--max are set — exactly as a live KPI would be. With --kpi KEY a
    stored KPI's last --days are replayed through its current rules, to tune `after`,
    bounds or `history` before it pages anyone. Only the CSV goes to stdout.
    """
    from bot.kpis.detection import DetectorConfig, backtest, format_backtest_csv

    if (file is None) == (key is None):
        fail("give a FILE.csv or --kpi KEY (one of them)")
    since: datetime | None = None
    if key is not None:
        rows, since, config = _stored_history(key, days, team)
    else:
        assert file is not None
        rows = _file_history(file)
        try:
            config = DetectorConfig(
                min_value=min_value,
                max_value=max_value,
                min_history=min_history,
                consecutive=consecutive,
            )
        except ValueError as exc:
            fail(str(exc))
    try:
        judged = list(backtest(rows, config))
    except ValueError as exc:
        fail(f"{file or key}: {exc}")
    shown = judged if since is None else [row for row in judged if row[0] >= since]
    sys.stdout.write(format_backtest_csv(shown))
    sys.stdout.flush()
    alerts = sum(row[3] for row in shown)
    where = "" if since is None else f" in the last {days} days"
    click.echo(f"{len(shown)} measurements{where}, {alerts} alert(s) would open", err=True)


def _file_history(file: Path) -> History:
    from bot.kpis.detection import parse_history_csv

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
    try:
        return list(parse_history_csv(text))
    except ValueError as exc:
        fail(f"{file}: {exc}")


def _stored_history(
    key: str, days: int, team: str | None
) -> tuple[History, datetime, DetectorConfig]:
    settings = settings_or_exit()
    migrate(settings)

    async def go(services: Services) -> tuple[History, datetime, DetectorConfig]:
        team_id = await resolve_team(services, team, create=False)
        return await services.kpis.replay(team_id, key, days, services.clock())

    return with_services(settings, go)


@kpi.command("import")
@click.argument(
    "file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.argument("key")
@team_option
def kpi_import(file: Path, key: str, team: str | None) -> None:
    """Load a KPI's history from FILE.csv (timestamp,value); same upsert rules as the API."""
    from bot.kpis.ingest import MAX_BATCH
    from storage.repositories.kpis import Point

    settings = settings_or_exit()
    rows = _file_history(file)
    migrate(settings)

    async def go(services: Services) -> str:
        team_id = await resolve_team(services, team)
        now = services.clock()
        stored = 0
        points = [Point(at, value) for at, value in rows]
        for start in range(0, len(points), MAX_BATCH):
            result = await services.kpis.ingest(
                team_id, key, points[start : start + MAX_BATCH], "import", now
            )
            stored += result.stored
        return f"stored {stored} measurements for {key}"

    click.echo(with_services(settings, go), err=True)
