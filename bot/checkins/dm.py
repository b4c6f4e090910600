"""The check-in DM grammar: `42`, `KR-4 42`, `KR-4 42 at risk: hiring slipped` (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.errors import UserError
from bot.core.numbers import parse_number
from storage.models import KeyResult

_STATUS_WORDS = {
    "on track": "on_track",
    "on-track": "on_track",
    "on_track": "on_track",
    "ontrack": "on_track",
    "at risk": "at_risk",
    "at-risk": "at_risk",
    "at_risk": "at_risk",
    "off track": "off_track",
    "off-track": "off_track",
    "off_track": "off_track",
}
_BOOLEAN_WORDS = {"done": 1.0, "yes": 1.0, "true": 1.0, "not done": 0.0, "no": 0.0, "false": 0.0}
_LINE = re.compile(
    r"""^\s*(?:(?P<kr>KR-\d+)\s*[:\-]?\s*)?
        (?P<value>not\s+done|done|yes|no|true|false|[-+]?[\d.,_]+%?|nan|inf|-inf|infinity)?
        \s*(?P<status>on[\s_-]?track|at[\s_-]risk|off[\s_-]track)?
        \s*(?:(?:conf(?:idence)?)\s*(?P<confidence>\d+)(?:\s*/\s*10)?)?
        \s*(?:[:\u2014\-]\s*(?P<note>.*))?$""",
    re.IGNORECASE | re.VERBOSE,
)

DM_HELP = (
    "Reply with a value, optionally for one key result and with a status and note, e.g. "
    "`42`, `KR-4 42` or `KR-4 42 at risk: hiring slipped` (one per line)."
)


@dataclass(frozen=True)
class Entry:
    """One key result's update, before validation against its kind."""

    key_result_number: int | None
    raw_value: str | None = None
    status: str | None = None
    confidence: int | None = None
    note: str | None = None


def parse_status(text: str | None) -> str | None:
    if not text:
        return None
    normalized = re.sub(r"\s+", " ", text.strip().lower())
    return _STATUS_WORDS.get(normalized) or _STATUS_WORDS.get(normalized.replace(" ", "_"))


def parse_dm_reply(text: str) -> list[Entry]:
    """Each non-empty line is one update: `42`, `KR-4 42`, `KR-4 42 at risk: note`."""
    entries = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None or not (match.group("value") or match.group("status")):
            raise UserError(f"I could not read line {number} (`{line.strip()[:80]}`). {DM_HELP}")
        kr = match.group("kr")
        confidence = match.group("confidence")
        note = (match.group("note") or "").strip() or None
        entries.append(
            Entry(
                key_result_number=int(kr.split("-")[1]) if kr else None,
                raw_value=match.group("value"),
                status=parse_status(match.group("status")),
                confidence=int(confidence) if confidence is not None else None,
                note=note,
            )
        )
    if not entries:
        raise UserError(DM_HELP)
    return entries


def parse_value(raw: str, key_result: KeyResult) -> float:
    """A number the key result's kind allows; a boolean also takes done/not done."""
    text = raw.strip().lower()
    label = f"KR-{key_result.number}"
    if key_result.kind == "boolean":
        if text in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[text]
        if text in {"0", "1", "0.0", "1.0"}:
            return float(text)
        raise UserError(f"{label} is done or not: answer `done` or `not done` (or 1 / 0)")
    return parse_number(raw, label)


def validate_confidence(confidence: int | None) -> int | None:
    if confidence is not None and not 0 <= confidence <= 10:
        raise UserError(f"confidence is from 0 to 10, not {confidence}")
    return confidence
