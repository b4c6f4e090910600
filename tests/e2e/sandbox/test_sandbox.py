"""The sandbox without a browser: `make run`'s path from the command line, and the page's
JSON routes (what a click sends, what a bad input gets back)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.sandbox.app import RunningSandbox, start_sandbox
from tests.e2e.cli.test_cli import OKRBOT, clean_env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(port=0, database_url=f"sqlite:///{tmp_path / 's.db'}")
    try:
        yield running
    finally:
        await running.close()
    running.sandbox.standin.assert_no_invalid_payloads()


async def _post(url: str, verb: str, body: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}sandbox/api/{verb}", data=json.dumps(body)) as response,
    ):
        return response.status, await response.json()


async def _state(url: str, user: str = "U0ANA") -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}sandbox/api/state", params={"user": user}) as response,
    ):
        assert response.status == 200
        return dict(await response.json())


def test_run_without_any_slack_setting_starts_the_sandbox_and_prints_its_url(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = clean_env(f"sqlite:///{tmp_path / 'okrbot.db'}", PORT=str(port))
    process = subprocess.Popen(
        [OKRBOT, "run", "--or-sandbox"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line == f"http://127.0.0.1:{port}/"
        page = asyncio.run(_get_text(line))
        assert "okrbot sandbox" in page
        state = asyncio.run(_state(line))
        assert {p["name"] for p in state["people"]} >= {"ana", "ben", "cleo"}
        assert {c["name"] for c in state["channels"]} == {"general", "growth", "platform"}
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


async def _get_text(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


def test_run_without_slack_settings_points_to_the_sandbox(tmp_path: Path) -> None:
    result = subprocess.run(
        [OKRBOT, "run"],
        env=clean_env(f"sqlite:///{tmp_path / 'okrbot.db'}"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "okrbot sandbox" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_command_typed_in_the_page_reaches_the_bot_signed(
    sandbox: RunningSandbox,
) -> None:
    status, body = await _post(
        sandbox.url, "command", {"user": "U0BEN", "channel": "C0GENERAL", "text": "/okr help"}
    )
    assert status == 200 and body["status"] == 200
    state = await _state(sandbox.url, "U0BEN")
    replies = state["messages"]["C0GENERAL"]
    assert replies and replies[-1]["ephemeral"] is True
    assert "/okr" in replies[-1]["text"]
    # Only the person who typed it sees an ephemeral reply.
    assert (await _state(sandbox.url, "U0ANA"))["messages"]["C0GENERAL"] == []


async def test_a_dm_reaches_the_bot_as_message_im(sandbox: RunningSandbox) -> None:
    status, _ = await _post(
        sandbox.url, "message", {"user": "U0CLEO", "channel": "DU0CLEO", "text": "help"}
    )
    assert status == 200
    standin = sandbox.sandbox.standin
    await standin.wait_until(lambda: len(standin.messages("DU0CLEO")) == 2, timeout=10)
    mine, answer = standin.messages("DU0CLEO")
    assert mine["user"] == "U0CLEO" and mine["text"] == "help"
    assert answer["user"] == "UBOT" and "check-in" in answer["text"]


async def test_moving_the_clock_moves_the_bots_time(sandbox: RunningSandbox) -> None:
    before = sandbox.sandbox.services.clock()
    status, body = await _post(sandbox.url, "clock", {"user": "U0ANA", "step": "day"})
    assert status == 200
    after = sandbox.sandbox.services.clock()
    assert 86_400 <= (after - before).total_seconds() < 86_400 + 60
    status, body = await _post(sandbox.url, "clock", {"user": "U0CLEO", "step": "monday"})
    assert status == 200
    local = sandbox.sandbox.services.clock().astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 30)


@pytest.mark.parametrize(
    ("verb", "body", "status", "says"),
    [
        ("command", {"user": "U0ANA", "channel": "C0GENERAL", "text": "/foo"}, 422, "/foo"),
        ("command", {"user": "UNOBODY", "channel": "C0GENERAL", "text": "/okr"}, 422, "UNOBODY"),
        ("message", {"user": "U0ANA", "channel": "C0GENERAL", "text": "  "}, 422, "write"),
        ("clock", {"user": "U0ANA", "step": "backwards"}, 422, "hour, day"),
        ("people", {"user": "U0ANA", "name": "zed", "tz": "Mars/Base"}, 422, "Mars/Base"),
        ("people", {"user": "U0ANA", "name": "ana", "tz": "UTC"}, 422, "already"),
        ("people", {"user": "U0ANA", "name": "two words", "tz": "UTC"}, 422, "one word"),
        ("submit", {"user": "U0ANA", "view_id": "V404", "values": {}}, 422, "not open"),
        ("close", {"user": "U0ANA"}, 422, "view_id"),
        ("teleport", {"user": "U0ANA"}, 404, "teleport"),
    ],
)
async def test_bad_requests_from_the_page_get_a_clear_error(
    sandbox: RunningSandbox, verb: str, body: dict[str, Any], status: int, says: str
) -> None:
    answered, reply = await _post(sandbox.url, verb, body)
    assert answered == status
    assert says in reply["error"]
    assert sandbox.sandbox.standin.calls == []  # nothing reached the bot or Slack


async def test_a_person_added_on_the_page_is_a_workspace_member(
    sandbox: RunningSandbox,
) -> None:
    status, person = await _post(
        sandbox.url, "people", {"user": "U0ANA", "name": "dev", "tz": "Pacific/Kiritimati"}
    )
    assert status == 200
    state = await _state(sandbox.url, person["id"])
    assert any(p["name"] == "dev" and p["tz"] == "Pacific/Kiritimati" for p in state["people"])
    assert state["dm"] == f"D{person['id']}"


async def test_the_state_long_poll_answers_when_something_changes(
    sandbox: RunningSandbox,
) -> None:
    version = (await _state(sandbox.url))["version"]

    async def wait() -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{sandbox.url}sandbox/api/state", params={"user": "U0ANA", "version": version}
            ) as response,
        ):
            return time.perf_counter() - started, dict(await response.json())

    waiting = asyncio.create_task(wait())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await _post(sandbox.url, "message", {"user": "U0ANA", "channel": "C0GENERAL", "text": "hi"})
    _, state = await asyncio.wait_for(waiting, 10)
    assert state["version"] > version
    assert state["messages"]["C0GENERAL"][-1]["text"] == "hi"
