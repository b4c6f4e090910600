"""`okrbot kpi …`: KPI commands on CSV histories (`timestamp,value`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.kpis.rules import DEFAULTS


@click.group()
def kpi() -> None:
    """KPI tools that work on CSV histories (timestamp,value)."""


@kpi.command("backtest")
@click.argument("file", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
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
    file: Path,
    min_value: float | None,
    max_value: float | None,
    min_history: int,
    consecutive: int,
) -> None:
    """Replay FILE.csv (timestamp,value) through the alert rules; print timestamp,value,score,alert.

    Without --min/--max the normal range is learned from the history itself,
    exactly as for a live KPI. Only the CSV goes to stdout; messages go to stderr.
    """
    from bot.kpis.detection.config import DetectorConfig
    from bot.kpis.detection.history import backtest, format_backtest_csv, parse_history_csv

    def fail(message: str) -> None:
        click.echo(f"okrbot: {message}", err=True)
        sys.exit(1)

    try:
        config = DetectorConfig(
            min_value=min_value,
            max_value=max_value,
            min_history=min_history,
            consecutive=consecutive,
        )
    except ValueError as exc:
        fail(str(exc))
        return
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
        return
    try:
        rows = parse_history_csv(text)
    except ValueError as exc:
        fail(f"{file}: {exc}")
        return
    try:
        output = format_backtest_csv(backtest(rows, config))
    except ValueError as exc:
        fail(f"{file}: {exc}")
        return
    sys.stdout.write(output)
    sys.stdout.flush()
    alerts = output.count(",1\n")
    click.echo(f"{len(rows)} measurements, {alerts} alert(s) would open", err=True)
