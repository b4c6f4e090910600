"""The `okrbot` command line: every command runs the same async code as the server."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.common import (
    fail,
    migrate,
    resolve_team,
    run_async,
    settings_or_exit,
    team_option,
    with_services,
)
from bot.cli.kpi import kpi
from bot.cli.sandbox import sandbox
from bot.core.errors import UserError
from bot.core.times import parse_instant

if TYPE_CHECKING:
    from bot.runtime.config import Settings
    from bot.runtime.services import Services


def _parse_instant(value: str) -> datetime:
    try:
        return parse_instant(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time like 2026-11-30T09:00:00Z"
        ) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """okrbot: weekly OKR check-ins, KPI alerts and /okr status in Slack."""


main.add_command(kpi)
main.add_command(sandbox)


@main.command()
@click.option(
    "--or-sandbox",
    is_flag=True,
    help="With no Slack setting at all, start `okrbot sandbox --demo` instead (make run).",
)
def run(or_sandbox: bool) -> None:
    """Serve Slack (HTTP, or Socket Mode when SLACK_APP_TOKEN is set) and run the scheduler."""
    from bot.runtime.logs import configure_logging
    from bot.runtime.server import serve
    from bot.runtime.services import build_services

    settings = settings_or_exit()
    missing = settings.missing_for_serving()
    if missing and or_sandbox and not _any_slack_setting(settings):
        from bot.cli.sandbox import run_sandbox

        click.echo("okrbot: no Slack settings, so here is the sandbox (Ctrl-C stops it):", err=True)
        run_sandbox("127.0.0.1", settings.port, None, demo_data=True)
        return
    if missing:
        lines = "\n".join(f"  - {item}" for item in missing)
        fail(
            "Slack is not configured, so there is nothing to serve yet. Set:\n"
            f"{lines}\n"
            "Create the app from app_manifest.yml at https://api.slack.com/apps "
            "(see README: 'Creating the Slack app'), then run `make run` again.\n"
            "To try okrbot first without a Slack workspace: `okrbot sandbox --demo`.",
            2,
        )
    configure_logging()
    migrate(settings)
    run_async(lambda: serve(build_services(settings)))


def _any_slack_setting(settings: Settings) -> bool:
    return any(
        (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.slack_client_id,
            settings.slack_client_secret,
        )
    )


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (Alembic)."""
    settings = settings_or_exit()
    migrate(settings)
    click.echo("database is up to date", err=True)


@main.command()
@click.option("--at", "at", metavar="TIME", help="The instant to act as of (ISO 8601, UTC).")
def tick(at: str | None) -> None:
    """Do all work due as of an instant (prompts, reminders, digests) once, then exit."""
    from bot.core.clock import utc_now
    from bot.runtime.jobs import tick as run_tick

    settings = settings_or_exit()
    now = _parse_instant(at) if at is not None else utc_now()
    migrate(settings)

    async def go(services: Services) -> str:
        return (await run_tick(services, now)).summary()

    click.echo(with_services(settings, go), err=True)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@team_option
def import_command(file: Path, team: str | None) -> None:
    """Create or update objectives, key results, KPIs, the schedule and history from YAML.

    Every problem of the file is reported at once (line and field) and nothing is
    stored; `@name`, email and `#name` are looked up through Slack (SLACK_BOT_TOKEN).
    """
    from bot.transfer.yaml_io import load_document

    settings = settings_or_exit()
    try:
        # Syntax first, before anything touches the database; the fields, the names
        # and the references into the workspace are checked together by the import.
        document = load_document(file.read_text(encoding="utf-8"), str(file))
    except UserError as exc:
        fail(exc.message if exc.message.startswith(f"{file}:") else f"{file}: {exc.message}")
    except UnicodeDecodeError:
        fail(f"{file}: not a UTF-8 text file")
    except OSError as exc:
        fail(f"{file}: cannot be read ({exc.strerror or exc})")
    migrate(settings)

    async def go(services: Services) -> str:
        # A new --team is created by the import's own transaction, so a failed
        # import leaves nothing behind.
        team_id = await resolve_team(services, team, create=False)
        try:
            report = await services.transfer.import_document(team_id, document, services.clock())
        except UserError as exc:
            raise UserError(f"{file}: {exc.message}") from None
        return report.summary()

    click.echo(with_services(settings, go), err=True)


@main.command("export")
@click.option(
    "--with-history",
    is_flag=True,
    help="Also each key result's check-ins and each KPI's measurements.",
)
@team_option
def export_command(with_history: bool, team: str | None) -> None:
    """Print the workspace's objectives, key results, KPIs and schedule as YAML."""
    settings = settings_or_exit()
    migrate(settings)

    async def go(services: Services) -> str:
        team_id = await resolve_team(services, team)
        return await services.transfer.export(team_id, with_history=with_history)

    click.echo(with_services(settings, go), nl=False)


@main.group()
def token() -> None:
    """API tokens for the KPI HTTP API."""


@token.command("create")
@click.argument("name")
@team_option
def token_create(name: str, team: str | None) -> None:
    """Create a token; it is printed once, alone on the last line (only its hash is kept)."""
    settings = settings_or_exit()
    migrate(settings)

    async def go(services: Services) -> tuple[str, str]:
        team_id = await resolve_team(services, team)
        return team_id, await services.tokens.create(team_id, name, services.clock())

    team_id, value = with_services(settings, go)
    click.echo(f"API token {name!r} for workspace {team_id} (shown only now; store it safely):")
    click.echo(value)


@token.command("revoke")
@click.argument("name")
@team_option
def token_revoke(name: str, team: str | None) -> None:
    """Revoke the active token called NAME: requests with it get 401 from now on."""
    settings = settings_or_exit()
    migrate(settings)

    async def go(services: Services) -> str:
        team_id = await resolve_team(services, team)
        await services.tokens.revoke(team_id, name, services.clock())
        return f"revoked token {name!r} of workspace {team_id}"

    click.echo(with_services(settings, go), err=True)


@main.group()
def secrets() -> None:
    """Slack tokens at rest (OKRBOT_SECRET_KEY)."""


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored Slack token with the first OKRBOT_SECRET_KEY key.

    Rotate a key by putting the new one first (`new,old`), running this, then dropping
    the old one. Tokens stored before a key was set get encrypted too.
    """
    from bot.core.secrets import TokenCipher
    from bot.slack.installations import reencrypt_tokens

    settings = settings_or_exit()
    if settings.okrbot_secret_key is None:
        fail("OKRBOT_SECRET_KEY is not set: there is no key to encrypt with", 2)
    cipher = TokenCipher(settings.okrbot_secret_key.get_secret_value())
    migrate(settings)

    async def go(services: Services) -> str:
        rows = await reencrypt_tokens(services.db, cipher)
        return f"re-encrypted the Slack tokens of {rows} install row(s) with the newest key"

    click.echo(with_services(settings, go), err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
