"""The `/kpi` grammar: command text → a typed command, or a UserError with usage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.core import times
from bot.core.errors import UserError
from bot.core.grammar import (
    ChannelRef,
    Token,
    UserRef,
    parse_channel,
    parse_user,
    tokenize,
)
from bot.core.numbers import parse_number

KPI_KEY = re.compile(r"^[a-z][a-z0-9_.\-]{0,99}$")

USAGE = {
    "add": (
        '/kpi add signup_rate "Signup conversion" [unit %] [min 2] [max 5] [channel #c] '
        "[owner @u] [every 1h] [after 3] [history 30]"
    ),
    "edit": (
        '/kpi edit signup_rate ["Name"] [unit u] [min X|none] [max Y|none] [channel #c] '
        "[owner @u] [every 1h|none] [after N] [history N]"
    ),
    "delete": "/kpi delete signup_rate",
    "list": "/kpi list",
    "show": "/kpi show signup_rate",
    "record": "/kpi record signup_rate 3.4 [at 2026-11-25T10:00Z]",
}

HELP_TEXT = "\n".join(
    [
        "*KPIs* are the health measurements okrbot watches for you.",
        f"• `{USAGE['add']}` — without min/max the normal range is learned from history",
        f"• `{USAGE['record']}`",
        f"• `{USAGE['list']}`, `{USAGE['show']}`",
        f"• `{USAGE['edit']}`",
        f"• `{USAGE['delete']}`",
        "`every` is how often data should arrive (a *no data* alert follows when it does not); "
        "`after N` opens an alert only after N abnormal values in a row; "
        "`history N` is how many values to learn from before alerting.",
    ]
)


@dataclass(frozen=True)
class KpiHelp:
    pass


@dataclass(frozen=True)
class KpiSettings:
    """Fields a KPI add/edit may name; None = not given."""

    name: str | None = None
    unit: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    channel: ChannelRef | None = None
    owner: UserRef | None = None
    expected_interval_seconds: int | None = None
    consecutive: int | None = None
    min_history: int | None = None
    clear: frozenset[str] = frozenset()


@dataclass(frozen=True)
class KpiAdd:
    key: str
    settings: KpiSettings


@dataclass(frozen=True)
class KpiEdit:
    key: str
    settings: KpiSettings


@dataclass(frozen=True)
class KpiDelete:
    key: str


@dataclass(frozen=True)
class KpiList:
    pass


@dataclass(frozen=True)
class KpiShow:
    key: str


@dataclass(frozen=True)
class KpiRecord:
    key: str
    value: float
    at: datetime | None = None


KpiCommand = KpiHelp | KpiAdd | KpiEdit | KpiDelete | KpiList | KpiShow | KpiRecord


def parse_key(text: str | None, usage: str) -> str:
    if not text:
        raise UserError("missing KPI key, like `signup_rate`", usage)
    key = text.strip()
    if not KPI_KEY.match(key):
        raise UserError(
            f"`{key}` is not a KPI key: use lowercase letters, digits and _ . - "
            "(like `signup_rate`)",
            usage,
        )
    return key


def parse_duration(text: str, usage: str) -> int:
    try:
        return times.parse_duration(text)
    except ValueError as exc:
        raise UserError(str(exc), usage) from None


def parse_instant(text: str) -> datetime:
    """ISO 8601 (`2026-11-25T10:00Z`) or `2026-11-25 10:00[:00]`; naive means UTC."""
    try:
        return times.parse_instant(text)
    except ValueError:
        raise UserError(f"`{text}` is not a time like `2026-11-25T10:00Z`") from None


def _count(text: str, what: str, usage: str, low: int, high: int) -> int:
    digits = text.isascii() and text.isdigit() and len(text) <= len(str(high))
    if not digits or not low <= int(text) <= high:
        raise UserError(f"`{what}` takes a whole number from {low} to {high}, not `{text}`", usage)
    return int(text)


def _settings(tokens: list[Token], usage: str, *, editing: bool) -> KpiSettings:
    fields: dict[str, object] = {}
    clear: set[str] = set()
    i = 0
    if tokens and tokens[0].quoted:
        name = tokens[0].text.strip()
        if not name or len(name) > 200:
            raise UserError("the name must be 1 to 200 characters", usage)
        fields["name"] = name
        i = 1
    while i < len(tokens):
        word = tokens[i].text.lower()
        if tokens[i].quoted:
            raise UserError(f'unexpected quoted text "{tokens[i].text}"', usage)
        known = {"unit", "min", "max", "channel", "owner", "every", "after", "history"}
        if word not in known:
            raise UserError(f"unexpected `{tokens[i].text}`", usage)
        if i + 1 >= len(tokens):
            raise UserError(f"`{word}` needs a value", usage)
        if word in fields or word in clear:
            raise UserError(f"`{word}` is given twice", usage)
        value = tokens[i + 1].text
        i += 2
        if editing and value.lower() in {"none", "off"} and word in {"min", "max", "every"}:
            clear.add(word)
            continue
        try:
            _set_field(fields, word, value, usage)
        except UserError as exc:
            raise exc.with_usage(usage) from None
    low, high = fields.get("min_value"), fields.get("max_value")
    if isinstance(low, float) and isinstance(high, float) and low > high:
        raise UserError(f"`min` ({low:g}) is above `max` ({high:g})", usage)
    return KpiSettings(clear=frozenset(clear), **fields)  # type: ignore[arg-type]


def _set_field(fields: dict[str, object], word: str, value: str, usage: str) -> None:
    if word == "unit":
        if len(value) > 32:
            raise UserError("the unit is too long (at most 32 characters)", usage)
        fields["unit"] = value
    elif word in {"min", "max"}:
        fields[f"{word}_value"] = parse_number(value, f"`{word}`")
    elif word == "channel":
        ref = parse_channel(value)
        if ref is None:
            raise UserError(f"`{value}` is not a channel: mention it like `#growth`", usage)
        fields["channel"] = ref
    elif word == "owner":
        user = parse_user(value)
        if user is None:
            raise UserError(f"`{value}` is not a user: mention them like `@ana`", usage)
        fields["owner"] = user
    elif word == "every":
        fields["expected_interval_seconds"] = parse_duration(value, usage)
    elif word == "after":
        fields["consecutive"] = _count(value, "after", usage, 1, 100)
    elif word == "history":
        fields["min_history"] = _count(value, "history", usage, 5, 10_000)


def parse_kpi_command(text: str) -> KpiCommand:
    try:
        tokens = tokenize(text)
    except UserError as exc:
        words = text.split()
        raise exc.with_usage(USAGE.get(words[0].lower() if words else "", "/kpi help")) from None
    if not tokens or tokens[0].text.lower() in {"help", "-h", "--help", "?"}:
        return KpiHelp()
    action = tokens[0].text.lower()
    args = tokens[1:]
    if action not in USAGE:
        raise UserError(
            f"unknown command `{tokens[0].text}`: try `/kpi help`",
            "/kpi [add | edit | delete | list | show | record | help]",
        )
    usage = USAGE[action]
    if action == "list":
        if args:
            raise UserError("`list` takes no arguments", usage)
        return KpiList()
    key = parse_key(args[0].text if args else None, usage)
    args = args[1:]
    if action == "add":
        settings = _settings(args, usage, editing=False)
        if settings.name is None:
            raise UserError('missing name: put it in quotes, like "Signup conversion"', usage)
        return KpiAdd(key, settings)
    if action == "edit":
        settings = _settings(args, usage, editing=True)
        if settings == KpiSettings():
            raise UserError("nothing to change: name at least one field", usage)
        return KpiEdit(key, settings)
    if action in {"delete", "show"}:
        if args:
            raise UserError(f"`{action}` takes only the KPI key", usage)
        return KpiDelete(key) if action == "delete" else KpiShow(key)
    # record
    if not args:
        raise UserError("missing value", usage)
    try:
        value = parse_number(args[0].text, "the value")
    except UserError as exc:
        raise exc.with_usage(usage) from None
    at = None
    rest = args[1:]
    if rest:
        if rest[0].text.lower() != "at" or len(rest) < 2:
            raise UserError(f"unexpected `{rest[0].text}`", usage)
        try:
            at = parse_instant(" ".join(t.text for t in rest[1:]))
        except UserError as exc:
            raise exc.with_usage(usage) from None
    return KpiRecord(key, value, at)
