"""The Slack Web API emulator for tests and benchmarks.

Its Web API core is the product's stand-in (bot/sandbox/slack_standin.py), which the
sandbox runs too. This module adds what only tests need: Socket Mode, the way Slack does
it — `apps.connections.open` with an app-level token hands out a WebSocket URL on the same
server, which says `hello`, sends envelopes and checks each is acknowledged in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from bot.sandbox.payloads import JSON, SlackPayload
from bot.sandbox.slack_standin import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    MAX_MESSAGE_BLOCKS,
    MAX_VIEW_BLOCKS,
    Params,
    RecordedCall,
    SlackStandIn,
    validate_blocks,
    validate_message,
    validate_view,
)

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_NAME",
    "BOT_USER_ID",
    "MAX_MESSAGE_BLOCKS",
    "MAX_VIEW_BLOCKS",
    "RecordedCall",
    "SlackEmulator",
    "SocketAck",
    "validate_blocks",
    "validate_message",
    "validate_view",
]

ACK_DEADLINE = 3.0  # Slack's: an envelope not acknowledged by then is a failure


@dataclass
class SocketAck:
    """The bot's answer to one envelope: its payload (a modal's errors, say) and delay."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float


class SlackEmulator(SlackStandIn):
    """The stand-in plus Socket Mode (app tokens ``xapp-…`` map to teams)."""

    def __init__(
        self,
        bot_tokens: dict[str, str] | None = None,
        *,
        app_tokens: dict[str, str] | None = None,
        ts_start: float | None = None,
    ) -> None:
        super().__init__(bot_tokens, ts_start=ts_start)
        self.app_tokens: dict[str, str] = dict(app_tokens or {"xapp-test": "T1"})
        self._handlers["apps.connections.open"] = self._apps_connections_open
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._issued: dict[str, str] = {}  # connection id → team
        self._acks: dict[str, asyncio.Future[SocketAck]] = {}
        self._sent_at: dict[str, float] = {}
        self.socket_connections = 0  # WebSockets accepted so far
        self.late_acks: list[str] = []

    # ----------------------------------------------------------------- plumbing

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/socket/{connection_id}", self._handle_socket)

    def _team_for_token(self, method: str, token: str) -> str | None:
        if method == "apps.connections.open":
            return self.app_tokens.get(token)  # only an app-level token may open a socket
        return super()._team_for_token(method, token)

    def _apps_connections_open(self, team_id: str, params: Params) -> Params:
        connection_id = uuid.uuid4().hex
        self._issued[connection_id] = team_id
        ws_origin = self.origin.replace("http://", "ws://")
        return {"url": f"{ws_origin}/socket/{connection_id}?ticket={connection_id[:8]}"}

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        connection_id = request.match_info["connection_id"]
        if self._issued.pop(connection_id, None) is None:
            raise web.HTTPUnauthorized(text="unknown or reused connection id")
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets[connection_id] = socket
        self.socket_connections += 1
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "emulator", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        self.touch()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self._receive(str(message.data))
        finally:
            self._sockets.pop(connection_id, None)
            self.touch()
        return socket

    def _receive(self, raw: str) -> None:
        with contextlib.suppress(ValueError):
            data = json.loads(raw)
            envelope_id = str(data.get("envelope_id") or "")
            future = self._acks.pop(envelope_id, None)
            if future is None or future.done():
                return
            seconds = time.monotonic() - self._sent_at.pop(envelope_id)
            if seconds > ACK_DEADLINE:
                self.late_acks.append(envelope_id)
            future.set_result(SocketAck(envelope_id, data.get("payload"), seconds))

    # ----------------------------------------------------------------- what tests call

    @property
    def connected(self) -> int:
        """Open WebSockets right now."""
        return len(self._sockets)

    async def wait_connected(self, count: int = 1, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Until ``count`` sockets were accepted in all and one is open now."""
        await self.wait_until(
            lambda: self.socket_connections >= count and self.connected >= 1,
            timeout=timeout,
            describe=lambda: (
                f"expected socket connection #{count}, have {self.socket_connections} "
                f"({self.connected} open)"
            ),
        )

    async def send_envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
        timeout: float = ACK_DEADLINE,  # noqa: ASYNC109
    ) -> SocketAck:
        """Send one envelope (``slash_commands``, ``interactive``, ``events_api``) on the
        open socket and wait for its ack; fails when none comes within Slack's 3 seconds."""
        if not self._sockets:
            raise AssertionError("no Socket Mode connection is open")
        socket = next(reversed(self._sockets.values()))
        envelope_id = str(uuid.uuid4())
        future: asyncio.Future[SocketAck] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        self._sent_at[envelope_id] = time.monotonic()
        await socket.send_json(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._acks.pop(envelope_id, None)
            raise AssertionError(f"{kind} envelope not acknowledged within {timeout}s") from None

    async def send_request(self, request: SlackPayload) -> SocketAck:
        """What would have been POSTed to /slack/events, as Socket Mode delivers it."""
        if request.content_type == JSON:
            return await self.send_envelope("events_api", json.loads(request.body))
        fields = dict(parse_qsl(request.body, keep_blank_values=True))
        if "payload" in fields:
            payload = json.loads(fields["payload"])
            kind = payload.get("type")
            return await self.send_envelope(
                "interactive", payload, accepts_response_payload=kind == "view_submission"
            )
        return await self.send_envelope("slash_commands", fields, accepts_response_payload=True)

    async def drop_sockets(self, *, warn: bool = True) -> None:
        """Close every socket the way Slack refreshes them (a ``disconnect`` message first)."""
        for socket in list(self._sockets.values()):
            if warn:
                with contextlib.suppress(ConnectionError):
                    await socket.send_json(
                        {"type": "disconnect", "reason": "refresh_requested", "debug_info": {}}
                    )
            await socket.close(code=1001, message=b"going away")

    async def stop(self) -> None:
        await self.drop_sockets(warn=False)
        await super().stop()
