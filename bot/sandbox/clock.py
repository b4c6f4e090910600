"""The sandbox's movable clock: the bot's `services.clock`, moved by the page's buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.clock import utc_now


class SandboxClock:
    """Wall time plus an offset that only grows: moving it forward is how a person sees
    next Monday's prompts, reminders, digests and no-data alerts happen in front of them."""

    def __init__(self, wall: Callable[[], datetime] = utc_now) -> None:
        self._wall = wall
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self._wall() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        self.offset += delta
        return self()

    def next_weekday_at(self, weekday: int, at: time, zone: ZoneInfo) -> datetime:
        """Move to the next `weekday` (0 = Monday) at `at` in `zone`, strictly in the future."""
        now = self().astimezone(zone)
        days = (weekday - now.weekday()) % 7
        target = datetime.combine(now.date() + timedelta(days=days), at, tzinfo=zone)
        if target <= now:
            target += timedelta(days=7)
        return self.advance(target - now)
