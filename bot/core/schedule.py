"""Weekly check-in slots in a person's own time zone: pure date arithmetic."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEK = timedelta(weeks=1)


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


def zone_named(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """A person's zone from Slack's name for it, else the workspace's fallback."""
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


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


class ScheduleRow(Protocol):
    channel_id: str
    weekday: int
    local_time: str
    updated_at: datetime


@dataclass(frozen=True)
class Schedules:
    """A workspace's default slot and per-channel overrides, with when each took effect."""

    default: WeeklySlot
    default_since: datetime
    by_channel: dict[str, tuple[WeeklySlot, datetime]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[ScheduleRow], workspace_created_at: datetime) -> Schedules:
        """The default is Monday 09:00 from the workspace's creation unless a row says else."""
        default, since = DEFAULT_SCHEDULE, workspace_created_at
        overrides = {}
        for row in rows:
            slot = WeeklySlot(row.weekday, row.local_time)
            if row.channel_id:
                overrides[row.channel_id] = (slot, row.updated_at)
            else:
                default, since = slot, row.updated_at
        return cls(default, since, overrides)

    def for_channel(self, channel_id: str | None) -> tuple[WeeklySlot, datetime]:
        if channel_id and channel_id in self.by_channel:
            return self.by_channel[channel_id]
        return self.default, self.default_since


# Weeks across zones ---------------------------------------------------------------------
#
# A channel's week is named by its start in the server's zone (the "reference"). Each
# owner's period for that week is their own slot in their own zone nearest the reference,
# within half a week of it; the week is closed once the last owner's period has ended.

HALF_WEEK = WEEK / 2


def owner_week_for(slot: WeeklySlot, reference: datetime, zone: ZoneInfo) -> datetime:
    """The start of an owner's period (in their zone) for the week starting at `reference`."""
    return previous_slot(slot, reference + HALF_WEEK, zone)


def digest_end_for(slot: WeeklySlot, period_start: datetime, server_zone: ZoneInfo) -> datetime:
    """The end (dedupe-key instant) of the digest an owner period starting then counts for."""
    return previous_slot(slot, period_start + HALF_WEEK, server_zone) + WEEK


def week_closes_at(
    slot: WeeklySlot, reference: datetime, zone_names: Iterable[str], fallback: ZoneInfo
) -> datetime:
    """When the last of these owners' periods for the week starting at `reference` ends."""
    zones = {zone_named(name or None, fallback) for name in zone_names} or {fallback}
    return max(owner_week_for(slot, reference, zone) for zone in zones) + WEEK


def last_closed_week(
    slot: WeeklySlot, now: datetime, zone_names: Iterable[str], fallback: ZoneInfo
) -> datetime:
    """The reference start of the latest week every one of these owners has closed."""
    reference = previous_slot(slot, now, fallback)
    while week_closes_at(slot, reference, zone_names, fallback) > now:
        reference -= WEEK
    return reference
