"""Recording check-ins: validation per key-result kind, then one transaction or nothing.

Input from the modal, a DM or a command ends up in `record`, which validates
everything before it writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.blocks.checkins import KeyResultLine, Recorded
from bot.checkins.behalf import Entrants
from bot.checkins.dm import Entry, parse_value, validate_confidence
from bot.core.errors import NotFound, UserError
from bot.core.progress import STATUSES, Measure, progress
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import CheckIn, KeyResult, Prompt

NOTE_LIMIT = 2000


@dataclass(frozen=True)
class FormEntry:
    """What the modal returned for one key result (all fields optional)."""

    value: str | None = None
    status: str | None = None
    confidence: int | None = None
    note: str | None = None


def key_result_line(
    kr: KeyResult, latest: CheckIn | None, recorded: CheckIn | None = None
) -> KeyResultLine:
    """How a key result appears in a prompt or the modal, with what a prompt recorded."""
    measure = Measure(
        kr.kind, kr.start_value, kr.target_value, kr.range_low, kr.range_high, kr.current_value
    )
    return KeyResultLine(
        number=kr.number,
        title=kr.title,
        kind=kr.kind,
        current=kr.current_value,
        target=kr.target_value,
        low=kr.range_low,
        high=kr.range_high,
        unit=kr.unit,
        progress=progress(measure),
        status=latest.status if latest else None,
        confidence=kr.confidence,
        recorded=None if recorded is None else recorded_from(kr, recorded),
    )


def recorded_from(kr: KeyResult, check_in: CheckIn) -> Recorded:
    return Recorded(
        kr.number,
        kr.title,
        check_in.value,
        check_in.status,
        check_in.confidence,
        check_in.note,
        kr.unit,
        check_in.author_id if check_in.entered_by not in {None, check_in.author_id} else None,
    )


class CheckInService:
    def __init__(self, db: Database, directory: Directory | None = None) -> None:
        self._db = db
        self._entrants = Entrants(db, directory)

    async def lines_for(
        self,
        team_id: str,
        user_id: str,
        numbers: list[int] | None,
        now: datetime | None = None,
    ) -> list[KeyResultLine]:
        """Form lines for the caller's key results (all of them, or the ones named, which
        may be someone else's when the caller may check in on their behalf)."""
        async with self._db.team(team_id) as store:
            owned = await store.okrs.key_results_owned_by(user_id)
            if numbers is not None:
                by_number = {kr.number: kr for kr in owned}
                chosen = []
                for number in numbers:
                    if number in by_number:
                        chosen.append(by_number[number])
                        continue
                    other = await store.okrs.key_result(number)
                    if other is None:
                        raise NotFound(f"there is no key result KR-{number} in this workspace")
                    chosen.append(other)
                owned = chosen
            if not owned:
                raise UserError("you own no active key results to check in on")
            latest = await store.checkins.latest(kr.id for kr in owned)
        await self._entrants.require(team_id, user_id, owned, now)
        return [key_result_line(kr, latest.get(kr.id)) for kr in owned]

    async def check_form(
        self,
        team_id: str,
        user_id: str,
        form: dict[int, FormEntry],
        now: datetime | None = None,
    ) -> tuple[list[tuple[Entry, KeyResult]], dict[tuple[int, str], str]]:
        """Validate modal input per field; errors are keyed by (key result, field)."""
        async with self._db.team(team_id) as store:
            owned = {kr.number: kr for kr in await store.okrs.key_results_owned_by(user_id)}
            others = [
                kr
                for kr, _ in await store.habits.active_key_results(
                    n for n in form if n not in owned
                )
            ]
        allowed = await self._entrants.allowed(team_id, user_id, others, now)
        owned.update({kr.number: kr for kr in others if kr.id in allowed})
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
            if note is not None and len(note) > NOTE_LIMIT:
                errors[(number, "note")] = f"Keep the note under {NOTE_LIMIT:,} characters"
                continue
            pairs.append((Entry(number, value, status, entry.confidence, note), kr))
        if not pairs and not errors and form:
            errors[(next(iter(form)), "value")] = "Enter a value or a status for at least one"
        return pairs, errors

    async def resolve_entries(
        self,
        team_id: str,
        user_id: str,
        entries: list[Entry],
        prompt_id: int | None,
        now: datetime | None = None,
    ) -> list[tuple[Entry, KeyResult]]:
        """Pair each entry with its key result; a bare value needs exactly one candidate."""
        async with self._db.team(team_id) as store:
            owned = await store.okrs.key_results_owned_by(user_id)
            by_number = {kr.number: kr for kr in owned}
            pending = owned
            if prompt_id is not None:
                answered = await store.checkins.answered_key_results(prompt_id)
                pending = [kr for kr in owned if kr.id not in answered]
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
                    exists = await store.okrs.key_result(entry.key_result_number)
                    if exists is None:
                        raise NotFound(f"there is no key result KR-{entry.key_result_number}")
                    kr = exists  # someone else's: checked below
                pairs.append((entry, kr))
        await self._entrants.require(team_id, user_id, [kr for _, kr in pairs], now)
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
        """Validate every entry, then store them all in one transaction (or none).

        `author_id` is who typed it; each check-in is for its key result's owner and
        answers that owner's prompt (an admin may check in on someone's behalf)."""
        validated = []
        for entry, kr in pairs:
            value = parse_value(entry.raw_value, kr) if entry.raw_value else None
            if value is None and entry.status is None:
                raise UserError(f"KR-{kr.number}: give a value or a status")
            validated.append((entry, kr, value, validate_confidence(entry.confidence)))
        recorded = []
        async with self._db.team(team_id) as store:
            # The prompt answered, per key-result owner: the one named (if it is theirs),
            # else their latest that has begun, so late answers count for their period.
            named = await store.prompts.get(prompt_id) if prompt_id is not None else None
            answered: dict[str, Prompt | None] = {}
            for entry, kr, value, confidence in validated:
                row = await store.okrs.key_result(kr.number)
                if row is None:  # deleted since the form was opened
                    raise NotFound(f"KR-{kr.number} no longer exists")
                owner = row.owner_id
                if owner not in answered:
                    answered[owner] = (
                        named
                        if named is not None and named.user_id == owner
                        else await store.prompts.latest_started(owner, now, open_only=False)
                    )
                prompt = answered[owner]
                check_in = CheckIn(
                    team_id=team_id,
                    key_result_id=row.id,
                    value=value,
                    status=entry.status,
                    confidence=confidence,
                    note=entry.note,
                    author_id=owner,
                    entered_by=author_id,
                    source=source,
                    created_at=now,
                    prompt_id=prompt.id if prompt is not None else None,
                )
                await store.checkins.add(check_in)
                if value is not None:
                    row.current_value = value
                if confidence is not None:
                    row.confidence = confidence
                row.updated_at = now
                recorded.append(recorded_from(row, check_in))
            for prompt in answered.values():
                _mark_answered(prompt, now)
        return recorded


def _mark_answered(prompt: Prompt | None, now: datetime) -> None:
    if prompt is not None and prompt.answered_at is None:
        prompt.answered_at = now
        prompt.state = "answered"
