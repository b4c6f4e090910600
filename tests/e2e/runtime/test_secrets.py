"""Issue 11, finding 10: secrets at rest and in text — private SQLite files, Slack tokens
encrypted with OKRBOT_SECRET_KEY (and rotated), and no credential in a log line or an
error message."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import text

from bot.core.secrets import redact
from bot.runtime.config import ConfigError, load_settings
from bot.runtime.logs import JsonFormatter
from bot.runtime.services import Services, build_services
from bot.slack.installations import reencrypt_tokens
from bot.workspaces.lifecycle import Workspaces
from storage.db import Database, upgrade
from storage.models import Workspace
from tests.support.harness import FakeClock, oauth_settings, wipe
from tests.support.slack_emulator import SlackEmulator

OKRBOT = str(Path(sys.executable).with_name("okrbot"))
BOT_TOKEN = "xoxb-1111-2222-SECRETbotTOKEN"
USER_TOKEN = "xoxp-3333-4444-SECRETuserTOKEN"


def oauth_services(database_url: str, slack: SlackEmulator, keys: str | None) -> Services:
    settings = oauth_settings(database_url, slack, okrbot_secret_key=keys)
    return build_services(settings, clock=FakeClock())


def installation(team_id: str = "T9") -> Installation:
    return Installation(
        app_id="A1",
        team_id=team_id,
        bot_id="B1",
        bot_user_id="UBOT",
        bot_token=BOT_TOKEN,
        bot_scopes="chat:write",
        user_id="U1",
        user_token=USER_TOKEN,
        installed_at=datetime(2026, 11, 25, 10, 0, tzinfo=UTC).timestamp(),
    )


async def stored_tokens(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.execute(
            text(
                "SELECT bot_token FROM slack_bots UNION ALL SELECT bot_token FROM "
                "slack_installations UNION ALL SELECT user_token FROM slack_installations"
            )
        )
        return [row[0] for row in rows]


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    upgrade(url)
    for path in tmp_path.iterdir():  # the database and its -wal/-shm files
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    loose = tmp_path / "old.db"
    loose.touch(mode=0o644)
    os.chmod(loose, 0o644)
    upgrade(f"sqlite:///{loose}")
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600  # an existing file is tightened


async def test_slack_tokens_are_encrypted_at_rest(database_url: str, slack: SlackEmulator) -> None:
    key = Fernet.generate_key().decode()
    services = oauth_services(database_url, slack, key)
    await wipe(services.db)
    try:
        store = services.clients.installation_store
        assert store is not None
        await store.async_save(installation())
        for value in await stored_tokens(services.db):
            assert value.startswith("fernet:") and "SECRET" not in value
        bot = await store.async_find_bot(enterprise_id=None, team_id="T9")
        assert bot is not None and bot.bot_token == BOT_TOKEN
        found = await store.async_find_installation(enterprise_id=None, team_id="T9")
        assert found is not None and (found.bot_token, found.user_token) == (BOT_TOKEN, USER_TOKEN)
        client = await services.clients.for_team("T9")
        assert client.token == BOT_TOKEN
    finally:
        await services.close()


async def test_finding_7_an_oauth_install_marks_the_workspace_installed(
    database_url: str, slack: SlackEmulator
) -> None:
    services = oauth_services(database_url, slack, None)
    await wipe(services.db)
    try:
        store = services.clients.installation_store
        assert store is not None
        await store.async_save(installation("T9"))
        await services.workspaces.uninstall("T9", services.clock())
        assert await store.async_find_bot(enterprise_id=None, team_id="T9") is None
        await store.async_save(installation("T9"))  # the reinstall's OAuth callback
        async with services.db.session() as session:
            workspace = await session.get(Workspace, "T9")
        assert workspace is not None and workspace.installed and workspace.uninstalled_at is None
        assert [v for v in await stored_tokens(services.db)] == [BOT_TOKEN, BOT_TOKEN, USER_TOKEN]
    finally:
        await services.close()


async def test_a_secret_key_is_rotated_without_losing_tokens(
    database_url: str, slack: SlackEmulator
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = oauth_services(database_url, slack, None)  # tokens stored before any key
    await wipe(first.db)
    assert first.clients.installation_store is not None
    await first.clients.installation_store.async_save(installation())
    await first.close()

    for keys in (old, f"{new},{old}", new):
        services = oauth_services(database_url, slack, keys)
        try:
            assert services.settings.okrbot_secret_key is not None
            from bot.core.secrets import TokenCipher

            cipher = TokenCipher(services.settings.okrbot_secret_key.get_secret_value())
            assert await reencrypt_tokens(services.db, cipher) == 2  # one bot, one install
            assert (await services.clients.for_team("T9")).token == BOT_TOKEN
        finally:
            await services.close()
    assert all(v.startswith("fernet:") for v in await stored_tokens(Database(database_url)))


def test_a_bad_secret_key_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(okrbot_secret_key="hunter2-is-not-a-key")
    assert "OKRBOT_SECRET_KEY" in str(raised.value) and "Fernet" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_log_lines_redact_secrets_in_messages_fields_and_tracebacks() -> None:
    token = "okr_" + "A" * 40
    try:
        raise ValueError(f"Got more than 8190 bytes when reading: b'Bearer {token}jjj'")
    except ValueError:
        record = logging.LogRecord("aiohttp.server", 40, __file__, 1, "x", (), sys.exc_info())
    record.msg = f"connecting to postgresql://bob:hunter2@db/okrbot with {BOT_TOKEN}"
    record.__dict__["detail"] = f"header Authorization: Bearer {token}"
    line = JsonFormatter().format(record)
    for secret in (token, "hunter2", BOT_TOKEN):
        assert secret not in line, line
    entry = json.loads(line)
    assert entry["event"] == "connecting to postgresql://bob:[redacted]@db/okrbot with [redacted]"


def test_redact_keeps_ordinary_text() -> None:
    ordinary = "KR-4 42 at risk: sqlite:///okrbot.db https://example.com/a?b=c bearer of news"
    assert redact(ordinary) == ordinary


async def test_an_unparseable_database_url_is_shown_without_its_password(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_"))}
    env["DATABASE_URL"] = "postgresql://bob:hunter2@db:notaport/okrbot"
    process = await asyncio.create_subprocess_exec(
        OKRBOT, "db", "upgrade", env=env, stderr=asyncio.subprocess.PIPE, cwd=tmp_path
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode != 0
    message = stderr.decode()
    assert "not a valid database URL" in message and "postgresql://bob:" in message
    assert "hunter2" not in message and "Traceback" not in message


def test_workspaces_grace_comes_from_the_environment() -> None:
    settings = load_settings(okrbot_uninstall_grace_days="7")
    assert settings.uninstall_grace.days == 7
    assert isinstance(Workspaces(Database("sqlite://"), None, settings.uninstall_grace), Workspaces)
