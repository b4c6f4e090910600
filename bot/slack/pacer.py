"""One Slack budget per workspace, shared by every sender in this process.

Slack limits Web API calls per method, per workspace and app, in tiers (Tier 2
about 20 a minute, Tier 3 about 50, Tier 4 about 100), and `chat.postMessage`
separately: about one message per second per channel, plus a workspace-wide
ceiling. Every call waits for its (team, method) bucket, and a post to a
channel for that channel's bucket too, before it goes out. A 429 pauses the
team's method for `Retry-After` for every caller, not only the one that got it,
so sixty-four workers do not keep hammering a limit one of them already hit.

Across replicas the outbox makes one process per workspace the sender (see
`bot.slack.outbox`), so one process's budget is the workspace's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from aiolimiter import AsyncLimiter

POST_METHOD = "chat.postMessage"
PER_MINUTE = {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0}
METHOD_TIERS = {
    "users.list": 2,
    "conversations.list": 2,
    "conversations.open": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.info": 3,
    "chat.update": 3,
    "chat.delete": 3,
    "users.lookupByEmail": 3,
    "users.info": 4,
    "conversations.members": 4,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "views.open": 4,
    "views.update": 4,
    "views.push": 4,
    "views.publish": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
}
UNPACED = frozenset({"api.test", "auth.test"})  # not tiered, and needed to start at all
DEFAULT_TIER = 3
CHANNEL_POSTS_PER_SECOND = 1.0
IDLE_CHANNEL_BUCKETS = 300.0  # seconds before an unused per-channel bucket is dropped


# Set while a caller makes a call it has already waited for (see `Pacer.prepaid`).
_PREPAID: ContextVar[bool] = ContextVar("okrbot_pacer_prepaid", default=False)


def is_channel(channel: str | None) -> bool:
    """A public or private channel id (a DM to a user id is its own channel of one)."""
    return bool(channel) and str(channel)[:1] in {"C", "G"}


class Pacer:
    """Per-team, per-method leaky buckets (aiolimiter) plus a shared pause after a 429."""

    def __init__(
        self,
        posts_per_second: float = 50.0,
        *,
        post_burst: float | None = None,
        on_rate_limited: Callable[[str], None] | None = None,
    ) -> None:
        # A small burst keeps Slack's own bucket near full, so jitter in arrival times
        # does not turn into 429s; the rate is what the workspace allows.
        self.posts_per_second = posts_per_second
        self._post_burst = post_burst or max(1.0, posts_per_second / 25)
        self._buckets: dict[tuple[str, str], AsyncLimiter] = {}
        self._channels: dict[tuple[str, str], tuple[AsyncLimiter, float]] = {}
        self._paused_until: dict[tuple[str, str], float] = {}
        self._on_rate_limited = on_rate_limited
        self._last_prune = time.monotonic()

    def _bucket(self, team_id: str, method: str) -> AsyncLimiter:
        key = (team_id, method)
        bucket = self._buckets.get(key)
        if bucket is None:
            if method == POST_METHOD:
                burst = self._post_burst
                bucket = AsyncLimiter(burst, burst / self.posts_per_second)
            else:
                bucket = AsyncLimiter(PER_MINUTE[METHOD_TIERS.get(method, DEFAULT_TIER)], 60)
            self._buckets[key] = bucket
        return bucket

    def _channel_bucket(self, team_id: str, channel: str) -> AsyncLimiter:
        now = time.monotonic()
        if now - self._last_prune > IDLE_CHANNEL_BUCKETS:
            self._channels = {
                k: v for k, v in self._channels.items() if now - v[1] < IDLE_CHANNEL_BUCKETS
            }
            self._last_prune = now
        bucket, _ = self._channels.get((team_id, channel), (None, 0.0))
        if bucket is None:
            bucket = AsyncLimiter(1, 1 / CHANNEL_POSTS_PER_SECOND)
        self._channels[(team_id, channel)] = (bucket, now)
        return bucket

    def paused_for(self, team_id: str, method: str) -> float:
        """Seconds left of a 429's pause of this team's method (0 when not paused)."""
        return max(0.0, self._paused_until.get((team_id, method), 0.0) - time.monotonic())

    def pause(self, team_id: str, method: str, seconds: float) -> None:
        """Slack said 429: nobody in this process calls `method` for the team for `seconds`."""
        key = (team_id, method)
        self._paused_until[key] = max(
            self._paused_until.get(key, 0.0), time.monotonic() + max(seconds, 0.0)
        )
        if self._on_rate_limited is not None:
            self._on_rate_limited(method)

    @contextmanager
    def prepaid(self) -> Iterator[None]:
        """The next call in this block was waited for already (`wait` before it): the
        outbox takes its turn first and marks the attempt after, so rows waiting for
        the budget are never "attempted" and need no reconciling after a crash."""
        token = _PREPAID.set(True)
        try:
            yield
        finally:
            _PREPAID.reset(token)

    def take_prepaid(self) -> bool:
        """True once inside `prepaid` (the call's own wait is skipped); retries wait."""
        if _PREPAID.get():
            _PREPAID.set(False)
            return True
        return False

    async def wait(self, team_id: str, method: str, channel: str | None = None) -> None:
        """Return when a call of `method` for the team (to `channel`) may go out now."""
        if method in UNPACED:
            return
        if method == POST_METHOD and channel is not None and is_channel(channel):
            await self._wait_out_pause(team_id, method)
            await self._channel_bucket(team_id, channel).acquire()
        bucket = self._bucket(team_id, method)
        while True:
            await self._wait_out_pause(team_id, method)
            await bucket.acquire()
            if not self.paused_for(team_id, method):
                return
            # A 429 arrived while we queued: the capacity we took is forfeit; wait again.

    async def _wait_out_pause(self, team_id: str, method: str) -> None:
        # A pause can only grow while we sleep (another 429), so look again after it.
        left = self.paused_for(team_id, method)
        while left > 0:
            await asyncio.sleep(left)
            left = self.paused_for(team_id, method)
