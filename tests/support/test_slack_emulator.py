"""Tests for the local Slack Web API emulator and the signed request helpers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import (
    FORM,
    JSON,
    SlackRequestSender,
    block_actions,
    event_callback,
    sign,
    slash_command,
    view_submission,
)

MISSING_TEXT = "ignore:The top-level `text` argument is missing:UserWarning"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator() as emulator:
        emulator.add_channel("C1", "general")
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=emu.base_url)


async def test_auth_test_and_invalid_token(emu: SlackEmulator, client: AsyncWebClient) -> None:
    auth = await client.auth_test()
    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == ("T1", "UBOT", "B1")
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(token="xoxb-nope", base_url=emu.base_url).auth_test()
    assert err.value.response["error"] == "invalid_auth"
    assert err.value.response.status_code == 200
    assert [c.team_id for c in emu.calls_to("auth.test")] == ["T1", None]


@pytest.mark.filterwarnings(MISSING_TEXT)
async def test_post_message_stores_and_returns_ts(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="C1", text="hello", blocks=[SECTION])
    second = await client.chat_postMessage(channel="#general", text="again", thread_ts=first["ts"])
    assert first["channel"] == "C1"
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "hello"
    stored = emu.messages("C1")
    assert [m["ts"] for m in stored] == [first["ts"], second["ts"]]
    assert stored[0]["blocks"] == [SECTION] and stored[0]["user"] == "UBOT"
    assert stored[1]["thread_ts"] == first["ts"]
    call = (await emu.wait_for("chat.postMessage", count=2))[0]
    assert call.params["channel"] == "C1" and call.team_id == "T1" and call.http_status == 200

    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C404", text="x")
    assert err.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1")
    assert err.value.response["error"] == "no_text"
    emu.assert_no_invalid_payloads()


async def test_update_delete_dm_and_unknown_method(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.add_user("U1", "ana")
    opened = await client.conversations_open(users="U1")
    assert opened["channel"]["id"] == "DU1"
    posted = await client.chat_postMessage(channel="U1", text="v1")
    assert posted["channel"] == "DU1"
    updated = await client.chat_update(channel="DU1", ts=posted["ts"], text="v2")
    assert updated["text"] == "v2"
    [message] = emu.messages("DU1")
    assert message["text"] == "v2" and message["edit_history"][0]["text"] == "v1"
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="DU1", ts="1.000000", text="x")
    assert err.value.response["error"] == "message_not_found"
    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="psst")
    assert ephemeral["message_ts"]
    await client.chat_delete(channel="DU1", ts=posted["ts"])
    assert emu.messages("DU1") == []
    with pytest.raises(SlackApiError) as err:
        await client.api_call("reactions.add", params={"name": "x"})
    assert err.value.response["error"] == "unknown_method"
    assert emu.calls_to("reactions.add")[0].response["error"] == "unknown_method"


@pytest.mark.filterwarnings(MISSING_TEXT)
async def test_invalid_blocks_are_rejected_and_recorded(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="t", blocks=[header])
    assert err.value.response["error"] == "invalid_blocks"
    assert err.value.response["errors"]
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="t", blocks=[{"type": "divider"}] * 51)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", blocks=[SECTION])  # no text fallback
    with pytest.raises(SlackApiError):
        await client.views_open(
            trigger_id="trig-1",
            view={
                "type": "modal",
                "title": {"type": "plain_text", "text": "t" * 25},
                "blocks": [SECTION],
            },
        )
    assert len(emu.invalid_payloads) >= 4
    assert any("too many blocks" in p for p in emu.invalid_payloads)
    assert any("text fallback" in p for p in emu.invalid_payloads)
    assert any("views.open" in p for p in emu.invalid_payloads)
    assert emu.messages("C1") == []
    with pytest.raises(AssertionError):
        emu.assert_no_invalid_payloads()


async def test_views_are_validated_and_stored(emu: SlackEmulator, client: AsyncWebClient) -> None:
    emu.add_user("U1", "ana")
    modal = {
        "type": "modal",
        "callback_id": "checkin",
        "title": {"type": "plain_text", "text": "Weekly check-in"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "progress",
                "label": {"type": "plain_text", "text": "Progress"},
                "element": {"type": "plain_text_input", "action_id": "value"},
            }
        ],
    }
    opened = await client.views_open(trigger_id="trig-1", view=modal)
    view_id = opened["view"]["id"]
    assert view_id.startswith("V") and emu.views[view_id]["callback_id"] == "checkin"
    updated = await client.views_update(view_id=view_id, view=modal, hash=opened["view"]["hash"])
    assert updated["view"]["id"] == view_id
    home = {"type": "home", "blocks": [SECTION]}
    first = await client.views_publish(user_id="U1", view=home)
    second = await client.views_publish(user_id="U1", view=home)
    assert first["view"]["id"] == second["view"]["id"]
    assert emu.home_view("U1") is not None
    emu.assert_no_invalid_payloads()


async def test_injected_429_without_and_with_retry_handler(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.inject("chat.postMessage", status=429, retry_after=0)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "0"
    assert emu.messages("C1") == []

    retrying = AsyncWebClient(
        token="xoxb-test",
        base_url=emu.base_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    emu.inject("chat.postMessage", status=429, retry_after=0)
    response = await retrying.chat_postMessage(channel="C1", text="hi")
    assert response["ok"]
    statuses = [c.http_status for c in emu.calls_to("chat.postMessage")]
    assert statuses == [429, 429, 200]
    assert len(emu.messages("C1")) == 1


async def test_injected_500_and_error(emu: SlackEmulator, client: AsyncWebClient) -> None:
    emu.inject("users.info", status=500)
    emu.inject("users.info", error="fatal_error", count=2)
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="UBOT")
    assert err.value.response.status_code == 500
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.users_info(user="UBOT")
        assert err.value.response.status_code == 200
        assert err.value.response["error"] == "fatal_error"
    assert (await client.users_info(user="UBOT"))["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U404")
    assert err.value.response["error"] == "user_not_found"


async def test_users_list_pagination(emu: SlackEmulator, client: AsyncWebClient) -> None:
    for i in range(5):
        emu.add_user(f"U{i}", f"user{i}", tz="America/New_York")
    emu.add_user("UX", "other", team_id="T2")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await client.users_list(limit=2, cursor=cursor)
        pages += 1
        seen += [m["id"] for m in page["members"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert seen == ["UBOT", "U0", "U1", "U2", "U3", "U4"]
    user = (await client.users_info(user="U0"))["user"]
    assert user["tz"] == "America/New_York" and user["tz_offset"] in (-18000, -14400)
    channels = await client.conversations_list(limit=1)
    assert [c["id"] for c in channels["channels"]] == ["C1"]
    emu.add_channel("G1", "secret", is_private=True)
    both = await client.conversations_list(types="public_channel,private_channel")
    assert {c["id"] for c in both["channels"]} == {"C1", "G1"}


async def test_history_returns_metadata(emu: SlackEmulator, client: AsyncWebClient) -> None:
    metadata = {"event_type": "okr_checkin", "event_payload": {"kr": 7}}
    first = await client.chat_postMessage(channel="C1", text="one", metadata=metadata)
    await client.chat_postMessage(channel="C1", text="two")
    assert first["message"]["metadata"] == metadata
    history = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["two", "one"]
    assert history["messages"][1]["metadata"] == metadata
    plain = await client.conversations_history(channel="C1")
    assert "metadata" not in plain["messages"][1]
    limited = await client.conversations_history(channel="C1", limit=1, oldest=first["ts"])
    assert [m["text"] for m in limited["messages"]] == ["two"]


async def test_files_upload_v2_round_trip(emu: SlackEmulator, client: AsyncWebClient) -> None:
    result = await client.files_upload_v2(
        channel="C1",
        content=b"kr,progress\n1,0.5\n",
        filename="report.csv",
        title="OKR report",
        initial_comment="Weekly report",
    )
    file_id = result["file"]["id"]
    assert result["file"]["title"] == "OKR report"
    assert emu.file_content(file_id) == b"kr,progress\n1,0.5\n"
    complete = emu.calls_to("files.completeUploadExternal")[0]
    assert complete.params["channel_id"] == "C1"
    assert complete.params["initial_comment"] == "Weekly report"
    info = await client.files_info(file=file_id)
    assert info["file"]["size"] == 18 and info["file"]["channels"] == ["C1"]
    [message] = emu.messages("C1")
    assert message["files"][0]["id"] == file_id and message["text"] == "Weekly report"


async def test_rate_limiter_answers_429_beyond_per_channel_rate(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    emu.add_channel("C2", "random")
    emu.set_post_rate_limit(per_channel_per_second=1.0, burst=1)
    await client.chat_postMessage(channel="C1", text="1")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="2")
    assert err.value.response.status_code == 429
    assert int(err.value.response.headers["Retry-After"]) >= 1
    await client.chat_postMessage(channel="C2", text="other channel")
    assert emu.rate_limited_count == 1
    assert len(emu.messages("C1")) == 1

    emu.set_post_rate_limit(per_channel_per_second=None, workspace_per_second=2.0)
    await client.chat_postMessage(channel="C1", text="a")
    await client.chat_postMessage(channel="C2", text="b")
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="c")
    assert emu.rate_limited_count == 2


async def test_response_url_recording(emu: SlackEmulator) -> None:
    url = emu.new_response_url(channel_id="C1")
    webhook = AsyncWebhookClient(url)
    ok = await webhook.send(text="done", blocks=[SECTION], response_type="in_channel")
    assert (ok.status_code, ok.body) == (200, "ok")
    bad = await webhook.send(blocks=[SECTION])
    assert bad.status_code == 400 and bad.body == "invalid_blocks"
    recorded = emu.responses(url)
    assert [r.http_status for r in recorded] == [200, 400]
    assert recorded[0].params["_response_id"] == url.rsplit("/", 1)[-1]
    assert recorded[0].params["response_type"] == "in_channel"
    assert emu.messages("C1")[0]["text"] == "done"
    assert len(emu.invalid_payloads) == 1


async def test_wait_for_times_out_with_useful_message(emu: SlackEmulator) -> None:
    with pytest.raises(AssertionError, match="chat.postMessage"):
        await emu.wait_for("chat.postMessage", timeout=0.05)


def test_sign_matches_slack_documented_example() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
        "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
        "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = sign("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618)
    assert headers["X-Slack-Signature"] == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )
    now_headers = sign("s3cr3t", body)
    assert SignatureVerifier("s3cr3t").is_valid_request(body, now_headers)
    assert not SignatureVerifier("other").is_valid_request(body, now_headers)


def test_payload_builders_look_like_slack() -> None:
    body, ctype = slash_command("/okr", "status", response_url="http://x/r")
    fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    assert ctype == FORM and fields["command"] == "/okr" and fields["text"] == "status"
    assert list(fields)[:3] == ["token", "team_id", "team_domain"]
    body, ctype = event_callback({"type": "app_mention", "text": "hi"})
    envelope = json.loads(body)
    assert ctype == JSON and envelope["type"] == "event_callback"
    assert envelope["event_id"].startswith("Ev") and envelope["authorizations"][0]["team_id"]
    body, _ = block_actions("approve", "42", channel_id="C1", message_ts="1.2")
    payload = json.loads(parse_qs(body)["payload"][0])
    assert payload["actions"][0]["value"] == "42" and payload["container"]["type"] == "message"
    body, _ = view_submission("checkin", {"b": {"a": {"type": "plain_text_input", "value": "x"}}})
    payload = json.loads(parse_qs(body)["payload"][0])
    assert payload["view"]["state"]["values"]["b"]["a"]["value"] == "x"


async def test_sender_posts_signed_requests() -> None:
    received: list[dict[str, Any]] = []
    verifier = SignatureVerifier("s3cr3t")

    async def events(request: web.Request) -> web.Response:
        body = await request.text()
        valid = verifier.is_valid_request(body, dict(request.headers))
        received.append({"body": body, "headers": dict(request.headers), "valid": valid})
        if not valid:
            return web.Response(status=401)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with SlackRequestSender(base, "s3cr3t") as sender:
            result = await sender.command("/okr", "status", response_url="http://x/r")
            assert result.status == 200 and result.json == {"ok": True} and result.elapsed > 0
            retried = await sender.event(
                {"type": "app_mention"}, headers={"X-Slack-Retry-Num": "1"}
            )
            assert retried.status == 200
            assert received[-1]["headers"]["X-Slack-Retry-Num"] == "1"
            assert (await sender.action("approve", "1", channel_id="C1")).status == 200
            assert (await sender.submit_view("checkin", {})).status == 200
            stale = await sender.event({"type": "app_mention"}, timestamp=int(time.time()) - 600)
            assert stale.status == 401
        unsigned = await SlackRequestSender(base, "s3cr3t").post_raw("{}", JSON)
        assert unsigned.status == 401
    finally:
        await runner.cleanup()


async def test_emulator_accepts_form_encoded_json_fields(emu: SlackEmulator) -> None:
    form = {"channel": "C1", "text": "t", "blocks": json.dumps([SECTION])}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            emu.base_url + "chat.postMessage",
            data=form,
            headers={"Authorization": "Bearer xoxb-test"},
        ) as response,
    ):
        body = await response.json()
    assert body["ok"] and emu.calls[-1].params["blocks"] == [SECTION]


async def test_bolt_app_round_trip(emu: SlackEmulator) -> None:
    bolt = AsyncApp(
        token="xoxb-test",
        signing_secret="s3cr3t",
        client=AsyncWebClient(token="xoxb-test", base_url=emu.base_url),
    )

    @bolt.command("/okr")
    async def okr(ack: Any, respond: Any, client: AsyncWebClient, command: dict[str, Any]) -> None:
        await ack()
        await client.chat_postMessage(channel=command["user_id"], text=f"got {command['text']}")
        await respond(text="done", blocks=[SECTION])

    runner = web.AppRunner(bolt.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        sender = SlackRequestSender(f"http://127.0.0.1:{runner.addresses[0][1]}", "s3cr3t")
        url = emu.new_response_url()
        result = await sender.command("/okr", "status", response_url=url)
        assert result.status == 200
        await emu.wait_until(lambda: bool(emu.responses(url)))
        assert emu.messages("U1")[0]["text"] == "got status"
        assert emu.responses(url)[0].params["text"] == "done"
        emu.assert_no_invalid_payloads()
    finally:
        await runner.cleanup()
