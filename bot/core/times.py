"""Instants as text: the one ISO 8601 reader (always UTC-aware) and writer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d{1,9})\s*(m|min|h|d|w)$", re.IGNORECASE)
_DURATION_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_instant(text: str) -> datetime:
    """`2026-11-25T10:00Z`, `2026-11-25 10:00[:00]`, `…+01:00`; naive means UTC.

    The result is in UTC. Raises ValueError (with a readable message) for anything
    else, including instants that fall outside the representable years.
    """
    try:
        parsed = datetime.fromisoformat(text)  # the common case, and the fast one
    except ValueError:
        cleaned = text.strip()
        if cleaned.endswith("z"):
            cleaned = cleaned[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(cleaned)
        except ValueError:
            raise ValueError(f"{text!r} is not a time like 2026-11-25T10:00:00Z") from None
    offset = parsed.utcoffset()
    if offset is None:
        return parsed.replace(tzinfo=UTC)
    if not offset:
        return parsed if parsed.tzinfo is UTC else parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is not a time like 2026-11-25T10:00:00Z") from None


def iso(at: datetime | None) -> str | None:
    """UTC instants as `2026-11-25T10:00:00Z` (JSON, YAML, CSV)."""
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


# A measurement from further ahead would count every later one as "older" (never
# evaluated) and keep "no data" from ever firing; before 1970 is no KPI's history.
MAX_AHEAD = timedelta(minutes=5)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def implausible(at: datetime, now: datetime) -> str | None:
    """Why `at` cannot be a measurement's time as of `now`, or None when it can."""
    if at > now + MAX_AHEAD:
        return (
            f"{iso(at)} is in the future: a measurement may be at most 5 minutes ahead "
            f"of now ({iso(now)})"
        )
    if at < EARLIEST:
        return f"{iso(at)} is before 1970: not a plausible time for a measurement"
    return None


MAX_DURATION = 366 * 86400  # a year: longer intervals mean nothing for a KPI


def parse_duration(text: str) -> int:
    """`30m`, `1h`, `1d`, `1w` → seconds, at most a year; raises ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(f"`{text}` is not a duration like `30m`, `1h`, `1d` or `1w`")
    seconds = int(match.group(1)) * _DURATION_SECONDS[match.group(2).lower()]
    if seconds > MAX_DURATION:
        raise ValueError(f"`{text}` is too long: at most a year (`52w`)")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact form `parse_duration` reads back: 90m, 2h, 1d, 1w."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def describe_every(seconds: int) -> str:
    """How often, in words people use: `every hour`, `every 15 minutes`, `every 2 days`
    (never `1:00:00` or `1h`)."""
    for word, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"every {word}" if count == 1 else f"every {count} {word}s"
    if seconds >= 60:
        return f"every {seconds // 60} minutes"
    return f"every {seconds} seconds"
