"""Weekly check-in slots in a person's own time zone: pure date arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.okr_commands import WEEKDAYS


@dataclass(frozen=True)
class WeeklySlot:
    weekday: int  # 0 = Monday
    local_time: str  # "HH:MM"

    def describe(self) -> str:
        return f"{WEEKDAYS[self.weekday].capitalize()} {self.local_time}"

    @property
    def clock(self) -> time:
        hour, minute = self.local_time.split(":")
        return time(int(hour), int(minute))


DEFAULT_SCHEDULE = WeeklySlot(0, "09:00")


def _at(day: datetime, slot: WeeklySlot, zone: ZoneInfo) -> datetime:
    """The instant of `slot`'s clock time on `day`'s local date.

    A wall time skipped by a daylight-saving jump resolves to the instant one
    hour later on the clock (zoneinfo's fold=0 rule), so a slot is never lost.
    """
    local = datetime.combine(day.date(), slot.clock, tzinfo=zone)
    return local.astimezone(UTC)


def previous_slot(slot: WeeklySlot, now: datetime, zone: ZoneInfo) -> datetime:
    """The latest occurrence of `slot` in `zone` at or before `now` (UTC)."""
    local_now = now.astimezone(zone)
    days_back = (local_now.weekday() - slot.weekday) % 7
    candidate = _at(local_now - timedelta(days=days_back), slot, zone)
    if candidate > now:
        candidate = _at(local_now - timedelta(days=days_back + 7), slot, zone)
    return candidate


def next_slot(slot: WeeklySlot, now: datetime, zone: ZoneInfo) -> datetime:
    """The first occurrence of `slot` strictly after `now`."""
    previous = previous_slot(slot, now, zone)
    local_previous = previous.astimezone(zone)
    return _at(local_previous + timedelta(days=7), slot, zone)
