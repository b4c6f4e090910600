"""What the okrbot commands share: settings, services, migrations, errors as one line.

Settings, storage and the services load inside the functions that need them, so that
`okrbot kpi backtest FILE`, run once per file by batch scorers, starts in tens of ms.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from bot.core.errors import UserError

if TYPE_CHECKING:
    from bot.runtime.config import Settings
    from bot.runtime.services import Services

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    from bot.core.secrets import redact

    click.echo(f"okrbot: {redact(message)}", err=True)  # driver errors may quote a secret
    sys.exit(code)


def settings_or_exit() -> Settings:
    from bot.runtime.config import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)


def run_async(coroutine_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run with user errors and unreachable databases turned into one-line messages."""
    import asyncio

    from storage.db import DatabaseUrlError

    try:
        return asyncio.run(coroutine_factory())
    except (UserError, DatabaseUrlError) as exc:
        fail(exc.message if isinstance(exc, UserError) else str(exc))
    except OSError as exc:
        fail(f"cannot reach the database or network: {exc}")


def with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Build the services, run `work`, and close them, with errors as one-line messages."""
    from bot.runtime.services import build_services

    async def run() -> T:
        services = build_services(settings)
        try:
            return await work(services)
        finally:
            await services.close()

    return run_async(run)


def migrate(settings: Settings) -> None:
    from storage.db import DatabaseUrlError, upgrade

    try:
        upgrade(settings.database_url)
    except DatabaseUrlError as exc:
        fail(str(exc), 2)
    except Exception as exc:  # alembic/driver errors: say what, not a traceback
        fail(f"database migration failed ({type(exc).__name__}): {exc}")


def team_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--team",
        "team",
        metavar="T…",
        help="Workspace (Slack team id); optional when exactly one is known.",
    )(function)


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
