"""A local stand-in for Slack's Web API, served over real HTTP (aiohttp).

The sandbox (`okrbot sandbox`) runs the real bot against it, and the test suite's
emulator (tests/support/slack_emulator.py) extends it. Point ``slack_sdk``'s
``AsyncWebClient(base_url=standin.base_url)`` at it: every call is recorded, Block Kit
payloads are validated the way Slack would reject them (with ``slack_sdk.models``), and
faults or rate limits can be injected.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import math
import mimetypes
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_NAME",
    "BOT_USER_ID",
    "MAX_MESSAGE_BLOCKS",
    "MAX_VIEW_BLOCKS",
    "RecordedCall",
    "SlackStandIn",
    "validate_blocks",
    "validate_message",
    "validate_view",
]

BOT_USER_ID = "UBOT"
BOT_ID = "B1"
BOT_NAME = "okrbot"
APP_ID = "A1"
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_LENGTH = 40_000
VIEW_TITLE_MAX = 24

# Form fields that carry JSON documents and are decoded before handling.
JSON_FIELDS = frozenset(
    {
        "blocks",
        "view",
        "metadata",
        "attachments",
        "files",
        "user_auth_blocks",
        "unfurls",
        "outputs",
        "chunks",
    }
)

Params = dict[str, Any]
Handler = Callable[[str, Params], Params]


@dataclass
class RecordedCall:
    """One request received by the emulator (API method, upload or response_url)."""

    method: str
    params: dict[str, Any]
    team_id: str | None
    at: float
    http_status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when the call answered HTTP 200 with ``ok: true``."""
        return self.http_status == 200 and bool(self.response.get("ok"))


@dataclass
class _Fault:
    status: int
    retry_after: int
    error: str | None
    remaining: int


class _SlackError(Exception):
    """Raised by handlers; becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class _TokenBucket:
    """Classic token bucket on the monotonic clock."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = time.monotonic()

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when available now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


# --------------------------------------------------------------------------- validation


def _check_text_object(raw: dict[str, Any], key: str, *, plain_only: bool) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return f"{key} must be a text object"
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if value.get("type") not in allowed:
        return f"{key}.type must be one of {allowed}"
    return None


def _dropped_items(raw: Any, parsed: Any, path: str) -> list[str]:
    """Find items slack_sdk silently dropped (unknown element types Slack would reject)."""
    errors: list[str] = []
    if isinstance(raw, dict) and isinstance(parsed, dict):
        for key, value in raw.items():
            sub = parsed.get(key)
            if isinstance(value, dict) and "type" in value and sub is None:
                errors.append(f"{path}.{key}: unsupported type {value['type']!r}")
            elif isinstance(value, (dict, list)):
                errors.extend(_dropped_items(value, sub, f"{path}.{key}"))
    elif isinstance(raw, list) and isinstance(parsed, list):
        if len(raw) != len(parsed) or any(item is None for item in parsed):
            errors.append(f"{path}: contains an item of unsupported type")
        else:
            for index, (raw_item, item) in enumerate(zip(raw, parsed, strict=True)):
                errors.extend(_dropped_items(raw_item, item, f"{path}[{index}]"))
    return errors


def validate_blocks(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Return the reasons Slack would reject ``blocks`` (empty list when valid)."""
    if not isinstance(blocks, list):
        return ["blocks must be a JSON array"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"too many blocks: {len(blocks)} > {max_blocks}")
    seen_ids: set[str] = set()
    for index, raw in enumerate(blocks):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            errors.append(f"block {index}: must be an object with a string type")
            continue
        kind = raw["type"]
        where = f"block {index} ({kind})"
        block_id = raw.get("block_id")
        if block_id is not None:
            if block_id in seen_ids:
                errors.append(f"{where}: duplicate block_id {block_id!r}")
            seen_ids.add(str(block_id))
        if kind in ("section", "header"):
            problem = _check_text_object(raw, "text", plain_only=kind == "header")
            if problem:
                errors.append(f"{where}: {problem}")
                continue
        try:
            block = Block.parse(raw)
            if block is None:
                errors.append(f"{where}: unknown block type")
                continue
            block.validate_json()
            errors.extend(f"{where}: {e}" for e in _dropped_items(raw, block.to_dict(), kind))
        except Exception as exc:  # slack_sdk raises several exception types
            errors.append(f"{where}: {type(exc).__name__}: {exc}")
    return errors


def validate_message(text: Any, blocks: Any) -> list[str]:
    """Validate a message-like payload (``blocks`` may be None)."""
    if blocks is None:
        return []
    errors = validate_blocks(blocks)
    if not isinstance(text, str) or not text.strip():
        errors.append("text fallback is required when blocks are given")
    return errors


def validate_view(view: Any, *, expected_types: Iterable[str] = ("modal",)) -> list[str]:
    """Return the reasons Slack would reject a view payload."""
    if not isinstance(view, dict):
        return ["view must be a JSON object"]
    errors: list[str] = []
    kinds = tuple(expected_types)
    if view.get("type") not in kinds:
        errors.append(f"view.type must be one of {kinds}, got {view.get('type')!r}")
    for key in ("title", "submit", "close"):
        problem = _check_text_object(view, key, plain_only=True)
        if problem:
            errors.append(f"view: {problem}")
    if view.get("type") == "modal":
        if view.get("title") is None:
            errors.append("view: modal title is required")
        blocks = view.get("blocks") or []
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            errors.append("view: a modal with input blocks needs a submit button")
    try:
        parsed = View(**view)
        parsed.validate_json()
    except Exception as exc:
        errors.append(f"view: {type(exc).__name__}: {exc}")
    errors.extend(validate_blocks(view.get("blocks"), max_blocks=MAX_VIEW_BLOCKS))
    return errors


# --------------------------------------------------------------------------- helpers


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise _SlackError("invalid_arguments") from exc


def _ts_float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise _SlackError("invalid_ts_oldest") from exc


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        prefix, _, number = base64.b64decode(str(cursor)).decode().partition(":")
        if prefix != "offset":
            raise ValueError(cursor)
        return int(number)
    except ValueError as exc:
        raise _SlackError("invalid_cursor") from exc


def _paginate(items: list[Any], params: Params, default_limit: int) -> tuple[list[Any], str]:
    """Slice ``items`` by ``cursor``/``limit``; return the page and the next cursor."""
    limit = _as_int(params.get("limit"), default_limit)
    offset = _decode_cursor(params.get("cursor"))
    if limit <= 0:
        limit = max(len(items), 1)
    end = offset + limit
    return items[offset:end], _encode_cursor(end) if end < len(items) else ""


def _tz_info(tz: str) -> tuple[int, str]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return 0, "Coordinated Universal Time"
    offset = now.utcoffset()
    return (int(offset.total_seconds()) if offset else 0), now.tzname() or tz


def _strip_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


# --------------------------------------------------------------------------- emulator


class SlackStandIn:
    """In-process Slack Web API over HTTP on 127.0.0.1 with recording and fault injection."""

    def __init__(
        self,
        bot_tokens: dict[str, str] | None = None,
        *,
        ts_start: float | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``bot_tokens`` maps token -> team_id; ``ts_start`` makes message ts deterministic;
        ``clock`` (the sandbox's movable clock) dates messages instead of the wall clock."""
        self.bot_tokens: dict[str, str] = dict(bot_tokens or {"xoxb-test": "T1"})
        self.calls: list[RecordedCall] = []
        self.invalid_payloads: list[str] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.ephemeral_messages: list[dict[str, Any]] = []
        self.rate_limited_count = 0
        self.latency = 0.0  # seconds every Web API call takes before it is answered (slow Slack)
        # Grows with every recorded request or posted message: the sandbox page long-polls it.
        self.version = 0
        # Which trigger opened a modal, so the sandbox shows it to the person who clicked.
        self.view_triggers: dict[str, str] = {}
        self._ts_start = ts_start
        self._clock = clock
        self._last_ts_micros = 0
        self._counter = 0
        self._users: dict[str, dict[str, dict[str, Any]]] = {}
        self._channels: dict[str, dict[str, dict[str, Any]]] = {}
        self._members: dict[str, list[str]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._file_data: dict[str, bytes] = {}
        self._home_views: dict[tuple[str, str], str] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._rate: tuple[float | None, float | None, float | None] | None = None
        self._buckets: dict[tuple[str, str], _TokenBucket] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._handlers: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "team.info": self._team_info,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.members": self._conversations_members,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
        }
        for team_id in self.bot_tokens.values():
            self._team(team_id)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        app.router.add_get("/files/{file_id}/{name}", self._handle_file_download)
        self._add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    def _add_routes(self, app: web.Application) -> None:
        """More routes on the same server (the tests' Socket Mode endpoint)."""

    def _team_for_token(self, method: str, token: str) -> str | None:
        """The team a token belongs to for ``method`` (bot tokens; tests add app tokens)."""
        return self.bot_tokens.get(token)

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (only after ``start()``)."""
        if self._port is None:
            raise RuntimeError("SlackStandIn is not started")
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Web API base URL for ``AsyncWebClient(base_url=...)``."""
        return f"{self.origin}/api/"

    # ----------------------------------------------------------------- directory

    def _team(self, team_id: str) -> dict[str, dict[str, Any]]:
        """Users of ``team_id``, creating the team (with its bot user) on first use."""
        if team_id not in self._users:
            self._users[team_id] = {}
            self._channels[team_id] = {}
            self.add_user(
                BOT_USER_ID, BOT_NAME, team_id=team_id, tz="America/Los_Angeles", is_bot=True
            )
        return self._users[team_id]

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        team_id: str = "T1",
        real_name: str | None = None,
        tz: str = "Europe/Madrid",
        tz_offset: int | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        email: str | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a workspace member; returns the ``users.info`` user object."""
        users = self._team(team_id)
        offset, label = _tz_info(tz)
        real = real_name if real_name is not None else name.title()
        profile: dict[str, Any] = {
            "title": "",
            "phone": "",
            "real_name": real,
            "real_name_normalized": real,
            "display_name": name,
            "display_name_normalized": name,
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": "g0000000000",
            "image_72": f"https://avatars.example/{user_id}_72.png",
            "team": team_id,
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = BOT_ID
            profile["always_active"] = True
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": team_id,
            "name": name,
            "deleted": deleted,
            "color": "9f69e7",
            "real_name": real,
            "tz": tz,
            "tz_label": label,
            "tz_offset": offset if tz_offset is None else tz_offset,
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "is_email_confirmed": not is_bot,
        }
        users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        team_id: str = "T1",
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
        members: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Add (or replace) a channel; returns the ``conversations.info`` channel object."""
        self._team(team_id)
        now = int(time.time())
        channel: dict[str, Any] = {
            "id": channel_id,
            "name": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "created": now,
            "is_archived": is_archived,
            "is_general": name == "general",
            "unlinked": 0,
            "name_normalized": name.lower(),
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "context_team_id": team_id,
            "updated": now * 1000,
            "creator": "U0",
            "is_member": is_member,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
            "num_members": len(list(members)),
        }
        self._channels[team_id][channel_id] = channel
        self._members[channel_id] = list(members)
        channel["num_members"] = len(self._members[channel_id])
        self._messages.setdefault(channel_id, [])
        return channel

    def user(self, user_id: str, team_id: str = "T1") -> dict[str, Any] | None:
        """The stored user object, or None."""
        return self._users.get(team_id, {}).get(user_id)

    def channel(self, channel_id: str, team_id: str = "T1") -> dict[str, Any] | None:
        """The stored channel (or opened IM) object, or None."""
        return self._channels.get(team_id, {}).get(channel_id)

    def opened_ims(self, team_id: str = "T1") -> list[str]:
        """IDs of the IM channels opened with ``conversations.open`` (or by posting to a user)."""
        return [c["id"] for c in self._channels.get(team_id, {}).values() if c.get("is_im")]

    # ----------------------------------------------------------------- recorded state

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages stored in ``channel`` oldest first (a user id maps to its IM ``D<id>``)."""
        if channel[:1] in ("U", "W"):
            channel = f"D{channel}"
        return copy.deepcopy(self._messages.get(channel, []))

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Recorded calls of ``method`` in arrival order."""
        return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        """Forget recorded calls (directory, messages and invalid payloads are kept)."""
        self.calls.clear()

    def responses(self, response_id: str | None = None) -> list[RecordedCall]:
        """Recorded ``response_url`` posts, optionally for one response id or URL."""
        if response_id is not None:
            response_id = response_id.rstrip("/").rsplit("/", 1)[-1]
        return [
            c
            for c in self.calls_to("response_url")
            if response_id is None or c.params.get("_response_id") == response_id
        ]

    def home_view(self, user_id: str, team_id: str = "T1") -> dict[str, Any] | None:
        """The Home tab published for ``user_id``, or None."""
        view_id = self._home_views.get((team_id, user_id))
        return self.views.get(view_id) if view_id else None

    def file_content(self, file_id: str) -> bytes | None:
        """Bytes uploaded for ``file_id``, or None."""
        return self._file_data.get(file_id)

    def assert_no_invalid_payloads(self) -> None:
        """Raise AssertionError listing every payload Slack would have rejected."""
        if self.invalid_payloads:
            joined = "\n  ".join(self.invalid_payloads)
            raise AssertionError(
                f"Slack would reject {len(self.invalid_payloads)} payload(s):\n  {joined}"
            )

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
    ) -> list[RecordedCall]:
        """Wait until ``count`` calls of ``method`` were recorded; return all of them."""
        await self.wait_until(
            lambda: len(self.calls_to(method)) >= count,
            timeout=timeout,
            describe=lambda: (
                f"expected >= {count} call(s) to {method!r} within {timeout}s, "
                f"got {len(self.calls_to(method))}; methods seen: "
                f"{[c.method for c in self.calls][-20:]}"
            ),
        )
        return self.calls_to(method)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the public API
        describe: Callable[[], str] | None = None,
        result: Callable[[], Any] | None = None,
    ) -> Any:
        """Wait until ``predicate()`` holds (re-checked on every recorded request)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                message = describe() if describe else f"condition not met within {timeout}s"
                raise AssertionError(message)
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))
        return result() if result else None

    # ----------------------------------------------------------------- faults and limits

    def inject(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail (HTTP ``status`` or ``error``)."""
        self._faults.setdefault(method, []).append(_Fault(status, retry_after, error, count))

    def clear_faults(self) -> None:
        """Drop all pending injected faults."""
        self._faults.clear()

    def set_post_rate_limit(
        self,
        per_channel_per_second: float | None = 1.0,
        workspace_per_second: float | None = None,
        burst: float | None = None,
    ) -> None:
        """Rate-limit ``chat.postMessage`` with token buckets (capacity ``burst``).

        ``burst`` defaults to one second worth of calls (at least 1).
        """
        self._rate = (per_channel_per_second, workspace_per_second, burst)
        self._buckets.clear()

    def clear_post_rate_limit(self) -> None:
        """Disable the ``chat.postMessage`` rate limiter."""
        self._rate = None
        self._buckets.clear()

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    def _fault_response(self, fault: _Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
        if fault.error is not None:
            return 200, {"ok": False, "error": fault.error}, {}
        if fault.status == 429:
            body = {"ok": False, "error": "ratelimited"}
            return 429, body, {"Retry-After": str(fault.retry_after)}
        return fault.status, {"ok": False, "error": "internal_error"}, {}

    def _bucket(self, key: tuple[str, str], rate: float, burst: float | None) -> _TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            capacity = burst if burst is not None else max(1.0, rate)
            bucket = self._buckets[key] = _TokenBucket(rate, capacity)
        return bucket

    def _rate_limit_wait(self, team_id: str, channel: str) -> float | None:
        """Consume a token for a post, or return seconds to wait when limited."""
        if self._rate is None:
            return None
        per_channel, per_team, burst = self._rate
        buckets: list[_TokenBucket] = []
        if per_channel:
            buckets.append(self._bucket((team_id, channel), per_channel, burst))
        if per_team:
            buckets.append(self._bucket((team_id, ""), per_team, burst))
        now = time.monotonic()
        wait = max((b.wait_time(now) for b in buckets), default=0.0)
        if wait > 0:
            return wait
        for bucket in buckets:
            bucket.take()
        return None

    # ----------------------------------------------------------------- HTTP plumbing

    def _record(
        self,
        method: str,
        params: Params,
        team_id: str | None,
        status: int,
        response: dict[str, Any],
    ) -> RecordedCall:
        call = RecordedCall(method, params, team_id, time.monotonic(), status, response)
        self.calls.append(call)
        self._touch()
        return call

    def _touch(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for_change(self, version: int, timeout: float) -> int:  # noqa: ASYNC109
        """Wait until ``self.version`` passes ``version`` (or ``timeout``); return it."""
        with contextlib.suppress(AssertionError):
            await self.wait_until(lambda: self.version > version, timeout=timeout)
        return self.version

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:010d}"

    def _next_ts(self) -> str:
        if self._ts_start is not None:
            now = self._ts_start
        elif self._clock is not None:
            now = self._clock().timestamp()
        else:
            now = time.time()
        micros = max(int(now * 1_000_000), self._last_ts_micros + 100)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    @staticmethod
    async def _read_params(request: web.Request) -> Params:
        params: Params = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                raw = await request.text()
                if raw.strip():
                    try:
                        data = json.loads(raw)
                    except ValueError as exc:
                        raise _SlackError("invalid_json") from exc
                    if not isinstance(data, dict):
                        raise _SlackError("invalid_json")
                    params.update(data)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, item in form.items():
                    params[key] = item.file.read() if isinstance(item, web.FileField) else item
        for key in JSON_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    def _token(self, request: web.Request, params: Params) -> str | None:
        token = params.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        return str(token) if token else None

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if self.latency:
            await asyncio.sleep(self.latency)
        team_id: str | None = None
        params: Params = {}
        status, headers = 200, dict[str, str]()
        try:
            params = await self._read_params(request)
            token = self._token(request, params)
            team_id = self._team_for_token(method, token) if token else None
            handler = self._handlers.get(method)
            if handler is None:
                raise _SlackError("unknown_method")
            if team_id is None:
                raise _SlackError("invalid_auth")
            fault = self._take_fault(method)
            if fault is not None:
                status, body, headers = self._fault_response(fault)
            else:
                limited = self._post_rate_limited(method, team_id, params)
                if limited is not None:
                    status, body, headers = limited
                else:
                    body = {"ok": True, **handler(team_id, params)}
        except _SlackError as exc:
            body = {"ok": False, "error": exc.error, **exc.extra}
        self._record(method, params, team_id, status, body)
        return web.json_response(body, status=status, headers=headers)

    def _post_rate_limited(
        self, method: str, team_id: str, params: Params
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        if method != "chat.postMessage" or self._rate is None:
            return None
        ref = str(params.get("channel") or "")
        found = self._find_channel(team_id, ref)
        wait = self._rate_limit_wait(team_id, found["id"] if found else ref)
        if wait is None:
            return None
        self.rate_limited_count += 1
        retry_after = max(1, math.ceil(wait))
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}

    def _reject(self, where: str, errors: list[str]) -> None:
        """Record an invalid payload and raise ``invalid_blocks``."""
        for error in errors:
            self.invalid_payloads.append(f"{where}: {error}")
        raise _SlackError(
            "invalid_blocks",
            errors=errors,
            response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
        )

    # ----------------------------------------------------------------- lookups

    def _find_channel(self, team_id: str, ref: str) -> dict[str, Any] | None:
        channels = self._channels.get(team_id, {})
        if ref in channels:
            return channels[ref]
        name = ref[1:] if ref.startswith("#") else ref
        for channel in channels.values():
            if channel.get("name") == name:
                return channel
        return None

    def _open_im(self, team_id: str, user_id: str) -> tuple[dict[str, Any], bool]:
        channels = self._channels[team_id]
        channel_id = f"D{user_id}"
        existing = channels.get(channel_id)
        if existing is not None:
            return existing, True
        channel = {
            "id": channel_id,
            "created": int(time.time()),
            "is_im": True,
            "is_org_shared": False,
            "context_team_id": team_id,
            "updated": int(time.time() * 1000),
            "user": user_id,
            "is_user_deleted": False,
            "priority": 0,
        }
        channels[channel_id] = channel
        self._messages.setdefault(channel_id, [])
        return channel, False

    def _post_channel(self, team_id: str, ref: Any) -> dict[str, Any]:
        """Resolve a ``channel`` argument for posting; raises like Slack."""
        if not ref:
            raise _SlackError("channel_not_found")
        ref = str(ref)
        channel = self._find_channel(team_id, ref)
        if channel is None and ref[:1] in ("U", "W"):
            channel, _ = self._open_im(team_id, ref)
        if channel is None and ref[:1] == "D" and self.user(ref[1:], team_id) is not None:
            # A person who wrote to the bot has an IM with it even if the bot never opened it.
            channel, _ = self._open_im(team_id, ref[1:])
        if channel is None:
            raise _SlackError("channel_not_found")
        if channel.get("is_archived"):
            raise _SlackError("is_archived")
        if channel.get("is_member") is False and channel.get("is_private"):
            raise _SlackError("channel_not_found")
        return channel

    def _readable_channel(self, team_id: str, ref: Any) -> dict[str, Any]:
        channel = self._find_channel(team_id, str(ref or ""))
        if channel is None or (channel.get("is_private") and not channel.get("is_member")):
            raise _SlackError("channel_not_found")
        if channel.get("is_member") is False:
            raise _SlackError("not_in_channel")
        return channel

    def _find_message(self, channel_id: str, ts: Any) -> dict[str, Any]:
        for message in self._messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        raise _SlackError("message_not_found")

    @staticmethod
    def _public_message(message: dict[str, Any], *, with_metadata: bool) -> dict[str, Any]:
        public = {k: v for k, v in message.items() if k not in ("edit_history", "channel")}
        if not with_metadata:
            public.pop("metadata", None)
        if not public.get("blocks"):
            public.pop("blocks", None)
        return _strip_none(public)

    # ----------------------------------------------------------------- auth / users

    def _api_test(self, team_id: str, params: Params) -> Params:
        return {"args": {k: v for k, v in params.items() if isinstance(v, str)}}

    def _auth_test(self, team_id: str, params: Params) -> Params:
        return {
            "url": f"https://{team_id.lower()}.slack.com/",
            "team": f"Team {team_id}",
            "user": BOT_NAME,
            "team_id": team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _team_info(self, team_id: str, params: Params) -> Params:
        return {
            "team": {
                "id": team_id,
                "name": f"Team {team_id}",
                "domain": team_id.lower(),
                "email_domain": "",
                "icon": {"image_default": True},
            }
        }

    def _users_info(self, team_id: str, params: Params) -> Params:
        user = self._users[team_id].get(str(params.get("user") or ""))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _users_list(self, team_id: str, params: Params) -> Params:
        members = list(self._users[team_id].values())
        page, next_cursor = _paginate(members, params, default_limit=0)
        return {
            "members": copy.deepcopy(page),
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _users_lookup_by_email(self, team_id: str, params: Params) -> Params:
        email = str(params.get("email") or "").lower()
        for user in self._users[team_id].values():
            if str(user["profile"].get("email", "")).lower() == email and email:
                return {"user": copy.deepcopy(user)}
        raise _SlackError("users_not_found")

    # ----------------------------------------------------------------- conversations

    def _conversations_info(self, team_id: str, params: Params) -> Params:
        channel = self._find_channel(team_id, str(params.get("channel") or ""))
        if channel is None or (channel.get("is_private") and not channel.get("is_member")):
            raise _SlackError("channel_not_found")
        return {"channel": copy.deepcopy(channel)}

    def _conversations_list(self, team_id: str, params: Params) -> Params:
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",")}
        exclude_archived = _as_bool(params.get("exclude_archived"))
        selected: list[dict[str, Any]] = []
        for channel in self._channels[team_id].values():
            if channel.get("is_im"):
                kind = "im"
            elif channel.get("is_mpim"):
                kind = "mpim"
            elif channel.get("is_private"):
                kind = "private_channel"
                if not channel.get("is_member"):
                    continue
            else:
                kind = "public_channel"
            if kind not in types or (exclude_archived and channel.get("is_archived")):
                continue
            selected.append(channel)
        page, next_cursor = _paginate(selected, params, default_limit=100)
        return {"channels": copy.deepcopy(page), "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_members(self, team_id: str, params: Params) -> Params:
        channel = self._readable_channel(team_id, params.get("channel"))
        if channel.get("is_im"):
            members = [BOT_USER_ID, channel["user"]]
        else:
            members = list(self._members.get(channel["id"], []))
        page, next_cursor = _paginate(members, params, default_limit=100)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_join(self, team_id: str, params: Params) -> Params:
        channel = self._find_channel(team_id, str(params.get("channel") or ""))
        if channel is None or channel.get("is_private"):
            raise _SlackError("channel_not_found")
        if channel.get("is_archived"):
            raise _SlackError("is_archived")
        channel["is_member"] = True
        if BOT_USER_ID not in self._members.setdefault(channel["id"], []):
            self._members[channel["id"]].append(BOT_USER_ID)
        return {"channel": copy.deepcopy(channel)}

    def _conversations_open(self, team_id: str, params: Params) -> Params:
        if params.get("channel"):
            existing = self._find_channel(team_id, str(params["channel"]))
            if existing is None:
                raise _SlackError("channel_not_found")
            return {"no_op": True, "already_open": True, "channel": {"id": existing["id"]}}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise _SlackError("too_many_users")
        for user_id in users:
            if user_id[:1] not in ("U", "W"):
                raise _SlackError("user_not_found")
        if len(users) == 1:
            channel, already = self._open_im(team_id, users[0])
        else:
            digest = hashlib.sha1(",".join(sorted(users)).encode()).hexdigest()[:10].upper()
            channel_id = f"G{digest}"
            channels = self._channels[team_id]
            already = channel_id in channels
            if not already:
                channels[channel_id] = {
                    "id": channel_id,
                    "name": "mpdm-" + "--".join(users) + "-1",
                    "is_mpim": True,
                    "is_private": True,
                    "is_member": True,
                    "created": int(time.time()),
                }
                self._members[channel_id] = [BOT_USER_ID, *users]
                self._messages.setdefault(channel_id, [])
            channel = channels[channel_id]
        full = _as_bool(params.get("return_im"))
        result: Params = {"channel": copy.deepcopy(channel) if full else {"id": channel["id"]}}
        if already:
            result.update(no_op=True, already_open=True)
        return result

    def _conversations_history(self, team_id: str, params: Params) -> Params:
        channel = self._readable_channel(team_id, params.get("channel"))
        inclusive = _as_bool(params.get("inclusive"))
        oldest = _ts_float(params.get("oldest"), 0.0)
        latest = _ts_float(params.get("latest"), math.inf)
        with_metadata = _as_bool(params.get("include_all_metadata"))
        selected: list[dict[str, Any]] = []
        for message in reversed(self._messages.get(channel["id"], [])):
            thread_ts = message.get("thread_ts")
            if thread_ts and thread_ts != message["ts"] and not message.get("reply_broadcast"):
                continue
            ts = float(message["ts"])
            if inclusive:
                if ts < oldest or ts > latest:
                    continue
            elif ts <= oldest or ts >= latest:
                continue
            selected.append(self._public_message(message, with_metadata=with_metadata))
        page, next_cursor = _paginate(selected, params, default_limit=100)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, team_id: str, params: Params) -> Params:
        channel = self._readable_channel(team_id, params.get("channel"))
        ts = params.get("ts")
        parent = self._find_message(channel["id"], ts)
        thread = [parent] + [
            m for m in self._messages[channel["id"]] if m.get("thread_ts") == ts and m["ts"] != ts
        ]
        with_metadata = _as_bool(params.get("include_all_metadata"))
        public = [self._public_message(m, with_metadata=with_metadata) for m in thread]
        page, next_cursor = _paginate(public, params, default_limit=1000)
        return {
            "messages": page,
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    # ----------------------------------------------------------------- chat

    def _message_content(self, method: str, params: Params) -> tuple[str, Any, Any, Any]:
        text = params.get("text")
        text = "" if text is None else str(text)
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        if not text and not blocks and not attachments:
            raise _SlackError("no_text")
        if len(text) > MAX_TEXT_LENGTH:
            raise _SlackError("msg_too_long")
        errors = validate_message(text, blocks)
        if errors:
            self._reject(f"{method} channel={params.get('channel')}", errors)
        metadata = params.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload", {}), dict)
        ):
            raise _SlackError("invalid_metadata_format")
        return text, blocks, attachments, metadata

    def _store_message(
        self,
        team_id: str,
        channel_id: str,
        *,
        text: str,
        blocks: Any = None,
        attachments: Any = None,
        metadata: Any = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        files: list[dict[str, Any]] | None = None,
        author: str = BOT_USER_ID,
    ) -> dict[str, Any]:
        ts = self._next_ts()
        from_bot = author == BOT_USER_ID
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel_id,
            "ts": ts,
            "user": author,
            "bot_id": BOT_ID if from_bot else None,
            "app_id": APP_ID if from_bot else None,
            "team": team_id,
            "text": text,
            "blocks": blocks if isinstance(blocks, list) else [],
            "attachments": attachments,
            "metadata": metadata,
            "thread_ts": thread_ts,
            "reply_broadcast": reply_broadcast or None,
            "files": files,
            "upload": True if files else None,
            "edit_history": [],
        }
        if thread_ts:
            for parent in self._messages.get(channel_id, []):
                if parent["ts"] == thread_ts:
                    parent["thread_ts"] = thread_ts
                    parent["reply_count"] = parent.get("reply_count", 0) + 1
                    parent["reply_users"] = sorted({*parent.get("reply_users", []), author})
                    parent["latest_reply"] = ts
                    break
        self._messages.setdefault(channel_id, []).append(message)
        if not from_bot:
            self._touch()
        return message

    def post_as_user(
        self, team_id: str, channel: str, user_id: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Store a message a person wrote (``channel`` may be a user id for their DM with
        the bot); returns it with its ``channel``, as an Events API ``message`` would."""
        target = self._post_channel(team_id, channel)
        return copy.deepcopy(
            self._store_message(
                team_id, target["id"], text=text, thread_ts=thread_ts, author=user_id
            )
        )

    def post_as_bot(self, team_id: str, channel: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a message from the bot that did not come through the Web API (an
        ``in_channel`` slash-command ack body, which Slack posts itself)."""
        target = self._post_channel(team_id, channel)
        stored = self._store_message(
            team_id, target["id"], text=str(body.get("text") or ""), blocks=body.get("blocks")
        )
        self._touch()
        return copy.deepcopy(stored)

    def find_message(
        self, team_id: str, channel: str, ts: str, user_id: str | None = None
    ) -> dict[str, Any] | None:
        """A stored message as ``conversations.history`` shows it, or an ephemeral one that
        ``user_id`` sees; None when there is no such message."""
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return self._public_message(message, with_metadata=False)
        for ephemeral in self.ephemeral_messages:
            if ephemeral["message_ts"] == ts and ephemeral["user"] == user_id:
                return {
                    "type": "message",
                    "ts": ts,
                    "text": ephemeral["text"],
                    "blocks": ephemeral["blocks"],
                    "user": BOT_USER_ID,
                    "bot_id": BOT_ID,
                }
        return None

    def replace_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """A view's content replaced by a ``response_action: update`` (validated)."""
        existing = self.views[view_id]
        errors = validate_view(view, expected_types=(str(existing.get("type", "modal")),))
        if errors:
            self._reject(f"response_action=update callback_id={_callback_id(view)}", errors)
        return self._store_view(
            existing["team_id"],
            dict(view),
            view_id=view_id,
            root_view_id=existing.get("root_view_id"),
            previous_view_id=existing.get("previous_view_id"),
        )

    def push_view(self, team_id: str, previous_view_id: str, view: dict[str, Any]) -> str:
        """A view pushed by a ``response_action: push``; returns its id."""
        errors = validate_view(view)
        if errors:
            self._reject(f"response_action=push callback_id={_callback_id(view)}", errors)
        root = self.views[previous_view_id].get("root_view_id")
        stored = self._store_view(
            team_id, dict(view), root_view_id=root, previous_view_id=previous_view_id
        )
        return str(stored["id"])

    def touch(self) -> None:
        """Tell whoever waits for a change (the sandbox page) that something changed."""
        self._touch()

    def users(self, team_id: str = "T1") -> list[dict[str, Any]]:
        """Every member of ``team_id`` (bot included), in the order they were added."""
        return copy.deepcopy(list(self._team(team_id).values()))

    def channels(self, team_id: str = "T1") -> list[dict[str, Any]]:
        """Every channel and IM of ``team_id``."""
        self._team(team_id)
        return copy.deepcopy(list(self._channels[team_id].values()))

    def add_member(self, channel_id: str, user_id: str) -> None:
        """Make ``user_id`` a member of ``channel_id``."""
        members = self._members.setdefault(channel_id, [])
        if user_id not in members:
            members.append(user_id)

    def _chat_post_message(self, team_id: str, params: Params) -> Params:
        channel = self._post_channel(team_id, params.get("channel"))
        text, blocks, attachments, metadata = self._message_content("chat.postMessage", params)
        thread_ts = params.get("thread_ts") or None
        message = self._store_message(
            team_id,
            channel["id"],
            text=text,
            blocks=blocks,
            attachments=attachments,
            metadata=metadata,
            thread_ts=str(thread_ts) if thread_ts else None,
            reply_broadcast=_as_bool(params.get("reply_broadcast")),
        )
        return {
            "channel": channel["id"],
            "ts": message["ts"],
            "message": self._public_message(message, with_metadata=True),
        }

    def _chat_update(self, team_id: str, params: Params) -> Params:
        channel = self._post_channel(team_id, params.get("channel"))
        message = self._find_message(channel["id"], params.get("ts"))
        if not any(params.get(k) is not None for k in ("text", "blocks", "attachments")):
            raise _SlackError("no_text")
        text = str(params["text"]) if params.get("text") is not None else message["text"]
        blocks = params["blocks"] if "blocks" in params else message["blocks"]
        if len(text) > MAX_TEXT_LENGTH:
            raise _SlackError("msg_too_long")
        errors = validate_message(text, blocks if blocks else None)
        if errors:
            self._reject(f"chat.update channel={channel['id']} ts={message['ts']}", errors)
        message["edit_history"].append(
            {
                "text": message["text"],
                "blocks": message["blocks"],
                "attachments": message["attachments"],
                "metadata": message["metadata"],
                "edited_at": time.time(),
            }
        )
        message["text"] = text
        message["blocks"] = blocks if isinstance(blocks, list) else []
        if "attachments" in params:
            message["attachments"] = params["attachments"]
        if "metadata" in params:
            message["metadata"] = params["metadata"]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {
            "channel": channel["id"],
            "ts": message["ts"],
            "text": text,
            "message": self._public_message(message, with_metadata=True),
        }

    def _chat_post_ephemeral(self, team_id: str, params: Params) -> Params:
        channel = self._post_channel(team_id, params.get("channel"))
        user = str(params.get("user") or "")
        if not user:
            raise _SlackError("user_not_in_channel")
        text, blocks, attachments, _ = self._message_content("chat.postEphemeral", params)
        ts = self._next_ts()
        self.ephemeral_messages.append(
            {
                "channel": channel["id"],
                "user": user,
                "text": text,
                "blocks": blocks if isinstance(blocks, list) else [],
                "attachments": attachments,
                "thread_ts": params.get("thread_ts"),
                "message_ts": ts,
                "team": team_id,
            }
        )
        return {"message_ts": ts}

    def _chat_delete(self, team_id: str, params: Params) -> Params:
        channel = self._post_channel(team_id, params.get("channel"))
        message = self._find_message(channel["id"], params.get("ts"))
        self._messages[channel["id"]].remove(message)
        return {"channel": channel["id"], "ts": message["ts"]}

    def _chat_get_permalink(self, team_id: str, params: Params) -> Params:
        channel = self._readable_channel(team_id, params.get("channel"))
        message = self._find_message(channel["id"], params.get("message_ts"))
        digits = message["ts"].replace(".", "")
        return {
            "channel": channel["id"],
            "permalink": f"https://{team_id.lower()}.slack.com/archives/{channel['id']}/p{digits}",
        }

    # ----------------------------------------------------------------- views

    def _view_arg(self, method: str, params: Params, kinds: tuple[str, ...]) -> dict[str, Any]:
        view = params.get("view")
        if view is None:
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: view"]},
            )
        errors = validate_view(view, expected_types=kinds)
        if errors:
            self._reject(f"{method} callback_id={_callback_id(view)}", errors)
        return dict(view)

    def _store_view(
        self,
        team_id: str,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
    ) -> dict[str, Any]:
        vid = view_id or self._next_id("V")
        stored: dict[str, Any] = {
            "id": vid,
            "team_id": team_id,
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
            **view,
        }
        stored.update(
            id=vid,
            team_id=team_id,
            hash=f"{int(time.time())}.{self._next_id('h')}",
            root_view_id=root_view_id or vid,
            previous_view_id=previous_view_id,
            app_id=APP_ID,
            app_installed_team_id=team_id,
            bot_id=BOT_ID,
        )
        self.views[vid] = stored
        return stored

    @staticmethod
    def _require_trigger(params: Params) -> None:
        if not params.get("trigger_id"):
            raise _SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]},
            )

    def _views_open(self, team_id: str, params: Params) -> Params:
        self._require_trigger(params)
        view = self._view_arg("views.open", params, ("modal",))
        stored = self._store_view(team_id, view)
        self.view_triggers[stored["id"]] = str(params["trigger_id"])
        return {"view": copy.deepcopy(stored)}

    def _views_push(self, team_id: str, params: Params) -> Params:
        self._require_trigger(params)
        view = self._view_arg("views.push", params, ("modal",))
        stored = self._store_view(team_id, view)
        self.view_triggers[stored["id"]] = str(params["trigger_id"])
        return {"view": copy.deepcopy(stored)}

    def _views_update(self, team_id: str, params: Params) -> Params:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        existing: dict[str, Any] | None = None
        if view_id:
            existing = self.views.get(str(view_id))
        elif external_id:
            existing = next(
                (v for v in self.views.values() if v.get("external_id") == external_id), None
            )
        else:
            raise _SlackError("invalid_arguments")
        if existing is None or existing["team_id"] != team_id:
            raise _SlackError("not_found")
        if params.get("hash") and params["hash"] != existing["hash"]:
            raise _SlackError("hash_conflict")
        kinds = (str(existing.get("type", "modal")),)
        view = self._view_arg("views.update", params, kinds)
        stored = self._store_view(
            team_id,
            view,
            view_id=existing["id"],
            root_view_id=existing.get("root_view_id"),
            previous_view_id=existing.get("previous_view_id"),
        )
        return {"view": copy.deepcopy(stored)}

    def _views_publish(self, team_id: str, params: Params) -> Params:
        user_id = str(params.get("user_id") or "")
        if user_id not in self._users[team_id]:
            raise _SlackError("user_not_found")
        view = self._view_arg("views.publish", params, ("home",))
        view_id = self._home_views.get((team_id, user_id))
        if params.get("hash") and view_id and params["hash"] != self.views[view_id]["hash"]:
            raise _SlackError("hash_conflict")
        stored = self._store_view(team_id, view, view_id=view_id)
        self._home_views[(team_id, user_id)] = stored["id"]
        return {"view": copy.deepcopy(stored)}

    # ----------------------------------------------------------------- files

    def _files_get_upload_url(self, team_id: str, params: Params) -> Params:
        filename = params.get("filename")
        length = _as_int(params.get("length"), -1)
        if not filename or length < 0:
            raise _SlackError("invalid_arguments")
        file_id = self._next_id("F")
        self.files[file_id] = {
            "id": file_id,
            "name": str(filename),
            "title": str(filename),
            "size": length,
            "alt_txt": params.get("alt_txt"),
            "snippet_type": params.get("snippet_type"),
            "team_id": team_id,
            "completed": False,
        }
        return {"upload_url": f"{self.origin}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, team_id: str, params: Params) -> Params:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            raise _SlackError("invalid_arguments")
        channel_refs: list[str] = []
        if params.get("channel_id"):
            channel_refs.append(str(params["channel_id"]))
        if params.get("channels"):
            channel_refs.extend(c.strip() for c in str(params["channels"]).split(",") if c)
        channels = [self._post_channel(team_id, ref)["id"] for ref in channel_refs]
        completed: list[dict[str, Any]] = []
        for entry in entries:
            file_id = entry.get("id") if isinstance(entry, dict) else None
            record = self.files.get(str(file_id))
            if record is None or record["team_id"] != team_id or file_id not in self._file_data:
                raise _SlackError("file_not_found")
            record.update(self._file_object(record, entry, channels, params))
            completed.append(record)
        public = [self._public_file(f) for f in completed]
        initial_comment = str(params.get("initial_comment") or "")
        thread_ts = params.get("thread_ts") or None
        for channel_id in channels:
            self._store_message(
                team_id,
                channel_id,
                text=initial_comment,
                thread_ts=str(thread_ts) if thread_ts else None,
                files=copy.deepcopy(public),
            )
        return {"files": public}

    def _file_object(
        self, record: dict[str, Any], entry: dict[str, Any], channels: list[str], params: Params
    ) -> dict[str, Any]:
        name = record["name"]
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        now = int(time.time())
        url = f"{self.origin}/files/{record['id']}/{name}"
        return {
            "title": entry.get("title") or record["title"],
            "created": now,
            "timestamp": now,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
            "user": BOT_USER_ID,
            "user_team": record["team_id"],
            "size": len(self._file_data[record["id"]]),
            "mode": "hosted",
            "is_external": False,
            "is_public": bool(channels),
            "url_private": url,
            "url_private_download": url,
            "permalink": url,
            "channels": channels,
            "initial_comment": params.get("initial_comment"),
            "thread_ts": params.get("thread_ts"),
            "completed": True,
        }

    @staticmethod
    def _public_file(record: dict[str, Any]) -> dict[str, Any]:
        hidden = ("team_id", "completed", "initial_comment", "thread_ts")
        return _strip_none({k: v for k, v in record.items() if k not in hidden})

    def _files_info(self, team_id: str, params: Params) -> Params:
        record = self.files.get(str(params.get("file") or ""))
        if record is None or record["team_id"] != team_id or not record.get("completed"):
            raise _SlackError("file_not_found")
        return {
            "file": self._public_file(record),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        record = self.files.get(file_id)
        fault = self._take_fault("upload")
        if fault is not None:
            status, body, headers = self._fault_response(fault)
            self._record("upload", {"file_id": file_id}, None, status, body)
            return web.Response(status=status, text=str(body["error"]), headers=headers)
        if record is None:
            self._record("upload", {"file_id": file_id}, None, 404, {"ok": False})
            return web.Response(status=404, text="file_not_found", content_type="text/plain")
        if request.content_type.startswith("multipart/"):
            data = b""
            reader = await request.multipart()
            async for part in reader:
                data = bytes(await part.read())  # type: ignore[union-attr]
                break
        else:
            data = await request.read()
        self._file_data[file_id] = data
        params = {"file_id": file_id, "size": len(data)}
        self._record("upload", params, record["team_id"], 200, {"ok": True})
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or auth[7:].strip() not in self.bot_tokens:
            return web.Response(status=403, text="forbidden")
        data = self._file_data.get(request.match_info["file_id"])
        if data is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=data, content_type="application/octet-stream")

    # ----------------------------------------------------------------- response_url

    def new_response_url(
        self,
        *,
        team_id: str = "T1",
        channel_id: str | None = None,
        message_ts: str | None = None,
        user_id: str | None = None,
    ) -> str:
        """Create a ``response_url``.

        With ``channel_id`` ``in_channel`` responses are stored as messages there; with
        ``message_ts`` too, ``replace_original``/``delete_original`` edit that message.
        With ``user_id`` ephemeral responses are kept in ``ephemeral_messages`` for them.
        """
        response_id = uuid.uuid4().hex
        self._response_urls[response_id] = {
            "team_id": team_id,
            "channel_id": channel_id,
            "message_ts": message_ts,
            "user_id": user_id,
        }
        return f"{self.origin}/response/{response_id}"

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        response_id = request.match_info["response_id"]
        target = self._response_urls.get(response_id)
        team_id = target["team_id"] if target else None
        raw = await request.text()
        params: Params = {}
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                raw = str((await request.post()).get("payload", raw))
            data = json.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("payload must be a JSON object")
            params.update(data)
        except ValueError:
            params["_raw"] = raw
            params["_response_id"] = response_id
            return self._response_reply(params, team_id, 400, "invalid_payload")
        params["_response_id"] = response_id
        if target is None:
            return self._response_reply(params, team_id, 404, "no_service")
        fault = self._take_fault("response_url")
        if fault is not None:
            status, body, headers = self._fault_response(fault)
            self._record("response_url", params, team_id, status, body)
            return web.Response(status=status, text=str(body["error"]), headers=headers)
        delete = _as_bool(params.get("delete_original"))
        text = params.get("text")
        blocks = params.get("blocks")
        if not delete and not text and not blocks and not params.get("attachments"):
            return self._response_reply(params, team_id, 400, "no_text")
        errors = validate_message(text, blocks)
        if errors:
            for error in errors:
                self.invalid_payloads.append(f"response_url {response_id}: {error}")
            return self._response_reply(params, team_id, 400, "invalid_blocks", errors)
        self._apply_response(target, params)
        return self._response_reply(params, team_id, 200, "ok")

    def _apply_response(self, target: dict[str, Any], params: Params) -> None:
        channel_id = target.get("channel_id")
        if not channel_id:
            return
        message_ts = target.get("message_ts")
        original = next(
            (m for m in self._messages.get(channel_id, []) if m["ts"] == message_ts), None
        )
        if original is not None and _as_bool(params.get("delete_original")):
            self._messages[channel_id].remove(original)
        elif original is not None and _as_bool(params.get("replace_original")):
            original["edit_history"].append(
                {"text": original["text"], "blocks": original["blocks"], "edited_at": time.time()}
            )
            original["text"] = str(params.get("text") or "")
            original["blocks"] = params.get("blocks") or []
        elif params.get("response_type") == "in_channel":
            self._store_message(
                target["team_id"],
                channel_id,
                text=str(params.get("text") or ""),
                blocks=params.get("blocks"),
                thread_ts=params.get("thread_ts"),
            )
        elif target.get("user_id"):
            self.add_ephemeral(
                target["team_id"],
                channel_id,
                str(target["user_id"]),
                text=str(params.get("text") or ""),
                blocks=params.get("blocks"),
            )

    def add_ephemeral(
        self, team_id: str, channel_id: str, user_id: str, *, text: str, blocks: Any = None
    ) -> dict[str, Any]:
        """Keep a message only ``user_id`` sees (a slash command's ack body, say)."""
        message = {
            "channel": channel_id,
            "user": user_id,
            "text": text,
            "blocks": blocks if isinstance(blocks, list) else [],
            "attachments": None,
            "thread_ts": None,
            "message_ts": self._next_ts(),
            "team": team_id,
        }
        self.ephemeral_messages.append(message)
        self._touch()
        return message

    def _response_reply(
        self,
        params: Params,
        team_id: str | None,
        status: int,
        text: str,
        errors: list[str] | None = None,
    ) -> web.Response:
        body: dict[str, Any] = {"ok": status == 200}
        if status != 200:
            body["error"] = text
        if errors:
            body["errors"] = errors
        self._record("response_url", params, team_id, status, body)
        return web.Response(status=status, text=text, content_type="text/plain")


def _callback_id(view: Any) -> str:
    return str(view.get("callback_id", "")) if isinstance(view, dict) else ""
