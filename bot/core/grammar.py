"""Tokenizing slash-command text: quotes, mentions, ids and numbers.

Pure functions with no Slack calls; a mention by name (`@ana`, `#growth`) is
returned unresolved and the caller resolves it against the workspace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.errors import UserError
from bot.core.numbers import parse_number

OPEN_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d", "\u201e": "\u201d"}
CLOSE_QUOTES = {'"', "\u201c", "\u201d"}

_USER_ESCAPED = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_CHANNEL_ESCAPED = re.compile(r"^<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>$")
_USER_PLAIN = re.compile(r"^@([\w.\-]+)$")
_CHANNEL_PLAIN = re.compile(r"^#([\w\-]+)$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
# At most 9 digits: an id must fit the database's 32-bit integer column.
_OBJECTIVE_ID = re.compile(r"^O-([0-9]{1,9})$", re.IGNORECASE)
_KEY_RESULT_ID = re.compile(r"^KR-([0-9]{1,9})$", re.IGNORECASE)
_CYCLE = re.compile(r"^([0-9]{4})(?:-(Q[1-4]|H[12]))?$", re.IGNORECASE)
_CYCLE_YEARS = range(1900, 3000)


@dataclass(frozen=True)
class Token:
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class UserRef:
    """A user named in a command: by id (escaped mention) or by handle (`@ana`)."""

    user_id: str | None = None
    name: str | None = None

    def label(self) -> str:
        return f"<@{self.user_id}>" if self.user_id else f"@{self.name}"


@dataclass(frozen=True)
class ChannelRef:
    channel_id: str | None = None
    name: str | None = None

    def label(self) -> str:
        return f"<#{self.channel_id}>" if self.channel_id else f"#{self.name}"


def tokenize(text: str) -> list[Token]:
    """Split on whitespace; straight or curly double quotes group words into one token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in OPEN_QUOTES:
            j = i + 1
            while j < n and text[j] not in CLOSE_QUOTES:
                j += 1
            if j >= n:
                raise UserError("a quote is not closed: put the title between two quotes")
            tokens.append(Token(text[i + 1 : j].strip(), quoted=True))
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in OPEN_QUOTES:
            j += 1
        tokens.append(Token(text[i:j]))
        i = j
    return tokens


def parse_user(text: str) -> UserRef | None:
    if m := _USER_ESCAPED.match(text):
        return UserRef(user_id=m.group(1))
    if m := _USER_PLAIN.match(text):
        return UserRef(name=m.group(1).lower())
    if _USER_ID.match(text):
        return UserRef(user_id=text)
    return None


def parse_channel(text: str) -> ChannelRef | None:
    if m := _CHANNEL_ESCAPED.match(text):
        return ChannelRef(channel_id=m.group(1))
    if m := _CHANNEL_PLAIN.match(text):
        return ChannelRef(name=m.group(1).lower())
    if _CHANNEL_ID.match(text):
        return ChannelRef(channel_id=text)
    return None


def parse_objective_id(text: str) -> int | None:
    m = _OBJECTIVE_ID.match(text)
    return int(m.group(1)) if m else None


def parse_key_result_id(text: str) -> int | None:
    m = _KEY_RESULT_ID.match(text)
    return int(m.group(1)) if m else None


def parse_range(text: str) -> tuple[float, float]:
    """`2..5` → (2.0, 5.0); low must not exceed high."""
    if ".." not in text:
        raise UserError(f"a range is written `low..high`, like `2..5`, not `{text}`")
    low_text, high_text = text.split("..", 1)
    low = parse_number(low_text, "the range's low end")
    high = parse_number(high_text, "the range's high end")
    if low > high:
        raise UserError(f"the range's low end ({low:g}) is above its high end ({high:g})")
    return low, high


def parse_cycle(text: str) -> str:
    """`2026-q4` → `2026-Q4`; years, quarters and halves are the cycles we know."""
    m = _CYCLE.match(text.strip())
    if not m or int(m.group(1)) not in _CYCLE_YEARS:
        raise UserError(
            f"unknown cycle `{text}`: use a year (`2026`), a quarter (`2026-Q4`) "
            "or a half (`2026-H1`)"
        )
    year, part = m.group(1), m.group(2)
    return f"{year}-{part.upper()}" if part else year


def parse_clock_time(text: str) -> str | None:
    """`09:00`, `9:30`, `21:00`, `9am`, `9:30am`, `12pm`, `9 am` → `HH:MM`; else None.

    ASCII digits only (a superscript two is a digit to `str.isdigit`, not to a clock).
    """
    word = text.strip().lower().replace(" ", "").replace(".", "")
    meridiem = None
    for suffix in ("am", "pm", "a", "p"):
        if word.endswith(suffix):
            meridiem, word = suffix[0], word[: -len(suffix)]
            break
    hour_text, colon, minute_text = word.partition(":")
    if not colon:
        if meridiem is None:
            return None  # a bare `9` or `0900` is too easy to misread
        minute_text = "00"
    if not _ascii_digits(hour_text, 1, 2) or not _ascii_digits(minute_text, 2, 2):
        return None
    hour, minute = int(hour_text), int(minute_text)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    if not (0 <= hour < 24 and 0 <= minute < 60):
        return None
    return f"{hour:02d}:{minute:02d}"


def _ascii_digits(text: str, shortest: int, longest: int) -> bool:
    return shortest <= len(text) <= longest and all(ch in "0123456789" for ch in text)
