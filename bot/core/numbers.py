"""Numbers as people read and write them: one formatter, one parser, one range describer."""

from __future__ import annotations

import math
import re

from bot.core.errors import UserError

# Commas are only thousands separators: `1,200` but never `3,5` (a decimal comma).
_THOUSANDS = re.compile(r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?$")


def format_number(value: float | None) -> str:
    """`1,234,567`, `1,234.5`, `3.14`, `0.0005`; scientific only beyond 1e15 or below 1e-4.

    From 1 up, at most two decimals: `2.138` would read as two thousand in much of
    Europe, where `.` groups thousands.
    """
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if value == int(value) and magnitude < 1e15:
        return f"{value:,.0f}"
    if magnitude >= 1e15 or magnitude < 1e-4:
        return f"{value:.3g}"
    if magnitude >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


# A unit that is a plain English plural (`teams`, `partners`) is singular for exactly one.
_PLURAL_UNIT = re.compile(r"^[A-Za-z]{2,}[^sS][sS]$")


def format_value(value: float | None, unit: str | None) -> str:
    """A number with its unit: `42 teams`, `1 team`, `3.4%`, `–` when there is no value."""
    shown = format_number(value)
    if unit is None or value is None:
        return shown
    if shown in {"1", "-1"} and _PLURAL_UNIT.match(unit):
        unit = unit[:-1]
    return f"{shown}{unit}" if unit == "%" else f"{shown} {unit}"


def describe_range(low: float | None, high: float | None, unit: str | None) -> str:
    """A normal range in words: `2 – 5 %`, `at least 2 %`, `at most 5 %`, `any value`."""
    if low is not None and high is not None:
        return f"{format_number(low)} – {format_value(high, unit)}"
    if low is not None:
        return f"at least {format_value(low, unit)}"
    if high is not None:
        return f"at most {format_value(high, unit)}"
    return "any value"


def parse_number(text: str, what: str) -> float:
    """A finite number; `1,200`, `3.5%` and `1_000` are accepted, `nan`/`inf` are not."""
    cleaned = text.strip().rstrip("%")
    if "," in cleaned:
        if not _THOUSANDS.match(cleaned):
            raise UserError(f"{what} must be a number like `1200` or `1,200`, not `{text}`")
        cleaned = cleaned.replace(",", "")
    cleaned = cleaned.replace("_", "")
    try:
        value = float(cleaned)
    except ValueError:
        raise UserError(f"{what} must be a number, not `{text}`") from None
    if not math.isfinite(value):
        raise UserError(f"{what} must be a finite number, not `{text}`")
    return value
