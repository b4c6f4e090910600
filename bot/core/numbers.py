"""Numbers as people read and write them: one formatter, one parser, one range describer."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.core.errors import UserError

DIGITS = frozenset("0123456789")
SIGNS = {"+": 1, "-": -1, "\u2212": -1}  # U+2212 is the typographic minus
CURRENCIES = frozenset("$€£¥₹")
# Written after a number: `3k`, `1.2M`, `2bn`. A lowercase `m` is left alone (metres,
# minutes); `M` is a million, as in finance.
MULTIPLIERS = {"k": 3, "K": 3, "M": 6, "mn": 6, "B": 9, "bn": 9}
# Digits with single `,` `.` `_` between them (or `.5`): no two ways to match a text, so
# the regex engine never backtracks and the scan is linear in C, not a loop in Python.
_BODY = re.compile(r"(?:[0-9]+|\.[0-9]+)(?:[,._][0-9]+)*")
_EXPONENT = re.compile(r"[eE]([+-]?)([0-9]+)")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")


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


def singular_unit(unit: str) -> str | None:
    """`team` for `teams`; None for a unit that is not a plain English plural."""
    return unit[:-1] if _PLURAL_UNIT.match(unit) else None


def format_value(value: float | None, unit: str | None) -> str:
    """A number with its unit: `42 teams`, `1 team`, `3.4%`, `–` when there is no value."""
    shown = format_number(value)
    if unit is None or value is None:
        return shown
    if shown in {"1", "-1"}:
        unit = singular_unit(unit) or unit
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


@dataclass(frozen=True)
class Scanned:
    """A number found at the start of a text: its value (None if malformed) and its end."""

    value: float | None
    end: int
    problem: str | None = None


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _mantissa(digits: str) -> str | None:
    """`1,234.5` / `1,8` / `1_000` / `.5` as a plain decimal string, or None when ambiguous.

    Commas in groups of three are thousands (`50,000`, `1,234.5`); a single comma
    that is not followed by exactly three digits is a decimal comma (`1,8`, `12,34`).
    Anything else (`1,2,3`, `1.2.3`, `1,23.4`) is refused rather than guessed.
    """
    digits = digits.replace("_", "")
    whole, dot, fraction = digits.partition(".")
    if "." in fraction or "," in fraction:
        return None
    if "," in whole:
        if _THOUSANDS.fullmatch(whole):
            whole = whole.replace(",", "")
        elif whole.count(",") == 1 and not dot:
            left, _, right = whole.partition(",")
            return f"{left}.{right}" if left and right else None
        else:
            return None
    if not whole and not fraction:
        return None
    return f"{whole or '0'}.{fraction or '0'}"


def scan_number(text: str, start: int = 0) -> Scanned | None:
    """Read a number at `text[start:]` in one pass, or None when none starts there.

    Accepted: a sign, a currency sign before or after it (`$50,000`, `-$5`), digits
    with thousands commas, a decimal point or an unambiguous decimal comma, `_`
    between digits, an exponent (`1e-05`, `1.23e+15`, as `format_number` prints),
    then a multiplier (`3k`, `1.2M`, `2bn`) and `%`. Linear in the length read.
    """
    n = len(text)
    i = start
    sign = 1
    if i < n and text[i] in SIGNS:
        sign = SIGNS[text[i]]
        i += 1
    if i < n and text[i] in CURRENCIES:
        i += 1
        if sign == 1 and i < n and text[i] in SIGNS:
            sign = SIGNS[text[i]]
            i += 1
    body = _BODY.match(text, i)
    if body is None:
        return None
    i = body.end()
    mantissa = _mantissa(body.group())
    exponent = 0
    if (found := _EXPONENT.match(text, i)) is not None:
        digits = found.group(2)
        # Beyond six digits the exponent can only overflow or underflow a float.
        exponent = int(digits) if len(digits) <= 6 else 10**6
        exponent = -exponent if found.group(1) == "-" else exponent
        i = found.end()
    for word, power in MULTIPLIERS.items():
        end = i + len(word)
        if text.startswith(word, i) and (end >= n or not _is_word_char(text[end])):
            exponent += power
            i = end
            break
    if i < n and text[i] in CURRENCIES:
        i += 1
    if i < n and text[i] == "%":
        i += 1
    if mantissa is None:
        return Scanned(None, i, "ambiguous")
    value = float(f"{'-' if sign < 0 else ''}{mantissa}e{exponent}")
    if not math.isfinite(value):
        return Scanned(None, i, "not finite")
    return Scanned(value, i)


def parse_number(text: str, what: str) -> float:
    """A finite number, the whole text: `1,200`, `3.5%`, `1_000`, `$50,000`, `1.2M`, `1,8`.

    `nan`/`inf` are refused, and so is a comma that could mean two things (`1,2,3`).
    """
    cleaned = text.strip()
    lowered = cleaned.lower().lstrip("+-")
    if lowered in {"nan", "inf", "infinity"}:
        raise UserError(f"{what} must be a finite number, not `{text}`")
    scanned = scan_number(cleaned)
    if scanned is None or scanned.end != len(cleaned):
        raise UserError(f"{what} must be a number, not `{text}`")
    if scanned.problem == "ambiguous":
        raise UserError(f"{what} must be a number like `1200`, `1,200` or `1,5`, not `{text}`")
    if scanned.value is None:
        raise UserError(f"{what} must be a finite number, not `{text}`")
    return scanned.value
