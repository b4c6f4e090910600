"""`okrbot run` in Socket Mode, for real: the console script with SLACK_APP_TOKEN opens a
WebSocket to the emulator, answers envelopes within Slack's 3 seconds and comes back
after the socket drops."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import upgrade
from tests.e2e.cli.test_cli import OKRBOT, clean_env
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import (
    block_actions,
    event_callback,
    slash_command,
    view_submission,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def socket_bot(
    tmp_path: Path, slack: SlackEmulator
) -> AsyncIterator[asyncio.subprocess.Process]:
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    await asyncio.to_thread(upgrade, url)
    env = clean_env(
        url,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_APP_TOKEN="xapp-test",
        SLACK_API_URL=slack.base_url,
        PORT=str(_free_port()),
        HOST="127.0.0.1",
    )
    process = await asyncio.create_subprocess_exec(
        OKRBOT,
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await slack.wait_connected(1, timeout=60)
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()[-2000:]
        assert b"Traceback" not in err, err.decode()[-2000:]


async def test_socket_mode_serves_commands_actions_views_and_events(
    socket_bot: asyncio.subprocess.Process, slack: SlackEmulator
) -> None:
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.ok and opened.team_id == "T1"

    # A slash command: acked at once, the reply through response_url.
    response_url = slack.new_response_url(team_id="T1", channel_id="C1")
    ack = await slack.send_request(
        slash_command("/okr", 'objective add "Ship over sockets"', response_url=response_url)
    )
    assert ack.seconds < 3
    await slack.wait_until(lambda: bool(slack.responses(response_url)), timeout=10)
    assert "Created *O-1*" in slack.responses(response_url)[-1].params["text"]

    # An invalid command: the error comes back in the ack itself.
    ack = await slack.send_request(slash_command("/okr", "frobnicate", response_url=response_url))
    assert ack.payload is not None and "frobnicate" in json.dumps(ack.payload)

    # An event: the Home tab is published.
    ack = await slack.send_request(
        event_callback({"type": "app_home_opened", "user": "U1", "tab": "home"})
    )
    await slack.wait_for("views.publish")
    home = slack.home_view("U1")
    assert home is not None and "Ship over sockets" in json.dumps(home["blocks"])

    # A button (block_actions) on the Home tab: opens the admin settings for an admin.
    await slack.send_request(
        event_callback({"type": "app_home_opened", "user": "UADMIN", "tab": "home"})
    )
    await slack.wait_for("views.publish", 2)
    ack = await slack.send_request(
        block_actions("home_settings", "settings", user_id="UADMIN", view=slack.home_view("UADMIN"))
    )
    [modal] = await slack.wait_for("views.open")
    assert modal.params["view"]["callback_id"] == "home_settings_submit"

    # A view submission: field errors travel back in the ack's payload.
    option = {"text": {"type": "plain_text", "text": "Friday"}, "value": "4"}
    state = {
        "weekday": {"weekday": {"type": "static_select", "selected_option": option}},
        "time": {"time": {"type": "plain_text_input", "value": "9 o'clock"}},
        "reminder": {"hours": {"type": "number_input", "value": "24"}},
        "digest": {"hours": {"type": "number_input", "value": "0"}},
        "escalation": {"hours": {"type": "number_input", "value": "24"}},
    }
    ack = await slack.send_request(view_submission("home_settings_submit", state, user_id="UADMIN"))
    assert ack.payload == {
        "response_action": "errors",
        "errors": {"time": "9 o'clock is not a time like 09:00 (24-hour)."},
    }
    assert slack.late_acks == []


async def test_socket_mode_reconnects_when_the_socket_drops(
    socket_bot: asyncio.subprocess.Process, slack: SlackEmulator
) -> None:
    await slack.drop_sockets()
    await slack.wait_connected(2, timeout=60)
    assert len(slack.calls_to("apps.connections.open")) >= 2  # a fresh URL, as Slack wants
    response_url = slack.new_response_url(team_id="T1", channel_id="C1")
    ack = await slack.send_request(slash_command("/okr", "help", response_url=response_url))
    assert ack.seconds < 3
    # And once more without the warning, as when a network path dies.
    await slack.drop_sockets(warn=False)
    await slack.wait_connected(3, timeout=60)
    ack = await slack.send_request(
        slash_command("/okr", 'objective add "Still here"', response_url=response_url)
    )
    await slack.wait_until(
        lambda: any(
            "Still here" in str(c.params.get("text")) for c in slack.responses(response_url)
        ),
        timeout=10,
    )
