"""Recording check-ins: validation per key-result kind, then one transaction or nothing.

Input from the modal, a DM or a command ends up in `record`, which validates
everything before it writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.blocks.checkins import KeyResultLine, Recorded
from bot.checkins.dm import Entry, parse_value, validate_confidence
from bot.checkins.planning import load_context, owner_period_start, prompt_key_results
from bot.core.errors import Forbidden, NotFound, UserError
from bot.core.progress import STATUSES, Measure, progress
from bot.core.schedule import DEFAULT_SCHEDULE, zone_named
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
    same: bool = False  # the "No change" box


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
        no_change=check_in.no_change,
    )


@dataclass(frozen=True)
class CheckedForm:
    """A validated modal: what to store, which key results said "no change", field errors."""

    pairs: list[tuple[Entry, KeyResult]]
    unchanged: frozenset[int]
    errors: dict[tuple[int, str], str]


class CheckInService:
    def __init__(self, db: Database, fallback_zone: ZoneInfo) -> None:
        self._db = db
        self._fallback_zone = fallback_zone

    async def lines_for(
        self, team_id: str, user_id: str, numbers: list[int] | None
    ) -> list[KeyResultLine]:
        """Form lines for the caller's key results (all of them, or the ones named)."""
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
                    raise Forbidden(
                        f"KR-{number} belongs to <@{other.owner_id}>: only its owner checks in"
                    )
                owned = chosen
            if not owned:
                raise UserError("you own no active key results to check in on")
            latest = await store.checkins.latest(kr.id for kr in owned)
        return [key_result_line(kr, latest.get(kr.id)) for kr in owned]

    async def check_form(
        self, team_id: str, user_id: str, form: dict[int, FormEntry]
    ) -> CheckedForm:
        """Validate modal input per field; errors are keyed by (key result, field).

        A key result left empty is simply not saved (a prompt stays open for it); a form
        left entirely empty is an error, never a check-in: the modal does not pre-fill
        status or confidence, so an empty Save cannot silently re-record them.
        """
        async with self._db.team(team_id) as store:
            owned = {kr.number: kr for kr in await store.okrs.key_results_owned_by(user_id)}
        errors: dict[tuple[int, str], str] = {}
        pairs = []
        unchanged = set()
        for number, entry in form.items():
            kr = owned.get(number)
            if kr is None:
                errors[(number, "value")] = f"KR-{number} is no longer yours or no longer active"
                continue
            value = (entry.value or "").strip() or None
            status = entry.status if entry.status in STATUSES else None
            note = (entry.note or "").strip() or None
            if value is None and status is None and entry.confidence is None and note is None:
                if entry.same:
                    pairs.append((Entry(number), kr))
                    unchanged.add(number)
                continue
            if value is not None and entry.same:
                errors[(number, "value")] = "Enter a new value or choose No change, not both"
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
            if note is not None and len(note) > NOTE_LIMIT:
                errors[(number, "note")] = f"Keep the note under {NOTE_LIMIT:,} characters"
                continue
            if entry.same:
                unchanged.add(number)
            pairs.append((Entry(number, value, status, entry.confidence, note), kr))
        if not pairs and not errors and form:
            for number in form:
                errors[(number, "value")] = "Enter a value or choose No change"
        return CheckedForm(pairs, frozenset(unchanged), errors)

    async def resolve_entries(
        self, team_id: str, user_id: str, entries: list[Entry], prompt_id: int | None
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
                    raise Forbidden(
                        f"KR-{entry.key_result_number} belongs to <@{exists.owner_id}>: "
                        "only its owner checks in on it"
                    )
                pairs.append((entry, kr))
        return pairs

    async def record_no_change(
        self,
        team_id: str,
        author_id: str,
        numbers: list[int],
        source: str,
        now: datetime,
        prompt_id: int | None = None,
    ) -> list[Recorded]:
        """An explicit "no change this week" for these key results (the prompt's No change
        button, the word `same` in a DM): counts as taking part, keeps value and status."""
        pairs = await self.resolve_entries(
            team_id, author_id, [Entry(n) for n in numbers], prompt_id
        )
        return await self.record(
            team_id, author_id, pairs, source, now, prompt_id, unchanged=frozenset(numbers)
        )

    async def record(
        self,
        team_id: str,
        author_id: str,
        pairs: list[tuple[Entry, KeyResult]],
        source: str,
        now: datetime,
        prompt_id: int | None = None,
        unchanged: frozenset[int] = frozenset(),
    ) -> list[Recorded]:
        """Validate every entry, then store them all in one transaction (or none).

        Each check-in counts for its key result owner's own period: the prompt it answers,
        else the owner's local week under way. Status and confidence carry over: a check-in
        that does not give them keeps the previous ones (stored on the new row); a note
        never carries. A prompt is answered once each of its key results has a check-in.
        """
        validated = []
        for entry, kr in pairs:
            same = kr.number in unchanged
            value = parse_value(entry.raw_value, kr) if entry.raw_value and not same else None
            confidence = validate_confidence(entry.confidence)
            nothing = value is None and entry.status is None and confidence is None
            if not same and nothing and not entry.note:
                raise UserError(f"KR-{kr.number}: give a value, a status, or say `same`")
            validated.append((entry, kr, value, confidence, same))
        recorded = []
        async with self._db.team(team_id) as store:
            context = await load_context(store)
            given = await store.prompts.get(prompt_id) if prompt_id is not None else None
            previous = await store.checkins.latest(kr.id for _, kr in pairs)
            touched: dict[int, Prompt] = {}
            zones: dict[str, ZoneInfo] = {}
            for entry, kr, value, confidence, same in validated:
                row = await store.okrs.key_result(kr.number)
                if row is None:  # deleted since the form was opened
                    raise NotFound(f"KR-{kr.number} no longer exists")
                if given is not None and given.user_id == row.owner_id:
                    prompt: Prompt | None = given
                    period = given.period_start
                else:
                    if row.owner_id not in zones:
                        zones[row.owner_id] = zone_named(
                            await store.workspace.zone_of(row.owner_id), self._fallback_zone
                        )
                    slot = (
                        context.slot_of(row.objective_id)
                        if context is not None
                        else DEFAULT_SCHEDULE
                    )
                    period = owner_period_start(slot, now, zones[row.owner_id])
                    prompt = await store.prompts.at(row.owner_id, period)
                last = previous.get(row.id)
                check_in = CheckIn(
                    team_id=team_id,
                    key_result_id=row.id,
                    value=row.current_value if same else value,
                    status=entry.status or (last.status if last else None),
                    confidence=confidence if confidence is not None else row.confidence,
                    note=entry.note,
                    author_id=author_id,
                    source=source,
                    created_at=now,
                    prompt_id=prompt.id if prompt is not None else None,
                    period_start=period,
                    no_change=same,
                )
                await store.checkins.add(check_in)
                if value is not None:
                    row.current_value = value
                if confidence is not None:
                    row.confidence = confidence
                row.updated_at = now
                recorded.append(recorded_from(row, check_in))
                if prompt is not None:
                    touched[prompt.id] = prompt
            if context is not None and touched:
                owned = await store.okrs.key_results_owned_by_any(
                    {p.user_id for p in touched.values()}
                )
                for prompt in touched.values():
                    asked = prompt_key_results(owned, context, prompt)
                    done = await store.checkins.answered_key_results(prompt.id)
                    if all(kr.id in done for kr in asked):
                        _mark_answered(prompt, now)
        return recorded


def _mark_answered(prompt: Prompt, now: datetime) -> None:
    if prompt.answered_at is None:
        prompt.answered_at = now
        if prompt.state in {"pending", "sent"}:
            prompt.state = "answered"
