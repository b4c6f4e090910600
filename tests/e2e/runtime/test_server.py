"""The running server: health and metrics, App Home, uninstall, OAuth install, and a real
`okrbot run` process that serves signed requests and shuts down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.runtime.services import build_services
from storage.models import Workspace
from tests.support.harness import SIGNING_SECRET, Bot, FakeClock, oauth_settings, start_bot, wipe
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SlackRequestSender

OKRBOT = str(Path(sys.executable).with_name("okrbot"))


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers.get("Location", "")


async def test_healthz_and_metrics(bot: Bot) -> None:
    status, body, _ = await get(f"{bot.url}/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    await bot.command("help")
    await bot.command("nonsense")
    status, body, _ = await get(f"{bot.url}/metrics")
    assert status == 200
    assert 'okrbot_commands_total{command="/okr",outcome="user_error"} 1.0' in body
    assert 'okrbot_slack_requests_total{status="200"}' in body
    assert 'okrbot_outbox_backlog{kind="prompt"} 0.0' in body
    assert "okrbot_outbox_oldest_due_seconds 0.0" in body


async def test_app_home_shows_the_viewers_okrs(bot: Bot) -> None:
    await bot.command('objective add "Ship the API"', user="U1")
    await bot.command('kr add O-1 "Endpoints live" from 0 to 12', user="U1")
    response = await bot.sender.event({"type": "app_home_opened", "user": "U1", "tab": "home"})
    assert response.status == 200
    [call] = await bot.slack.wait_for("views.publish")
    assert call.params["user_id"] == "U1"
    assert "Endpoints live" in json.dumps(call.params["view"]["blocks"])


async def test_uninstall_stops_scheduled_work(bot: Bot) -> None:
    await bot.command('objective add "Ship the API"')
    response = await bot.sender.event({"type": "app_uninstalled"})
    assert response.status == 200
    async with bot.services.db.session() as session:
        for _ in range(50):
            workspace = await session.get(Workspace, "T1", populate_existing=True)
            if workspace is not None and not workspace.installed:
                break
            await asyncio.sleep(0.05)
    assert workspace is not None and workspace.installed is False


async def test_oauth_install_redirects_to_slack(
    database_url: str, slack: SlackEmulator, clock: FakeClock
) -> None:
    services = build_services(oauth_settings(database_url, slack), clock=clock)
    await wipe(services.db)
    bot, runner = await start_bot(services, slack, clock)
    try:
        status, body, location = await get(f"{bot.url}/slack/install")
        assert status in (200, 302)
        assert "slack.com/oauth/v2/authorize" in (location or body)
        assert "client_id=111.222" in (location or body)
        assert "chat%3Awrite" in (location or body) or "chat:write" in (location or body)
    finally:
        await runner.cleanup()
        await services.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_okrbot_run_serves_and_stops_on_sigterm(tmp_path: Path, slack: SlackEmulator) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
        PORT=str(port),
        HOST="127.0.0.1",
    )
    process = await asyncio.create_subprocess_exec(
        OKRBOT, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if (await get(f"{url}/healthz"))[0] == 200:
                    break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        sender = SlackRequestSender(url, SIGNING_SECRET)
        response_url = slack.new_response_url()
        result = await sender.command(
            "/okr", 'objective add "From a real process"', response_url=response_url
        )
        assert result.status == 200
        await slack.wait_until(lambda: bool(slack.responses(response_url)))
        assert "O-1" in slack.responses(response_url)[-1].params["text"]
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert "shutting down" in stderr.decode()
    assert "Traceback" not in stderr.decode()


async def test_run_without_database_access_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="s",
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
    )
    process = await asyncio.create_subprocess_exec(
        OKRBOT, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode != 0
    assert "Traceback" not in stderr.decode()
    assert "database" in stderr.decode().lower()


async def test_a_failing_button_is_logged_and_the_person_gets_an_apology(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    # The snooze listener fails after acknowledging (a bug, or a database that went away).
    async def broken_snooze(*args: object) -> None:
        raise RuntimeError("the snooze broke")

    bot.services.alerts.snooze = broken_snooze  # type: ignore[method-assign]
    caplog.set_level(logging.ERROR, logger="handlers.listening")
    response = await bot.sender.action("alert_snooze:3600", "1:3600", channel_id="C2", user_id="U2")
    assert response.status == 200
    await bot.slack.wait_until(lambda: bool(bot.slack.ephemeral_messages))
    [apology] = bot.slack.ephemeral_messages
    assert apology["user"] == "U2" and apology["channel"] == "C2"
    assert "something went wrong on our side" in apology["text"]
    [failure] = [r for r in caplog.records if r.getMessage() == "listener failed"]
    assert (failure.team_id, failure.user_id, failure.action) == ("T1", "U2", "alert_snooze:3600")  # type: ignore[attr-defined]
    assert failure.exc_info is not None
