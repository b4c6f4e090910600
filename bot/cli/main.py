"""The `okrbot` command line: every command runs the same async code as the server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from bot.core.errors import UserError
from bot.core.secrets import redact
from bot.core.times import parse_instant
from bot.runtime.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.runtime.services import Services
from storage.db import DatabaseUrlError

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"okrbot: {redact(message)}", err=True)  # driver errors may quote a secret
    sys.exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc), 2)


def _run(coroutine_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run with user errors and unreachable databases turned into one-line messages."""
    try:
        return asyncio.run(coroutine_factory())
    except (UserError, DatabaseUrlError) as exc:
        _fail(exc.message if isinstance(exc, UserError) else str(exc))
    except OSError as exc:
        _fail(f"cannot reach the database or network: {exc}")


def _with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Build the services, run `work`, and close them, with errors as one-line messages."""
    from bot.runtime.services import build_services

    async def run() -> T:
        services = build_services(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return _run(run)


def _migrate(settings: Settings) -> None:
    from storage.db import upgrade

    try:
        upgrade(settings.database_url)
    except DatabaseUrlError as exc:
        _fail(str(exc), 2)
    except Exception as exc:  # alembic/driver errors: say what, not a traceback
        _fail(f"database migration failed ({type(exc).__name__}): {exc}")


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


@main.command()
def run() -> None:
    """Serve Slack (HTTP, or Socket Mode when SLACK_APP_TOKEN is set) and run the scheduler."""
    from bot.runtime.logs import configure_logging
    from bot.runtime.server import serve
    from bot.runtime.services import build_services

    settings = _settings()
    missing = settings.missing_for_serving()
    if missing:
        lines = "\n".join(f"  - {item}" for item in missing)
        _fail(
            "Slack is not configured, so there is nothing to serve yet. Set:\n"
            f"{lines}\n"
            "Create the app from app_manifest.yml at https://api.slack.com/apps "
            "(see README: 'Creating the Slack app'), then run `make run` again.",
            2,
        )
    configure_logging()
    _migrate(settings)
    _run(lambda: serve(build_services(settings)))


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version (Alembic)."""
    settings = _settings()
    _migrate(settings)
    click.echo("database is up to date", err=True)


@main.command()
@click.option("--at", "at", metavar="TIME", help="The instant to act as of (ISO 8601, UTC).")
def tick(at: str | None) -> None:
    """Do all work due as of an instant (prompts, reminders, digests) once, then exit."""
    from bot.core.clock import utc_now
    from bot.runtime.jobs import tick as run_tick

    settings = _settings()
    now = _parse_instant(at) if at is not None else utc_now()
    _migrate(settings)

    async def go(services: Services) -> str:
        return (await run_tick(services, now)).summary()

    click.echo(_with_services(settings, go), err=True)


def _team_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--team",
        "team",
        metavar="T…",
        help="Workspace (Slack team id); optional when exactly one is known.",
    )(function)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_team_option
def import_command(file: Path, team: str | None) -> None:
    """Create or update objectives, key results, KPIs and the schedule from YAML."""
    from bot.transfer.yaml_io import load_document, validate

    settings = _settings()
    try:
        document = load_document(file.read_text(encoding="utf-8"), str(file))
        validate(document)  # the whole file, before anything touches the database
    except UserError as exc:
        _fail(exc.message if exc.message.startswith(f"{file}:") else f"{file}: {exc.message}")
    except UnicodeDecodeError:
        _fail(f"{file}: not a UTF-8 text file")
    except OSError as exc:
        _fail(f"{file}: cannot be read ({exc.strerror or exc})")
    _migrate(settings)

    async def go(services: Services) -> str:
        # A new --team is created by the import's own transaction, so a failed
        # import leaves nothing behind.
        team_id = await resolve_team(services, team, create=False)
        try:
            report = await services.transfer.import_document(team_id, document, services.clock())
        except UserError as exc:
            raise UserError(f"{file}: {exc.message}") from None
        return report.summary()

    click.echo(_with_services(settings, go), err=True)


@main.command("export")
@_team_option
def export_command(team: str | None) -> None:
    """Print the workspace's objectives, key results, KPIs and schedule as YAML."""
    settings = _settings()
    _migrate(settings)

    async def go(services: Services) -> str:
        team_id = await resolve_team(services, team)
        return await services.transfer.export(team_id)

    click.echo(_with_services(settings, go), nl=False)


async def resolve_team(services: Services, team: str | None, *, create: bool = True) -> str:
    """`--team` as given (created if new, unless `create` is off), else the only workspace."""
    from storage.repositories.fleet import known_team_ids

    if team:
        if not team.strip() or len(team) > 32 or not team.isalnum():
            raise UserError(f"--team {team!r} is not a Slack team id like T0123ABCD")
        if create:
            async with services.db.team(team) as store:
                await store.workspace.ensure(services.clock())
        return team
    async with services.db.session() as session:
        teams = await known_team_ids(session)
    if len(teams) == 1:
        return teams[0]
    if not teams:
        raise UserError("no workspace is known yet: name one with --team T0123ABCD")
    raise UserError(f"several workspaces are known ({', '.join(teams)}): choose one with --team")


@main.group()
def token() -> None:
    """API tokens for the KPI HTTP API."""


@token.command("create")
@click.argument("name")
@_team_option
def token_create(name: str, team: str | None) -> None:
    """Create a token; it is printed once, alone on the last line (only its hash is kept)."""
    settings = _settings()
    _migrate(settings)

    async def go(services: Services) -> tuple[str, str]:
        team_id = await resolve_team(services, team)
        return team_id, await services.tokens.create(team_id, name, services.clock())

    team_id, value = _with_services(settings, go)
    click.echo(f"API token {name!r} for workspace {team_id} (shown only now; store it safely):")
    click.echo(value)


@token.command("revoke")
@click.argument("name")
@_team_option
def token_revoke(name: str, team: str | None) -> None:
    """Revoke the active token called NAME: requests with it get 401 from now on."""
    settings = _settings()
    _migrate(settings)

    async def go(services: Services) -> str:
        team_id = await resolve_team(services, team)
        await services.tokens.revoke(team_id, name, services.clock())
        return f"revoked token {name!r} of workspace {team_id}"

    click.echo(_with_services(settings, go), err=True)


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

    settings = _settings()
    if settings.okrbot_secret_key is None:
        _fail("OKRBOT_SECRET_KEY is not set: there is no key to encrypt with", 2)
    cipher = TokenCipher(settings.okrbot_secret_key.get_secret_value())
    _migrate(settings)

    async def go(services: Services) -> str:
        rows = await reencrypt_tokens(services.db, cipher)
        return f"re-encrypted the Slack tokens of {rows} install row(s) with the newest key"

    click.echo(_with_services(settings, go), err=True)


from bot.cli.kpi import kpi  # noqa: E402

main.add_command(kpi)


@kpi.command("import")
@click.argument(
    "file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.argument("key")
@_team_option
def kpi_import(file: Path, key: str, team: str | None) -> None:
    """Load a KPI's history from FILE.csv (timestamp,value); same upsert rules as the API."""
    from bot.kpis.detection.history import parse_history_csv
    from bot.kpis.ingest import MAX_BATCH
    from storage.repositories.kpis import Point

    settings = _settings()
    try:
        rows = parse_history_csv(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
    except ValueError as exc:
        _fail(f"{file}: {exc}")
    _migrate(settings)

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

    click.echo(_with_services(settings, go), err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
