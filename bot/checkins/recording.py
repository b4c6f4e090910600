"""Recording check-ins: validation per key-result kind, then one transaction or nothing.

Input from the modal, a DM or a command ends up in `record`, which validates
everything before it writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.blocks.checkins import KeyResultLine, Recorded
from bot.checkins.behalf import Entrants, refusal
from bot.checkins.dm import (
    Candidate,
    Entry,
    LineProblem,
    parse_dm_reply,
    parse_value,
    validate_confidence,
)
from bot.checkins.planning import load_context, owner_period_start, prompt_key_results
from bot.core.errors import NotFound, UserError
from bot.core.progress import STATUSES, Measure, progress
from bot.core.schedule import DEFAULT_SCHEDULE, zone_named
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import CheckIn, KeyResult, Prompt
from storage.repositories import TeamStore

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
        check_in.author_id if check_in.entered_by not in {None, check_in.author_id} else None,
        no_change=check_in.no_change,
    )


@dataclass(frozen=True)
class ReplyOutcome:
    """What a DM stored and which of its lines it could not use, with why."""

    recorded: list[Recorded]
    problems: list[LineProblem]
    # An edit whose earlier check-ins were replaced (so "nothing new" is still news).
    replaced: int = 0
    # Prompts whose DM shows what was recorded and should be redrawn.
    prompt_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CheckedForm:
    """A validated modal: what to store, which key results said "no change", field errors."""

    pairs: list[tuple[Entry, KeyResult]]
    unchanged: frozenset[int]
    errors: dict[tuple[int, str], str]


def _candidate(kr: KeyResult) -> Candidate:
    return Candidate(kr.number, kr.title, kr.kind, kr.unit)


class CheckInService:
    def __init__(
        self, db: Database, fallback_zone: ZoneInfo, directory: Directory | None = None
    ) -> None:
        self._db = db
        self._fallback_zone = fallback_zone
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
    ) -> CheckedForm:
        """Validate modal input per field; errors are keyed by (key result, field).

        A key result left empty is simply not saved (a prompt stays open for it); a form
        left entirely empty is an error, never a check-in: the modal does not pre-fill
        status or confidence, so an empty Save cannot silently re-record them. Someone
        else's key result is checked with the on-behalf rule (`bot.checkins.behalf`).
        """
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

    async def record_reply(
        self,
        team_id: str,
        author_id: str,
        text: str,
        now: datetime,
        *,
        prompt_id: int | None,
        message_ts: str | None,
        edited: bool = False,
    ) -> ReplyOutcome:
        """A DM, line by line: store the lines that read, name the ones that do not.

        An edit (`edited`) first takes back what the same message stored, in the same
        transaction, so the edited text is what counts: its check-ins keep the time and
        the prompt of the message they replace (an edit corrects that period, it is not a
        new answer), and each key result's value and confidence are then what its
        latest check-in says (a later message still wins over an edited older one)."""
        async with self._db.team(team_id) as store:
            replaced: list[CheckIn] = []
            at = now
            if edited and message_ts:
                replaced = await store.checkins.from_message(author_id, message_ts)
                await store.checkins.delete(replaced)
                await _restore_key_results(store, {c.key_result_id for c in replaced}, now)
                if replaced:
                    at = replaced[0].created_at
                    prompt_id = replaced[0].prompt_id
            owned = await store.okrs.key_results_owned_by(author_id)
            by_number = {kr.number: kr for kr in owned}
            pending = owned
            if prompt_id is not None:
                answered = await store.checkins.answered_key_results(prompt_id)
                pending = [kr for kr in owned if kr.id not in answered]
            reply = parse_dm_reply(
                text, [_candidate(kr) for kr in owned], [_candidate(kr) for kr in pending]
            )
            problems = list(reply.problems)
            validated: list[_Valid] = []
            for parsed in reply.entries:
                number = parsed.entry.key_result_number
                kr = by_number.get(number) if number is not None else None
                try:
                    if kr is None:
                        kr = await _on_behalf(store, author_id, number)
                    validated.append(_validate(parsed.entry, kr))
                except UserError as exc:
                    problems.append(LineProblem(parsed.line, parsed.text, exc.message))
            problems.sort(key=lambda p: p.line)
            prompt = await _answered_prompt(store, author_id, prompt_id, at)
            recorded = await _write(
                store,
                author_id,
                validated,
                "dm",
                at,
                prompt,
                self._fallback_zone,
                message_ts=message_ts,
            )
            if replaced:
                rewritten = {c.key_result_id for c in replaced} | {
                    item.key_result.id for item in validated
                }
                await _restore_key_results(store, rewritten, now)
            touched = {c.prompt_id for c in replaced if c.prompt_id is not None}
            for stale_id in touched:
                await _reopen_if_unanswered(store, stale_id)
            if prompt is not None and recorded:
                touched.add(prompt.id)
        return ReplyOutcome(recorded, problems, len(replaced), tuple(sorted(touched)))

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
        async with self._db.team(team_id) as store:
            found = [kr for kr, _ in await store.habits.active_key_results(numbers)]
        missing = sorted(set(numbers) - {kr.number for kr in found})
        if missing:
            raise NotFound(f"KR-{missing[0]} no longer exists or is no longer active")
        await self._entrants.require(team_id, author_id, found, now)
        pairs = [(Entry(kr.number, no_change=True), kr) for kr in found]
        return await self.record(team_id, author_id, pairs, source, now, prompt_id)

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

        `author_id` is who typed it; each check-in is for its key result's owner and
        counts for that owner's own period (see `_write`; permission was checked before).
        Key results in `unchanged` said "no change this week"."""
        validated = [
            _validate(replace(entry, no_change=True) if kr.number in unchanged else entry, kr)
            for entry, kr in pairs
        ]
        async with self._db.team(team_id) as store:
            named = await store.prompts.get(prompt_id) if prompt_id is not None else None
            return await _write(
                store, author_id, validated, source, now, named, self._fallback_zone
            )


@dataclass(frozen=True)
class _Valid:
    entry: Entry
    key_result: KeyResult
    value: float | None
    confidence: int | None


def _validate(entry: Entry, kr: KeyResult) -> _Valid:
    """The entry checked against its key result's kind; a UserError says what is wrong."""
    if entry.no_change:
        return _Valid(entry, kr, kr.current_value, validate_confidence(entry.confidence))
    value = parse_value(entry.raw_value, kr) if entry.raw_value else None
    if value is None and entry.status is None and entry.confidence is None and not entry.note:
        raise UserError(f"KR-{kr.number}: give a value or a status, or say `same`")
    if entry.note is not None and len(entry.note) > NOTE_LIMIT:
        raise UserError(f"keep the note under {NOTE_LIMIT:,} characters")
    return _Valid(entry, kr, value, validate_confidence(entry.confidence))


async def _on_behalf(store: TeamStore, entered_by: str, number: int | None) -> KeyResult:
    """Someone else's key result named in a reply: the sender may enter it when they own
    its objective or are an admin (as last seen by the directory's cache: no Slack call
    runs inside the transaction); else a refusal that says who may."""
    exists = await store.okrs.key_result(number) if number is not None else None
    if exists is None:
        raise NotFound(f"there is no key result KR-{number}")
    owners = await store.habits.objective_owners([exists.objective_id])
    if owners.get(exists.objective_id) == entered_by:
        return exists
    cached = await store.workspace.cached_user(entered_by)
    if cached is not None and cached.is_admin:
        return exists
    raise refusal(exists)


async def _answered_prompt(
    store: TeamStore, author_id: str, prompt_id: int | None, now: datetime
) -> Prompt | None:
    """The prompt answered: the one named (if it is the author's), else the author's
    latest that has begun, so late answers count for their period."""
    prompt = await store.prompts.get(prompt_id) if prompt_id is not None else None
    if prompt is None or prompt.user_id != author_id:
        prompt = await store.prompts.latest_started(author_id, now, open_only=False)
    return prompt


async def _write(
    store: TeamStore,
    entered_by: str,
    validated: list[_Valid],
    source: str,
    now: datetime,
    named: Prompt | None,
    fallback_zone: ZoneInfo,
    *,
    message_ts: str | None = None,
) -> list[Recorded]:
    """Store the check-ins; `entered_by` is who typed them.

    Each is for its key result's owner (`author_id`) and counts for that owner's own
    period: the prompt named, when it is theirs, else the owner's local week under way
    (and its prompt, if there is one). Status and confidence carry over: a check-in that
    does not give them keeps the previous ones (stored on the new row); a note never
    does. A prompt is answered once each of its key results has a check-in."""
    context = await load_context(store)
    previous = await store.checkins.latest(item.key_result.id for item in validated)
    touched: dict[int, Prompt] = {}
    zones: dict[str, ZoneInfo] = {}
    recorded = []
    for item in validated:
        row = await store.okrs.key_result(item.key_result.number)
        if row is None:  # deleted since the form was opened
            raise NotFound(f"KR-{item.key_result.number} no longer exists")
        owner = row.owner_id
        prompt: Prompt | None
        if named is not None and named.user_id == owner:
            prompt, period = named, named.period_start
        else:
            if owner not in zones:
                zones[owner] = zone_named(await store.workspace.zone_of(owner), fallback_zone)
            slot = context.slot_of(row.objective_id) if context is not None else DEFAULT_SCHEDULE
            period = owner_period_start(slot, now, zones[owner])
            prompt = await store.prompts.at(owner, period)
        entry = item.entry
        last = previous.get(row.id)
        check_in = CheckIn(
            team_id=store.team_id,
            key_result_id=row.id,
            value=row.current_value if entry.no_change else item.value,
            status=entry.status or (last.status if last else None),
            confidence=item.confidence if item.confidence is not None else row.confidence,
            note=entry.note,
            author_id=owner,
            entered_by=entered_by,
            source=source,
            created_at=now,
            prompt_id=prompt.id if prompt is not None else None,
            period_start=period,
            message_ts=message_ts,
            no_change=entry.no_change,
        )
        await store.checkins.add(check_in)
        if item.value is not None and not entry.no_change:
            row.current_value = item.value
        if item.confidence is not None:
            row.confidence = item.confidence
        row.updated_at = now
        recorded.append(recorded_from(row, check_in))
        if prompt is not None:
            touched[prompt.id] = prompt
    if context is not None and touched:
        owned = await store.okrs.key_results_owned_by_any({p.user_id for p in touched.values()})
        for prompt in touched.values():
            asked = prompt_key_results(owned, context, prompt)
            done = await store.checkins.answered_key_results(prompt.id)
            if all(kr.id in done for kr in asked):
                _mark_answered(prompt, now)
    return recorded


async def _restore_key_results(store: TeamStore, key_result_ids: set[int], now: datetime) -> None:
    """After taking check-ins back: each key result's value and confidence as its remaining
    check-ins say (the start value when none is left)."""
    if not key_result_ids:
        return
    history = await store.checkins.history_until(key_result_ids, now + timedelta(days=1))
    for kr in await store.okrs.key_results_by_ids(key_result_ids):
        mine = [c for c in history if c.key_result_id == kr.id]
        values = [c.value for c in mine if c.value is not None]
        confidences = [c.confidence for c in mine if c.confidence is not None]
        kr.current_value = values[-1] if values else kr.start_value
        kr.confidence = confidences[-1] if confidences else None
        kr.updated_at = now


async def _reopen_if_unanswered(store: TeamStore, prompt_id: int) -> None:
    """A prompt whose only answer was edited away is open again (and reminded)."""
    if await store.checkins.answered_key_results(prompt_id):
        return
    prompt = await store.prompts.get(prompt_id)
    if prompt is not None and prompt.state == "answered":
        prompt.state = "sent" if prompt.message_ts else "pending"
        prompt.answered_at = None


def _mark_answered(prompt: Prompt, now: datetime) -> None:
    if prompt.answered_at is None:
        prompt.answered_at = now
        if prompt.state in {"pending", "sent"}:
            prompt.state = "answered"
