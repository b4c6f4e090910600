"""Hostile HTTP (issue 11): what a stranger sends to /slack/events is refused before it is
parsed, oversized bodies are 413 at once, malformed signed ones 400, replays 401, and no
answer ever quotes a secret back."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.runtime.slack_gate import MAX_SLACK_BODY
from storage.models import Objective
from tests.support.harness import SIGNING_SECRET, Bot
from tests.support.slack_requests import FORM, JSON, sign, slash_command


async def objectives(bot: Bot) -> int:
    async with bot.services.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Objective)) or 0)


async def raw_http(bot: Bot, request: bytes) -> bytes:
    """Send bytes as they are and read the whole answer (for requests aiohttp won't build)."""
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), timeout=10)
    finally:
        writer.close()


# Finding 1: no parsing before the signature ----------------------------------------------


async def test_finding_1_unsigned_huge_bodies_are_refused_unread(bot: Bot) -> None:
    form = b"payload=" + b"x" * (8 * 1024 * 1024)
    nested = b"[" * 100_000 + b"]" * 100_000
    for body, content_type in ((form, FORM), (nested, JSON), (b"payload=notjson", FORM)):
        response = await bot.sender.post_raw(body, content_type)
        assert response.status == 401, response.text
        assert response.json == {"error": "missing or malformed X-Slack-Request-Timestamp"}


async def test_finding_1_signed_bodies_over_the_cap_are_413(bot: Bot) -> None:
    body = "text=" + "x" * (MAX_SLACK_BODY + 1)
    response = await bot.sender.post_raw(body, FORM, sign(SIGNING_SECRET, body))
    assert response.status == 413

    async def chunked() -> object:  # no Content-Length: read only up to the cap
        for _ in range(3):
            yield b"x" * MAX_SLACK_BODY

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            bot.sender.url,
            data=chunked(),
            headers={**sign(SIGNING_SECRET, "irrelevant"), "Content-Type": FORM},
        ) as answer,
    ):
        assert answer.status == 413


async def test_finding_1_forged_signatures_never_reach_bolt(bot: Bot) -> None:
    payload = slash_command("/okr", 'objective add "Sneaky"', response_url="http://x/")
    good = sign(SIGNING_SECRET, payload.body)
    now = int(time.time())
    forged = [
        {**good, "X-Slack-Request-Timestamp": "soon"},  # finding 9: was a 500
        {**good, "X-Slack-Request-Timestamp": "1e3"},
        {**good, "X-Slack-Request-Timestamp": str(now + 3600)},
        {**good, "X-Slack-Request-Timestamp": "9" * 40},
        {**good, "X-Slack-Signature": good["X-Slack-Signature"].upper()},
        {**good, "X-Slack-Signature": "v0=" + "é" * 64},
        {**good, "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]},
        {"X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"]},
    ]
    for headers in forged:
        response = await bot.sender.post_raw(payload.body, payload.content_type, headers)
        assert response.status == 401, (headers, response.text)
    # The signature covers the exact bytes: one byte more is a forgery.
    response = await bot.sender.post_raw(payload.body + "&x=1", payload.content_type, good)
    assert response.status == 401
    assert await objectives(bot) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("payload=notjson", FORM, 400),  # finding 9: a malformed payload was a 500
        ("payload=" + "[" * 50_000 + "]" * 50_000, FORM, 400),  # was a RecursionError
        ("[" * 50_000 + "]" * 50_000, JSON, 400),
        ("[1, 2]", JSON, 400),
        (urlencode({"payload": "[1]"}), FORM, 400),
        # Well-formed but of no use: Bolt finds no listener for it.
        (urlencode({"payload": json.dumps({"type": "block_actions", "team": "T1"})}), FORM, 404),
    ],
    ids=["notjson", "deep-form", "deep-json", "json-list", "payload-list", "wrong-shape"],
)
async def test_finding_9_malformed_signed_bodies_are_4xx_never_5xx(
    bot: Bot, body: str, content_type: str, status: int
) -> None:
    response = await bot.sender.post_raw(body, content_type, sign(SIGNING_SECRET, body))
    assert response.status == status, response.text


async def test_finding_9_bodies_that_are_not_utf8_are_400(bot: Bot) -> None:
    body = b"text=\xff\xfe"
    headers = sign(SIGNING_SECRET, "")
    ts = headers["X-Slack-Request-Timestamp"]
    import hashlib
    import hmac

    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256)
    headers["X-Slack-Signature"] = "v0=" + digest.hexdigest()
    response = await bot.sender.post_raw(body, FORM, headers)
    assert response.status == 400


# Finding 14: replays -----------------------------------------------------------------------


async def test_finding_14_a_replayed_command_runs_once(bot: Bot) -> None:
    response_url = bot.slack.new_response_url()
    payload = slash_command("/okr", 'objective add "Only once"', response_url=response_url)
    headers = sign(SIGNING_SECRET, payload.body)
    first = await bot.sender.post_raw(payload.body, payload.content_type, headers)
    assert first.status == 200
    for _ in range(2):
        again = await bot.sender.post_raw(payload.body, payload.content_type, headers)
        assert again.status == 401 and "replay" in again.text
    await bot.slack.wait_until(lambda: bool(bot.slack.responses(response_url)))
    await bot.services.drain()
    assert await objectives(bot) == 1


# Finding 12: events okrbot does not handle -------------------------------------------------


async def test_finding_12_unsubscribed_event_types_get_200(bot: Bot) -> None:
    for event in (
        {"type": "reaction_added", "user": "U1", "reaction": "tada"},
        {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1", "text": "x"},
        {"type": "a_type_slack_invents_tomorrow"},
    ):
        response = await bot.sender.event(event)
        assert response.status == 200, (event, response.text)


# Finding 9/10: the HTTP layer itself -------------------------------------------------------


async def test_finding_9_trace_and_other_methods_are_405_with_allow(bot: Bot) -> None:
    for path, allowed in (("/api/v1/openapi.json", "GET"), ("/slack/events", "POST")):
        async with aiohttp.ClientSession() as session:
            for method in ("TRACE", "DELETE", "PUT"):
                async with session.request(method, bot.url + path) as answer:
                    assert answer.status == 405, (method, path)
                    assert allowed in answer.headers.get("Allow", ""), (method, path)


async def test_finding_10_an_oversized_authorization_header_is_not_echoed(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    token = await bot.services.tokens.create("T1", "leaky", bot.clock.now)
    request = (
        f"POST /api/v1/kpis/x/measurements HTTP/1.1\r\nHost: localhost\r\n"
        f"Authorization: Bearer {token}{'j' * 9000}\r\nContent-Length: 2\r\n\r\n{{}}"
    ).encode()
    with caplog.at_level("DEBUG"):
        answer = await raw_http(bot, request)
    assert answer.startswith(b"HTTP/1.1 400") or answer.startswith(b"HTTP/1.0 400"), answer[:80]
    assert token.encode() not in answer and b"jjjj" not in answer


async def test_socket_mode_refuses_every_http_slack_request() -> None:
    from bot.runtime.slack_gate import SlackGate

    async def never(signature: str, signed_at: object) -> bool:
        raise AssertionError("no request may get this far")

    gate = SlackGate(None, never)
    refusal = gate._check_headers(sign(SIGNING_SECRET, "x"), time.time())
    assert not isinstance(refusal, tuple) and refusal.status == 401
