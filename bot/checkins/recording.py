"""Recording check-ins: validation per key-result kind, free-text DM replies, skips.

Input from the modal, a DM or a command ends up in `record`, which validates
everything before it writes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.blocks.status import value_with_unit
from bot.core.errors import Forbidden, NotFound, UserError
from bot.core.grammar import parse_number
from storage.db import Database
from storage.models import CheckIn, KeyResult, Prompt
from storage.repository import Repository

STATUSES = {"on_track": "on track", "at_risk": "at risk", "off_track": "off track"}
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


@dataclass(frozen=True)
class FormEntry:
    """What the modal returned for one key result (all fields optional)."""

    value: str | None = None
    status: str | None = None
    confidence: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Recorded:
    key_result_number: int
    title: str
    value: float | None
    status: str | None
    confidence: int | None
    note: str | None
    unit: str | None


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


class CheckInService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def owned_key_results(self, team_id: str, user_id: str) -> list[KeyResult]:
        async with self.db.session() as session:
            return await Repository(session, team_id).key_results_owned_by(user_id)

    async def check_form(
        self, team_id: str, user_id: str, form: dict[int, FormEntry]
    ) -> tuple[list[tuple[Entry, KeyResult]], dict[tuple[int, str], str]]:
        """Validate modal input per field; errors are keyed by (key result, field)."""
        async with self.db.session() as session:
            repo = Repository(session, team_id)
            owned = {kr.number: kr for kr in await repo.key_results_owned_by(user_id)}
        errors: dict[tuple[int, str], str] = {}
        pairs = []
        for number, entry in form.items():
            kr = owned.get(number)
            if kr is None:
                errors[(number, "value")] = f"KR-{number} is no longer yours or no longer active"
                continue
            value = (entry.value or "").strip() or None
            status = entry.status if entry.status in STATUSES else None
            if value is None and status is None:
                continue
            if value is not None:
                try:
                    parse_value(value, kr)
                except UserError as exc:
                    errors[(number, "value")] = exc.message
                    continue
            if entry.confidence is not None and not 0 <= entry.confidence <= 10:
                errors[(number, "confidence")] = "Confidence is from 0 to 10"
                continue
            note = (entry.note or "").strip() or None
            if note is not None and len(note) > 2000:
                errors[(number, "note")] = "Keep the note under 2,000 characters"
                continue
            pairs.append((Entry(number, value, status, entry.confidence, note), kr))
        if not pairs and not errors and form:
            errors[(next(iter(form)), "value")] = "Enter a value or a status for at least one"
        return pairs, errors

    async def resolve_entries(
        self, team_id: str, user_id: str, entries: list[Entry], prompt_id: int | None
    ) -> list[tuple[Entry, KeyResult]]:
        """Pair each entry with its key result; a bare value needs exactly one candidate."""
        async with self.db.session() as session:
            repo = Repository(session, team_id)
            owned = await repo.key_results_owned_by(user_id)
            by_number = {kr.number: kr for kr in owned}
            pending = owned
            if prompt_id is not None:
                pending = await _unanswered_in_prompt(repo, prompt_id, owned)
            pairs = []
            for entry in entries:
                if entry.key_result_number is None:
                    if not owned:
                        raise UserError("you own no active key results to check in on")
                    if len(pending) != 1 or len(entries) > 1:
                        candidates = pending or owned
                        numbers = ", ".join(f"KR-{kr.number}" for kr in candidates)
                        hint = f"KR-{candidates[0].number} {entry.raw_value or ''}".strip()
                        raise UserError(
                            "which key result is that for? Start the line with its id, "
                            f"like `{hint}` (yours: {numbers})."
                        )
                    pairs.append((entry, pending[0]))
                    continue
                kr = by_number.get(entry.key_result_number)
                if kr is None:
                    exists = await repo.key_result(entry.key_result_number)
                    if exists is None:
                        raise NotFound(f"there is no key result KR-{entry.key_result_number}")
                    raise Forbidden(
                        f"KR-{entry.key_result_number} belongs to <@{exists.owner_id}>: "
                        "only its owner checks in on it"
                    )
                pairs.append((entry, kr))
        return pairs

    async def record(
        self,
        team_id: str,
        author_id: str,
        pairs: list[tuple[Entry, KeyResult]],
        source: str,
        now: datetime,
        prompt_id: int | None = None,
    ) -> list[Recorded]:
        """Validate every entry, then store them all in one transaction (or none)."""
        validated = []
        for entry, kr in pairs:
            value = parse_value(entry.raw_value, kr) if entry.raw_value else None
            if value is None and entry.status is None:
                raise UserError(f"KR-{kr.number}: give a value or a status")
            validated.append((entry, kr, value, validate_confidence(entry.confidence)))
        recorded = []
        async with self.db.session() as session:
            repo = Repository(session, team_id)
            if prompt_id is None:
                prompt_id = await _open_prompt_id(repo, author_id, now)
            for entry, kr, value, confidence in validated:
                row = await repo.key_result(kr.number)
                if row is None:  # deleted since the form was opened
                    raise NotFound(f"KR-{kr.number} no longer exists")
                await repo.add_check_in(
                    CheckIn(
                        team_id=team_id,
                        key_result_id=row.id,
                        value=value,
                        status=entry.status,
                        confidence=confidence,
                        note=entry.note,
                        author_id=author_id,
                        source=source,
                        created_at=now,
                        prompt_id=prompt_id,
                    )
                )
                if value is not None:
                    row.current_value = value
                if confidence is not None:
                    row.confidence = confidence
                row.updated_at = now
                recorded.append(
                    Recorded(
                        row.number, row.title, value, entry.status, confidence, entry.note, row.unit
                    )
                )
            if prompt_id is not None:
                prompt = await session.get(Prompt, prompt_id)
                if prompt is not None and prompt.team_id == team_id and prompt.answered_at is None:
                    prompt.answered_at = now
                    prompt.state = "answered"
        return recorded


async def _unanswered_in_prompt(
    repo: Repository, prompt_id: int, owned: list[KeyResult]
) -> list[KeyResult]:
    """Owned key results without a check-in for this prompt yet."""
    answered = set(
        (
            await repo.session.scalars(
                select(CheckIn.key_result_id).where(
                    CheckIn.team_id == repo.team_id, CheckIn.prompt_id == prompt_id
                )
            )
        ).all()
    )
    return [kr for kr in owned if kr.id not in answered]


async def _open_prompt_id(repo: Repository, user_id: str, now: datetime) -> int | None:
    """The owner's latest prompt whose period has started: late answers count for it."""
    prompt = await repo.session.scalar(
        select(Prompt)
        .where(
            Prompt.team_id == repo.team_id,
            Prompt.user_id == user_id,
            Prompt.period_start <= now,
        )
        .order_by(Prompt.period_start.desc())
        .limit(1)
    )
    return prompt.id if prompt is not None else None


def describe(recorded: Recorded) -> str:
    parts = [f"*KR-{recorded.key_result_number}* {recorded.title}"]
    if recorded.value is not None:
        parts.append(value_with_unit(recorded.value, recorded.unit))
    if recorded.status:
        parts.append(STATUSES[recorded.status])
    if recorded.confidence is not None:
        parts.append(f"confidence {recorded.confidence}/10")
    line = " · ".join(parts)
    if recorded.note:
        line += f" — “{recorded.note}”"
    return line
