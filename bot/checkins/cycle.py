"""The check-in cycle as a service: the tick's steps, what prompts and digests show, skips.

Built by the composition root with what it uses: the database, the directory
(time zones), the outbox and the cycle's settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.checkins import (
    DigestKeyResult,
    DigestObjective,
    DigestView,
    PromptView,
    render_digest,
    render_prompt,
)
from bot.checkins.away import away_owners
from bot.checkins.planning import (
    TeamContext,
    digest_key,
    digest_period,
    digest_window,
    due_prompts,
    load_context,
    parse_slot_key,
    plan_digests,
    plan_prompts,
    plan_reminders,
    prompt_key_results,
    slot_key,
)
from bot.checkins.recording import key_result_line
from bot.core.errors import Forbidden, NotFound, UserError
from bot.core.kpi_health import CANDIDATE_WINDOW, followed, health_by_kpi, improvement_candidates
from bot.core.message import Message
from bot.core.progress import Measure, objective_progress, progress
from bot.core.schedule import WEEK, digest_end_for
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import CheckIn, KeyResult, OutboxMessage, Prompt
from storage.repositories import TeamStore

log = logging.getLogger(__name__)

CHECK_IN_KINDS = ("prompt", "reminder", "digest")


@dataclass(frozen=True)
class CycleSettings:
    fallback_zone: ZoneInfo
    reminder_delay: timedelta
    digest_delay: timedelta


class CheckInCycle:
    def __init__(self, db: Database, directory: Directory, settings: CycleSettings) -> None:
        self._db = db
        self._directory = directory
        self._settings = settings

    # The tick's steps --------------------------------------------------------------------

    async def context(self, store: TeamStore) -> TeamContext | None:
        return await load_context(store)

    async def sync_zones(self, team_id: str, now: datetime) -> int:
        """Refresh the time-zone cache from `users.list` (the caller decides when)."""
        members = await self._directory.members(team_id)
        async with self._db.team(team_id) as store:
            await store.workspace.replace_members(members, now)
        return len(members)

    async def plan(self, store: TeamStore, context: TeamContext, now: datetime) -> dict[str, int]:
        """Prompts, reminders and digests due at `now`, planned in the caller's transaction."""
        settings = self._settings
        reminder, digest = settings.reminder_delay, settings.digest_delay
        if context.reminder_hours is not None:
            reminder = timedelta(hours=context.reminder_hours)
        if context.digest_delay_hours is not None:
            digest = timedelta(hours=context.digest_delay_hours)
        return {
            "prompts planned": await plan_prompts(store, context, now, settings.fallback_zone),
            "reminders planned": await plan_reminders(store, now, reminder),
            "digests planned": await plan_digests(
                store, context, now, digest, settings.fallback_zone
            ),
        }

    def composer(self, context: TeamContext | None = None) -> PromptComposer:
        return PromptComposer(context)

    # What people see ---------------------------------------------------------------------

    async def prompt_view(self, team_id: str, user_id: str, prompt_id: int) -> PromptView | None:
        """The caller's own prompt, as its DM shows it now (None if it is not theirs)."""
        async with self._db.team(team_id) as store:
            prompt = await store.prompts.get(prompt_id)
            if prompt is None or prompt.user_id != user_id:
                return None
            context = await load_context(store)
            if context is None:
                return None
            return (await prompt_views(store, context, [prompt_id])).get(prompt_id)

    async def open_prompt(self, team_id: str, user_id: str, now: datetime) -> Prompt | None:
        """The owner's prompt for the period under way, if any."""
        async with self._db.team(team_id) as store:
            return await store.prompts.latest_started(user_id, now, open_only=True)

    async def refresh_prompt(
        self, client: AsyncWebClient, team_id: str, user_id: str, prompt_id: int
    ) -> None:
        """Show on the prompt's DM, and its reminder's, what was recorded (or the skip).

        The DMs' channel and ts come from the stored prompt, never from a payload.
        """
        async with self._db.team(team_id) as store:
            prompt = await store.prompts.get(prompt_id)
            if prompt is None or prompt.user_id != user_id:
                return
            updates = await _prompt_updates(store, [prompt])
        await _send_updates(client, team_id, updates)

    async def after_check_in(
        self, client: AsyncWebClient, team_id: str, author_id: str, numbers: list[int]
    ) -> None:
        """Show a save wherever it is visible: its prompt and reminder DMs, and the channel
        digest of its week if that was already posted (a late answer updates it)."""
        async with self._db.team(team_id) as store:
            context = await load_context(store)
            if context is None:
                return
            rows = [await store.okrs.key_result(n) for n in sorted(set(numbers))]
            key_results = {kr.id: kr for kr in rows if kr is not None}
            saved = await store.checkins.latest_by_author(key_results, author_id)
            prompts = await store.prompts.many(
                c.prompt_id for c in saved.values() if c.prompt_id is not None
            )
            updates = await _prompt_updates(store, prompts, context)
            digests: set[str] = set()
            for check_in in saved.values():
                kr = key_results[check_in.key_result_id]
                channel = context.objective_channels.get(kr.objective_id)
                if not channel:
                    continue
                slot = context.schedules.for_channel(channel)[0]
                end = digest_end_for(slot, _period(check_in), self._settings.fallback_zone)
                digests.add(digest_key(channel, end))
            for key in sorted(digests):
                row = await store.outbox.by_key(key)
                if row is None or row.state != "sent" or not row.channel_id or not row.message_ts:
                    continue
                view = await digest_view(store, context, row)
                if view is not None:
                    updates.append((row.channel_id, row.message_ts, render_digest(view)))
        await _send_updates(client, team_id, updates)

    # Skipping ----------------------------------------------------------------------------

    async def skip_prompt(self, team_id: str, user_id: str, prompt_id: int, now: datetime) -> None:
        """Mark a period as skipped: no reminder, not listed as missing."""
        async with self._db.team(team_id) as store:
            prompt = await store.prompts.get(prompt_id)
            if prompt is None:
                raise NotFound("that check-in no longer exists")
            if prompt.user_id != user_id:
                raise Forbidden("only the person asked can skip this check-in")
            _skip(prompt, now)

    async def skip_current_period(self, team_id: str, user_id: str, now: datetime) -> str:
        """`/okr skip`: skip the open prompt, or the next one if none is open yet."""
        async with self._db.team(team_id) as store:
            current = await store.prompts.latest_started(user_id, now, open_only=True)
            if current is not None and current.answered_at is None:
                _skip(current, now)
                return (
                    "This week's check-in is skipped: no reminder, and you won't be listed "
                    "as missing."
                )
            context = await load_context(store)
            due = []
            if context is not None:
                upcoming = await due_prompts(
                    store, context, now + WEEK, self._settings.fallback_zone
                )
                due = [d for d in upcoming.due if d.user_id == user_id]
            if not due:
                raise UserError(
                    "you have no check-in coming up to skip (you own no active key results)"
                )
            for item in due:
                if await store.prompts.at(user_id, item.period_start) is None:
                    await store.prompts.add(
                        Prompt(
                            team_id=team_id,
                            user_id=user_id,
                            period_start=item.period_start,
                            period_end=item.period_start + WEEK,
                            slot=slot_key(item.slot),
                            state="skipped",
                            skipped_at=now,
                            created_at=now,
                        )
                    )
        when = min(item.period_start for item in due)
        return f"Next week's check-in (from {when:%a %b %d}) is skipped. Enjoy the time off!"


def _skip(prompt: Prompt, now: datetime) -> None:
    if prompt.skipped_at is None:
        prompt.skipped_at = now
        if prompt.state in {"pending", "sent"}:
            prompt.state = "skipped"


async def _prompt_updates(
    store: TeamStore, prompts: list[Prompt], context: TeamContext | None = None
) -> list[tuple[str, str, Message]]:
    """(channel, ts, message) for each posted prompt DM and reminder, as they read now."""
    if not prompts:
        return []
    context = context or await load_context(store)
    if context is None:
        return []
    views = await prompt_views(store, context, [p.id for p in prompts])
    updates = []
    for prompt in prompts:
        view = views.get(prompt.id)
        if view is None:
            continue
        if prompt.channel_id and prompt.message_ts:
            updates.append((prompt.channel_id, prompt.message_ts, render_prompt(view)))
        if prompt.reminder_channel_id and prompt.reminder_ts:
            updates.append(
                (prompt.reminder_channel_id, prompt.reminder_ts, render_prompt(view, reminder=True))
            )
    return updates


async def _send_updates(
    client: AsyncWebClient, team_id: str, updates: list[tuple[str, str, Message]]
) -> None:
    """Edit messages already posted; a failure is logged, the save stands."""
    for channel, ts, message in updates:
        try:
            await client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            log.warning(
                "message update failed",
                extra={"team_id": team_id, "channel": channel, "error": exc.response.get("error")},
            )


async def prompt_views(
    store: TeamStore, context: TeamContext, prompt_ids: list[int]
) -> dict[int, PromptView]:
    """Views of many prompts of one team in four queries (the fan-out renders thousands).

    A prompt lists its owner's key results on its slot that existed when it began.
    """
    prompts = await store.prompts.many(prompt_ids)
    if not prompts:
        return {}
    owned = await store.okrs.key_results_owned_by_any({p.user_id for p in prompts})
    recorded: dict[tuple[int, int], CheckIn] = {}
    for check_in in await store.checkins.for_prompts(p.id for p in prompts):
        assert check_in.prompt_id is not None
        recorded[(check_in.prompt_id, check_in.key_result_id)] = check_in
    latest = await store.checkins.latest(kr.id for kr in owned)
    by_owner: dict[str, list[KeyResult]] = {}
    for kr in owned:
        by_owner.setdefault(kr.owner_id, []).append(kr)
    views = {}
    for prompt in prompts:
        key_results = prompt_key_results(by_owner.get(prompt.user_id, []), context, prompt)
        views[prompt.id] = PromptView(
            prompt_id=prompt.id,
            period_start=prompt.period_start,
            key_results=[
                key_result_line(kr, latest.get(kr.id), recorded.get((prompt.id, kr.id)))
                for kr in key_results
            ],
            skipped=prompt.skipped_at is not None,
            answered=prompt.answered_at is not None,
        )
    return views


def _period(check_in: CheckIn) -> datetime:
    """The owner period a check-in counts for (rows from before 0013: when it arrived)."""
    return check_in.period_start or check_in.created_at


async def digest_view(
    store: TeamStore, context: TeamContext, row: OutboxMessage
) -> DigestView | None:
    """One channel's week as the digest shows it, rebuilt the same whenever it is asked.

    Check-ins count for their owner's period, not for when they arrived, so a late answer
    lands in its own week and the digest can be rebuilt to show it. A key result is
    "missing" when its owner was prompted for the week and it has no check-in for it;
    at-risk and off-track key results are listed whether or not they moved.
    """
    channel_id, period_end = digest_period(row.dedupe_key)
    since, until = digest_window(period_end)
    objectives = await store.okrs.active_objectives(channel_id=channel_id)
    key_results = await store.okrs.key_results_for(o.id for o in objectives)
    if not key_results:
        return None
    earlier, during = await store.checkins.for_week((kr.id for kr in key_results), since, until)
    prompts = await store.prompts.of_owners_starting(
        {kr.owner_id for kr in key_results}, since, until
    )
    before: dict[int, float] = {}
    now_value: dict[int, float] = {}
    status: dict[int, str] = {}
    note: dict[int, str] = {}
    answered: set[int] = set()
    seen: set[int] = set()
    for check_in in earlier:  # oldest first: later ones win
        seen.add(check_in.key_result_id)
        if check_in.value is not None:
            before[check_in.key_result_id] = check_in.value
        if check_in.status is not None:
            status[check_in.key_result_id] = check_in.status
    late: set[int] = set()  # checked in after the digest was posted
    for check_in in during:
        kr_id = check_in.key_result_id
        seen.add(kr_id)
        answered.add(kr_id)
        if row.sent_at is not None and check_in.created_at > row.sent_at:
            late.add(kr_id)
        if check_in.status is not None:
            status[kr_id] = check_in.status
        if check_in.value is not None:
            now_value[kr_id] = check_in.value
        if check_in.note:
            note[kr_id] = check_in.note
        elif not check_in.no_change:
            note.pop(kr_id, None)
    by_objective: dict[int, list[KeyResult]] = {}
    for kr in key_results:
        by_objective.setdefault(kr.objective_id, []).append(kr)
    followed_ids = [kr.kpi_id for kr in key_results if kr.kpi_id is not None]
    health = health_by_kpi(await store.kpis.health_rows(followed_ids))
    spans = await store.kpis.abnormal_spans(channel_id, followed_ids, period_end - CANDIDATE_WINDOW)
    candidates = improvement_candidates(spans, period_end, exclude=followed_ids)
    views = []
    for objective in objectives:
        lines, progress_before, progress_now = [], [], []
        for kr in by_objective.get(objective.id, []):
            if kr.id in seen:
                start = kr.start_value if kr.kind != "range" else None
                value_before = before.get(kr.id, start)
            else:  # never checked in: whatever it holds (set on creation, import or a KPI)
                value_before = kr.current_value
            value_now = now_value.get(kr.id, value_before)
            progress_before.append(progress(_measure(kr, value_before)))
            progress_now.append(progress(_measure(kr, value_now)))
            lines.append(
                DigestKeyResult(
                    kr.number,
                    kr.title,
                    kr.unit,
                    value_before,
                    value_now,
                    status.get(kr.id),
                    note.get(kr.id),
                    late=kr.id in late,
                )
            )
        views.append(
            DigestObjective(
                objective.number,
                objective.title,
                objective_progress(progress_before),
                objective_progress(progress_now),
                lines,
                followed((kr.kpi_id for kr in by_objective.get(objective.id, [])), health),
            )
        )
    slot = context.schedules.for_channel(channel_id)[0]
    owned: dict[str, list[tuple[int, datetime]]] = {}
    for kr in key_results:
        owned.setdefault(kr.owner_id, []).append((kr.id, kr.created_at))
    missing = set()
    for prompt in prompts:
        if prompt.skipped_at is not None or parse_slot_key(prompt.slot) != slot:
            continue
        began = prompt.period_start
        if any(
            kr_id not in answered
            for kr_id, created in owned.get(prompt.user_id, [])
            if created <= began
        ):
            missing.add(prompt.user_id)
    away = await away_owners(store, prompts)
    return DigestView(
        channel_id,
        period_end - WEEK,
        period_end,
        views,
        sorted(missing),
        candidates=candidates,
        away=away,
    )


def _measure(kr: KeyResult, value: float | None) -> Measure:
    return Measure(kr.kind, kr.start_value, kr.target_value, kr.range_low, kr.range_high, value)


class PromptComposer:
    """Composes prompts, reminders and digests for one delivery run of one workspace.

    `load` builds the views of a claimed batch in its transaction; reminders and
    digests are rendered at send time, so a reminder is cancelled if the owner
    answered in between.
    """

    kinds: tuple[str, ...] = CHECK_IN_KINDS

    def __init__(self, context: TeamContext | None) -> None:
        self._context = context
        self._prompts: dict[int, PromptView] = {}
        self._digests: dict[int, DigestView | None] = {}

    async def load(self, store: TeamStore, rows: list[OutboxMessage]) -> None:
        prompt_ids = [r.ref_id for r in rows if r.kind != "digest" and r.ref_id is not None]
        if prompt_ids:
            if self._context is None:
                self._context = await load_context(store)
            if self._context is not None:
                self._prompts.update(await prompt_views(store, self._context, prompt_ids))
        for row in rows:
            if row.kind == "digest":
                if self._context is None:
                    self._context = await load_context(store)
                if self._context is not None:
                    self._digests[row.id] = await digest_view(store, self._context, row)

    async def compose(self, client: AsyncWebClient, row: OutboxMessage) -> Message | None:
        if row.kind == "digest":
            digest = self._digests.pop(row.id, None)
            return render_digest(digest) if digest else None
        view = self._prompts.get(row.ref_id or 0)
        if view is None or view.skipped or not view.key_results:
            return None
        if row.kind == "reminder":
            if view.answered:
                return None  # never remind someone who has answered
            return render_prompt(view, reminder=True)
        return render_prompt(view)

    async def record(self, store: TeamStore, row: OutboxMessage) -> None:
        """The prompt learns where its DM is (to update it later), with the outbox row."""
        if row.ref_id is None or not row.channel_id or not row.message_ts:
            return
        if row.kind == "prompt":
            assert row.sent_at is not None
            await store.prompts.record_sent(row.ref_id, row.channel_id, row.message_ts, row.sent_at)
        elif row.kind == "reminder":
            await store.prompts.record_reminder(row.ref_id, row.channel_id, row.message_ts)

    async def after_send(self, client: AsyncWebClient, row: OutboxMessage) -> None:
        return None
