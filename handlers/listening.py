"""What every listener shares when something fails: a log line and an apology.

Bolt's global error handler (`app.error(apologise)`) covers failures before a
listener acknowledges. A listener that raises *after* `ack()` in Bolt's async mode
makes Bolt answer Slack 404 after 3 s, so listeners that do work after acknowledging
are wrapped in `guarded`, which hands the error to the same apology.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

SORRY = ":x: Sorry, something went wrong on our side and nothing was changed. Please try again."


def _dig(body: Any, *path: str) -> str | None:
    """body[path…] when every step is a mapping, else None (payloads are untrusted)."""
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body if isinstance(body, str) and body else None


async def apologise(error: Exception, body: dict[str, Any], client: AsyncWebClient | None) -> None:
    """Bolt's global error handler (actions, views, events): log who and what, and tell
    the person instead of leaving them with nothing."""
    kind = _dig(body, "type") or ""
    team = _dig(body, "team", "id") or _dig(body, "team_id")
    user = _dig(body, "user", "id") or _dig(body, "event", "user")
    raw_actions = body.get("actions")
    actions = raw_actions if isinstance(raw_actions, list) else []
    what = (
        ",".join(str(a.get("action_id")) for a in actions if isinstance(a, dict))
        or _dig(body, "view", "callback_id")
        or _dig(body, "event", "type")
    )
    log.error(
        "listener failed",
        exc_info=error,
        extra={"team_id": team, "user_id": user, "request_type": kind, "action": what},
    )
    channel = _dig(body, "channel", "id") or _dig(body, "event", "channel")
    if client is None or not user or not channel or kind == "view_submission":
        return  # Slack itself says a modal failed; a Home tab has no place for a reply
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=SORRY)
    except Exception:  # the apology is best effort: Slack may be what failed
        log.warning("could not apologise", extra={"team_id": team, "user_id": user})


def guarded(listener: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """The listener, with its failures logged and apologised for instead of raised.

    Bolt injects arguments by the listener's own names (it unwraps), so the listener
    should take `body` and `client` for the apology to reach the person.
    """

    @functools.wraps(listener)
    async def run(**kwargs: Any) -> None:
        try:
            await listener(**kwargs)
        except Exception as exc:
            await apologise(exc, kwargs.get("body") or {}, kwargs.get("client"))

    return run
