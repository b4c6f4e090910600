"""The door of `POST /slack/events`: nothing a request carries is parsed before its
signature holds.

Slack signs every request with `v0=` + hex HMAC-SHA256(signing secret,
`v0:{timestamp}:{raw body}`). Bolt checks it too, but only after it has decoded and
parsed the whole body, so an unsigned 8 MB form kept the event loop busy for seconds.
Here each step is cheap and refuses before the next, costlier one runs:

1. the headers: a timestamp of digits within five minutes of now, a signature shaped
   like `v0=<64 hex>` (else 401, nothing read);
2. the declared size: more than `MAX_SLACK_BODY` is 413 before a byte is read, and a
   body without a length is read only up to that size;
3. the HMAC over the raw bytes, compared in constant time (401);
4. a signature seen before is a replay (401): Slack signs every delivery afresh;
5. only then the body is decoded and parsed as Bolt would, and one that is not
   UTF-8, not JSON where JSON is due, or not an object is 400, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest

# Slack's own requests are well under this (a view submission of a full modal is ~300 KB).
MAX_SLACK_BODY = 1024 * 1024
SIGNATURE_WINDOW = 5 * 60  # seconds: Slack's rule for a request timestamp
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=([0-9a-f]{64})$")

# Remembers a signature; False when it was seen before (a replayed request).
FirstUse = Callable[[str, datetime], Awaitable[bool]]


class RecentSignatures:
    """The signatures this process admitted within Slack's window: the replay check
    that still holds while the database (which all replicas share) is unreachable."""

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._limit = limit

    def first(self, signature: str, signed_at: float) -> bool:
        """Remember `signature`; False when this process admitted it before."""
        oldest = signed_at - SIGNATURE_WINDOW
        while self._seen and (
            len(self._seen) >= self._limit or next(iter(self._seen.values())) < oldest
        ):
            self._seen.popitem(last=False)
        if signature in self._seen:
            return False
        self._seen[signature] = signed_at
        return True


@dataclass(frozen=True)
class Refusal:
    """Why a request goes no further: the status and a short reason (no request data)."""

    status: int
    reason: str

    def response(self) -> web.Response:
        return web.json_response({"error": self.reason}, status=self.status)


class SlackGate:
    """Admits a request into Bolt only once it is proven to come from Slack."""

    def __init__(self, signing_secret: str | None, first_use: FirstUse) -> None:
        # No secret (Socket Mode): nothing arrives over HTTP from Slack, so refuse all.
        self._secret = signing_secret.encode() if signing_secret else None
        self._first_use = first_use

    async def admit(self, request: web.Request, now: float) -> AsyncBoltRequest | Refusal:
        """A Bolt request built from the verified body, or why the request was refused."""
        checked = self._check_headers(request.headers, now)
        if isinstance(checked, Refusal):
            return checked
        timestamp, signature = checked
        if request.content_length is not None and request.content_length > MAX_SLACK_BODY:
            return Refusal(413, f"a Slack request is at most {MAX_SLACK_BODY} bytes")
        body = await read_capped(request, MAX_SLACK_BODY)
        if body is None:
            return Refusal(413, f"a Slack request is at most {MAX_SLACK_BODY} bytes")
        assert self._secret is not None
        expected = hmac.new(self._secret, b"v0:" + timestamp + b":" + body, hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest().encode(), signature):
            return Refusal(401, "invalid request signature")
        signed_at = datetime.fromtimestamp(int(timestamp), UTC)
        if not await self._first_use(signature.decode(), signed_at):
            return Refusal(401, "this request was already received (a replay)")
        return parse_slack_body(body, request.headers, request.query_string)

    def _check_headers(
        self, headers: Mapping[str, str], now: float
    ) -> tuple[bytes, bytes] | Refusal:
        if self._secret is None:
            return Refusal(401, "Slack requests over HTTP are not accepted (Socket Mode)")
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not _TIMESTAMP.match(timestamp):
            return Refusal(401, "missing or malformed X-Slack-Request-Timestamp")
        if abs(now - int(timestamp)) > SIGNATURE_WINDOW:
            return Refusal(401, "stale request: the timestamp is more than 5 minutes away")
        match = _SIGNATURE.match(signature)
        if match is None:
            return Refusal(401, "missing or malformed X-Slack-Signature")
        return timestamp.encode(), match.group(1).encode()


async def read_capped(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it grows past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_slack_body(
    body: bytes, headers: Mapping[str, str], query: str = ""
) -> AsyncBoltRequest | Refusal:
    """A Bolt request, when the body is what Slack sends: UTF-8, and a JSON object or a
    form (whose `payload`, when present, is a JSON object)."""
    try:
        bolt_request = AsyncBoltRequest(
            body=body.decode("utf-8"),
            query=query,
            headers=headers,  # type: ignore[arg-type]
        )
    except Exception:  # decoding, JSON, nesting depth, or fields of the wrong shape
        return Refusal(400, "the body is not a Slack request (malformed JSON or form)")
    if not isinstance(bolt_request.body, dict):
        return Refusal(400, "the body is not a Slack request (expected an object)")
    return bolt_request
