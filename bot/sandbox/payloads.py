"""Build and send requests exactly as Slack sends them to a bot's ``POST /slack/events``.

Used by the sandbox page (a click there becomes the signed payload Slack would send)
and by the test suite (tests/support/slack_requests.py re-exports it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlencode

import aiohttp

__all__ = [
    "FORM",
    "JSON",
    "BotResponse",
    "SlackPayload",
    "SlackRequestSender",
    "block_actions",
    "event_callback",
    "shortcut",
    "sign",
    "slash_command",
    "url_verification",
    "view_submission",
]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
APP_ID = "A1"
BOT_USER_ID = "UBOT"
VERIFICATION_TOKEN = "verification-token"


class SlackPayload(NamedTuple):
    """A request body and its content type (unpacks as ``body, content_type``)."""

    body: str
    content_type: str


def sign(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack signature headers for ``body`` (``v0=`` + HMAC-SHA256 of ``v0:{ts}:{body}``)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def _team(team_id: str) -> dict[str, str]:
    return {"id": team_id, "domain": team_id.lower()}


def _user(user_id: str, team_id: str, user_name: str) -> dict[str, str]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _form_payload(payload: dict[str, Any]) -> SlackPayload:
    return SlackPayload(urlencode({"payload": json.dumps(payload)}), FORM)


def new_trigger_id() -> str:
    """A trigger id of Slack's shape: every invocation gets its own, so two identical
    commands in one second are two requests, not a replay."""
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:32]}"


def slash_command(
    command: str,
    text: str,
    *,
    team_id: str = "T1",
    user_id: str = "U1",
    user_name: str = "ana",
    channel_id: str = "C1",
    channel_name: str = "general",
    response_url: str,
    trigger_id: str | None = None,
) -> SlackPayload:
    """Form-encoded slash command body, fields in Slack's order."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_id.lower(),
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return SlackPayload(urlencode(fields), FORM)


def event_callback(
    event: dict[str, Any],
    *,
    team_id: str = "T1",
    event_id: str | None = None,
    event_time: int | None = None,
) -> SlackPayload:
    """JSON Events API envelope around ``event``."""
    payload = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return SlackPayload(json.dumps(payload), JSON)


def url_verification(challenge: str) -> SlackPayload:
    """JSON ``url_verification`` handshake body."""
    payload = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    return SlackPayload(json.dumps(payload), JSON)


def _action(action_id: str, value: Any, block_id: str, action_type: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type in ("static_select", "overflow", "radio_buttons"):
        option = dict(value) if isinstance(value, dict) else {"value": value}
        option.setdefault("text", {"type": "plain_text", "text": str(option["value"])})
        action["selected_option"] = option
    elif action_type == "users_select":
        action["selected_user"] = value
    elif action_type == "conversations_select":
        action["selected_conversation"] = value
    elif action_type == "channels_select":
        action["selected_channel"] = value
    elif action_type == "datepicker":
        action["selected_date"] = value
    elif action_type == "checkboxes":
        action["selected_options"] = value
    else:
        action["value"] = value
        action["text"] = {"type": "plain_text", "text": str(value), "emoji": True}
    return action


def block_actions(
    action_id: str,
    value: Any,
    *,
    team_id: str = "T1",
    user_id: str = "U1",
    user_name: str = "ana",
    channel_id: str | None = None,
    message_ts: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    response_url: str | None = None,
    block_id: str = "b",
    action_type: str = "button",
    state_values: dict[str, Any] | None = None,
    is_ephemeral: bool = False,
) -> SlackPayload:
    """Form-encoded ``payload=<json>`` for a ``block_actions`` interaction.

    ``action_type`` selects how ``value`` is carried (``button`` -> ``value``,
    ``static_select`` -> ``selected_option``, ``users_select`` -> ``selected_user``, ...).
    """
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id, user_name),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": _team(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": state_values or {}},
        "actions": [_action(action_id, value, block_id, action_type)],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
        payload["view"] = view
    elif message_ts is not None or message is not None:
        ts = message_ts or (message or {}).get("ts", "")
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
        payload["message"] = message or {
            "type": "message",
            "ts": ts,
            "text": "",
            "user": BOT_USER_ID,
            "bot_id": "B1",
        }
    if channel_id is not None:
        payload["channel"] = {"id": channel_id, "name": channel_id.lower()}
    if response_url is not None:
        payload["response_url"] = response_url
    return _form_payload(payload)


def view_submission(
    callback_id: str,
    state_values: dict[str, Any],
    *,
    team_id: str = "T1",
    user_id: str = "U1",
    user_name: str = "ana",
    private_metadata: str = "",
    view_id: str = "V1",
    hash: str = "h",
    blocks: list[dict[str, Any]] | None = None,
    title: str = "Modal",
    trigger_id: str | None = None,
    response_urls: list[dict[str, Any]] | None = None,
) -> SlackPayload:
    """Form-encoded ``payload=<json>`` for a ``view_submission``."""
    view = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks or [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": state_values},
        "hash": hash,
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": APP_ID,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "B1",
    }
    payload = {
        "type": "view_submission",
        "team": _team(team_id),
        "user": _user(user_id, team_id, user_name),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": view,
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _form_payload(payload)


def shortcut(
    callback_id: str,
    *,
    team_id: str = "T1",
    user_id: str = "U1",
    user_name: str = "ana",
    trigger_id: str | None = None,
    message: dict[str, Any] | None = None,
    channel_id: str | None = None,
) -> SlackPayload:
    """A global ``shortcut``, or a ``message_action`` when ``message`` is given."""
    payload: dict[str, Any] = {
        "type": "shortcut" if message is None else "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": f"{time.time():.6f}",
        "team": _team(team_id),
        "user": _user(user_id, team_id, user_name),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    if message is not None:
        payload["message"] = message
        payload["message_ts"] = message.get("ts")
        payload["channel"] = {"id": channel_id, "name": (channel_id or "").lower()}
        payload["response_url"] = ""
    return _form_payload(payload)


@dataclass
class BotResponse:
    """What the bot answered."""

    status: int
    text: str
    json: Any | None
    elapsed: float
    headers: dict[str, str] = field(default_factory=dict)


class SlackRequestSender:
    """POSTs signed Slack requests to ``<bot_base_url><path>``.

    Use ``async with`` to share one HTTP session (faster for benchmarks); otherwise each
    request opens and closes its own session.
    """

    def __init__(
        self, bot_base_url: str, signing_secret: str, *, path: str = "/slack/events"
    ) -> None:
        self.url = bot_base_url.rstrip("/") + path
        self.signing_secret = signing_secret
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SlackRequestSender:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared session, if any."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post_raw(
        self, body: str | bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> BotResponse:
        """POST ``body`` as-is (no signature added): for unsigned/stale/forged requests."""
        all_headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        all_headers.update(headers or {})
        data = body.encode() if isinstance(body, str) else body
        if self._session is not None:
            return await self._post(self._session, data, all_headers)
        async with aiohttp.ClientSession() as session:
            return await self._post(session, data, all_headers)

    async def _post(
        self, session: aiohttp.ClientSession, data: bytes, headers: dict[str, str]
    ) -> BotResponse:
        started = time.perf_counter()
        async with session.post(self.url, data=data, headers=headers) as response:
            text = await response.text()
            elapsed = time.perf_counter() - started
            parsed: Any | None = None
            if text:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
            return BotResponse(response.status, text, parsed, elapsed, dict(response.headers))

    async def send(
        self,
        payload: SlackPayload,
        *,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> BotResponse:
        """Sign ``payload`` (at ``timestamp``, default now) and POST it with extra ``headers``."""
        all_headers = sign(self.signing_secret, payload.body, timestamp)
        all_headers.update(headers or {})
        return await self.post_raw(payload.body, payload.content_type, all_headers)

    async def command(
        self,
        command: str,
        text: str = "",
        *,
        response_url: str,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        **fields: Any,
    ) -> BotResponse:
        """Send a slash command (``fields`` go to :func:`slash_command`)."""
        payload = slash_command(command, text, response_url=response_url, **fields)
        return await self.send(payload, timestamp=timestamp, headers=headers)

    async def event(
        self,
        event: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        **fields: Any,
    ) -> BotResponse:
        """Send an Events API callback (``fields`` go to :func:`event_callback`)."""
        payload = event_callback(event, **fields)
        return await self.send(payload, timestamp=timestamp, headers=headers)

    async def action(
        self,
        action_id: str,
        value: Any,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        **fields: Any,
    ) -> BotResponse:
        """Send a ``block_actions`` interaction (``fields`` go to :func:`block_actions`)."""
        payload = block_actions(action_id, value, **fields)
        return await self.send(payload, timestamp=timestamp, headers=headers)

    async def submit_view(
        self,
        callback_id: str,
        state_values: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        **fields: Any,
    ) -> BotResponse:
        """Send a ``view_submission`` (``fields`` go to :func:`view_submission`)."""
        payload = view_submission(callback_id, state_values, **fields)
        return await self.send(payload, timestamp=timestamp, headers=headers)

    async def url_verification(self, challenge: str) -> BotResponse:
        """Send the Events API ``url_verification`` handshake."""
        return await self.send(url_verification(challenge))
