"""`okrbot sandbox`: the real bot against the built-in Slack stand-in, with a local page."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import click


async def serve_sandbox(host: str, port: int, database_url: str | None, demo_data: bool) -> None:
    from bot.sandbox.app import start_sandbox

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await start_sandbox(
        host=host, port=port, database_url=database_url, demo_data=demo_data
    )
    click.echo(running.url)
    try:
        await stop.wait()
    finally:
        await running.close()


def run_sandbox(host: str, port: int, database_url: str | None, demo_data: bool) -> None:
    """Serve until SIGINT/SIGTERM; the page's URL is the one line printed on stdout."""
    from bot.runtime.logs import configure_logging

    configure_logging(logging.WARNING)  # a quiet terminal: the page is where things happen
    try:
        asyncio.run(serve_sandbox(host, port, database_url, demo_data))
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # e.g. the port is taken: one line, no traceback
        click.echo(f"okrbot: the sandbox could not start: {exc}", err=True)
        sys.exit(1)


@click.command("sandbox")
@click.option("--demo", "demo_data", is_flag=True, help="Start with demo OKRs, KPI and people.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address for the page.")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--database-url",
    metavar="URL",
    help="Keep the sandbox's data here (default: a fresh SQLite file per run).",
)
def sandbox(demo_data: bool, host: str, port: int, database_url: str | None) -> None:
    """Try okrbot without a Slack workspace: the real bot, a built-in Slack stand-in and
    a Slack-like page at http://127.0.0.1:3000/ (no tokens, no network)."""
    run_sandbox(host, port, database_url, demo_data)
