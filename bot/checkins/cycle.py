"""Loading what the check-in messages show, and the tick steps that send them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.blocks.checkins import (
    DigestKeyResult,
    DigestObjective,
    DigestView,
    KeyResultLine,
    PromptView,
    render_digest,
    render_prompt,
)
from bot.blocks.status import Message
from bot.checkins.planning import (
    WEEK,
    digest_period,
    due_prompts,
    load_schedules,
    parse_slot_key,
    plan_digests,
    plan_prompts,
    plan_reminders,
    slot_key,
    sync_user_zones,
)
from bot.checkins.recording import Recorded, describe
from bot.core.errors import Forbidden, NotFound, UserError
from bot.core.progress import Measure, objective_progress, progress
from bot.core.schedule import Schedules
from bot.runtime.services import NoInstallation, Services
from bot.slack import outbox
from storage.models import CheckIn, KeyResult, Objective, OutboxMessage, Prompt, Workspace
from storage.repository import Repository

log = logging.getLogger(__name__)


def _line(kr: KeyResult, recorded: CheckIn | None, latest: CheckIn | None) -> KeyResultLine:
    summary = None
    if recorded is not None:
        summary = describe(
            Recorded(
                kr.number,
                kr.title,
                recorded.value,
                recorded.status,
                recorded.confidence,
                recorded.note,
                kr.unit,
            )
        ).split(" · ", 1)[-1]
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
        recorded=summary,
    )


@dataclass(frozen=True)
class SlotContext:
    """What decides which key results a prompt lists: loaded once per team and run."""

    schedules: Schedules
    channel_of_objective: dict[int, str | None]


async def slot_context(services: Services, team_id: str) -> SlotContext | None:
    async with services.db.session() as session:
        workspace = await session.get(Workspace, team_id)
        if workspace is None:
            return None
        schedules = await load_schedules(session, workspace)
        rows = await session.execute(
            select(Objective.id, Objective.channel_id).where(
                Objective.team_id == team_id, Objective.status == "active"
            )
        )
        return SlotContext(schedules, {row.id: row.channel_id for row in rows})


async def prompt_view(
    services: Services, team_id: str, prompt_id: int, context: SlotContext | None = None
) -> PromptView | None:
    """The prompt with the owner's key results on its slot that existed when it began."""
    return (await prompt_views(services, team_id, [prompt_id], context)).get(prompt_id)


async def prompt_views(
    services: Services,
    team_id: str,
    prompt_ids: list[int],
    context: SlotContext | None = None,
) -> dict[int, PromptView]:
    """Views of many prompts of one team in four queries (the fan-out renders thousands)."""
    context = context or await slot_context(services, team_id)
    if context is None or not prompt_ids:
        return {}
    async with services.db.session() as session:
        prompts = (
            await session.scalars(
                select(Prompt).where(Prompt.team_id == team_id, Prompt.id.in_(prompt_ids))
            )
        ).all()
        repo = Repository(session, team_id)
        owned = await repo.key_results_owned_by_any({p.user_id for p in prompts})
        answered = [p.id for p in prompts if p.answered_at is not None]
        recorded: dict[tuple[int, int], CheckIn] = {}
        if answered:
            for check_in in await session.scalars(
                select(CheckIn)
                .where(CheckIn.team_id == team_id, CheckIn.prompt_id.in_(answered))
                .order_by(CheckIn.created_at)
            ):
                assert check_in.prompt_id is not None
                recorded[(check_in.prompt_id, check_in.key_result_id)] = check_in
        latest = await repo.latest_check_ins(kr.id for kr in owned)
    by_owner: dict[str, list[KeyResult]] = {}
    for kr in owned:
        by_owner.setdefault(kr.owner_id, []).append(kr)
    views = {}
    for prompt in prompts:
        wanted = parse_slot_key(prompt.slot)
        key_results = [
            kr
            for kr in by_owner.get(prompt.user_id, [])
            if kr.created_at <= prompt.period_start
            and context.schedules.for_channel(context.channel_of_objective.get(kr.objective_id))[0]
            == wanted
        ]
        views[prompt.id] = PromptView(
            prompt_id=prompt.id,
            period_start=prompt.period_start,
            key_results=[
                _line(kr, recorded.get((prompt.id, kr.id)), latest.get(kr.id)) for kr in key_results
            ],
            skipped=prompt.skipped_at is not None,
            answered=prompt.answered_at is not None,
        )
    return views


async def open_prompt(
    services: Services, team_id: str, user_id: str, now: datetime
) -> Prompt | None:
    """The owner's prompt for the period under way, if any."""
    async with services.db.session() as session:
        found: Prompt | None = await session.scalar(
            select(Prompt)
            .where(
                Prompt.team_id == team_id,
                Prompt.user_id == user_id,
                Prompt.period_start <= now,
                Prompt.period_end > now,
            )
            .order_by(Prompt.period_start.desc())
            .limit(1)
        )
        return found


async def skip_prompt(
    services: Services, team_id: str, user_id: str, prompt_id: int, now: datetime
) -> Prompt:
    """Mark a period as skipped: no reminder, not listed as missing."""
    async with services.db.session() as session:
        prompt = await session.get(Prompt, prompt_id)
        if prompt is None or prompt.team_id != team_id:
            raise NotFound("that check-in no longer exists")
        if prompt.user_id != user_id:
            raise Forbidden("only the person asked can skip this check-in")
        if prompt.skipped_at is None:
            prompt.skipped_at = now
            if prompt.state in {"pending", "sent"}:
                prompt.state = "skipped"
        return prompt


async def skip_current_period(services: Services, team_id: str, user_id: str, now: datetime) -> str:
    """`/okr skip`: skip the open prompt, or the next one if none is open yet."""
    current = await open_prompt(services, team_id, user_id, now)
    if current is not None and current.answered_at is None:
        await skip_prompt(services, team_id, user_id, current.id, now)
        return "This week's check-in is skipped: no reminder, and you won't be listed as missing."
    due = [d for d in await due_prompts(services, team_id, now + WEEK) if d.user_id == user_id]
    if not due:
        raise UserError("you have no check-in coming up to skip (you own no active key results)")
    async with services.db.session() as session:
        for item in due:
            existing = await session.scalar(
                select(Prompt).where(
                    Prompt.team_id == team_id,
                    Prompt.user_id == user_id,
                    Prompt.period_start == item.period_start,
                )
            )
            if existing is None:
                session.add(
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


async def digest_view(services: Services, row: OutboxMessage) -> DigestView | None:
    channel_id, period_end = digest_period(row.dedupe_key)
    period_start = period_end - WEEK
    async with services.db.session() as session:
        repo = Repository(session, row.team_id)
        objectives = await repo.active_objectives(channel_id=channel_id)
        key_results = await repo.key_results_for(o.id for o in objectives)
        if not key_results:
            return None
        ids = [kr.id for kr in key_results]
        history = (
            await session.scalars(
                select(CheckIn)
                .where(CheckIn.team_id == row.team_id, CheckIn.key_result_id.in_(ids))
                .where(CheckIn.created_at < period_end)
                .order_by(CheckIn.created_at, CheckIn.id)
            )
        ).all()
        owners = sorted({kr.owner_id for kr in key_results})
        prompts = (
            await session.scalars(
                select(Prompt).where(
                    Prompt.team_id == row.team_id,
                    Prompt.user_id.in_(owners),
                    Prompt.period_start >= period_start - timedelta(days=1),
                    Prompt.period_start < period_start + timedelta(days=1),
                )
            )
        ).all()
    before: dict[int, float | None] = {}
    latest: dict[int, CheckIn] = {}
    for check_in in history:
        if check_in.created_at < period_start:
            if check_in.value is not None:
                before[check_in.key_result_id] = check_in.value
        else:
            latest[check_in.key_result_id] = check_in
    by_objective: dict[int, list[KeyResult]] = {}
    for kr in key_results:
        by_objective.setdefault(kr.objective_id, []).append(kr)
    views = []
    for objective in objectives:
        krs = by_objective.get(objective.id, [])
        lines, progress_before, progress_now = [], [], []
        for kr in krs:
            start = kr.start_value if kr.kind != "range" else None
            value_before = before.get(kr.id, start)
            this_week = latest.get(kr.id)
            value_now = kr.current_value
            progress_before.append(progress(_measure(kr, value_before)))
            progress_now.append(progress(_measure(kr, value_now)))
            lines.append(
                DigestKeyResult(
                    kr.number,
                    kr.title,
                    kr.unit,
                    value_before,
                    value_now if this_week is not None else value_before,
                    this_week.status if this_week else None,
                    this_week.note if this_week else None,
                )
            )
        views.append(
            DigestObjective(
                objective.number,
                objective.title,
                objective_progress(progress_before),
                objective_progress(progress_now),
                lines,
            )
        )
    missing = sorted(p.user_id for p in prompts if p.answered_at is None and p.skipped_at is None)
    return DigestView(channel_id, period_start, period_end, views, missing)


def _measure(kr: KeyResult, value: float | None) -> Measure:
    return Measure(kr.kind, kr.start_value, kr.target_value, kr.range_low, kr.range_high, value)


class PromptRenderer:
    """Renders prompts, reminders and digests for one delivery run.

    `prefetch` loads the views of a claimed batch at once; each team's slot
    context is loaded once per run.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._contexts: dict[str, asyncio.Task[SlotContext | None]] = {}
        self._views: dict[int, PromptView] = {}

    async def _context(self, team_id: str) -> SlotContext | None:
        if team_id not in self._contexts:
            self._contexts[team_id] = asyncio.ensure_future(slot_context(self._services, team_id))
        return await self._contexts[team_id]

    async def prefetch(self, rows: list[OutboxMessage]) -> None:
        by_team: dict[str, list[int]] = {}
        for row in rows:
            if row.kind in {"prompt", "reminder"} and row.ref_id is not None:
                by_team.setdefault(row.team_id, []).append(row.ref_id)
        for team_id, prompt_ids in by_team.items():
            context = await self._context(team_id)
            views = await prompt_views(self._services, team_id, prompt_ids, context)
            self._views.update(views)

    async def __call__(self, row: OutboxMessage) -> Message | None:
        if row.kind == "digest":
            digest = await digest_view(self._services, row)
            return render_digest(digest) if digest else None
        assert row.ref_id is not None
        view = self._views.pop(row.ref_id, None)
        if view is None:
            context = await self._context(row.team_id)
            view = await prompt_view(self._services, row.team_id, row.ref_id, context)
        if view is None or view.skipped or not view.key_results:
            return None
        if row.kind == "reminder":
            if view.answered:
                return None  # never remind someone who has answered
            return render_prompt(view, reminder=True)
        return render_prompt(view)


def outbox_renderer(services: Services) -> PromptRenderer:
    return PromptRenderer(services)


async def record_prompt_sent(session: AsyncSession, row: OutboxMessage) -> None:
    """The prompt learns where its DM is (to update it later), with the outbox row."""
    if row.kind != "prompt" or row.ref_id is None:
        return
    await session.execute(
        update(Prompt)
        .where(Prompt.id == row.ref_id)
        .values(
            state=case((Prompt.state == "pending", "sent"), else_=Prompt.state),
            channel_id=row.channel_id,
            message_ts=row.message_ts,
            sent_at=row.sent_at,
        )
        .execution_options(synchronize_session=False)
    )


async def run_check_in_cycle(
    services: Services, team_ids: list[str], now: datetime
) -> dict[str, int]:
    """Plan what is due in each workspace, then deliver everything planned."""
    done: dict[str, int] = {}
    for team_id in team_ids:
        try:
            await sync_user_zones(services, team_id, now)
        except NoInstallation:
            log.warning("no bot token for workspace: skipped", extra={"team_id": team_id})
            done["workspaces without a bot token"] = (
                done.get("workspaces without a bot token", 0) + 1
            )
            continue
        for name, step in (
            ("prompts planned", plan_prompts),
            ("reminders planned", plan_reminders),
            ("digests planned", plan_digests),
        ):
            count = await step(services, team_id, now)
            if count:
                done[name] = done.get(name, 0) + count
    renderer = PromptRenderer(services)
    report = await outbox.deliver(
        services,
        now,
        ("prompt", "reminder", "digest"),
        renderer,
        record_prompt_sent,
        prefetch=renderer.prefetch,
    )
    for name in ("sent", "reconciled", "cancelled", "expired", "failed", "retry_later"):
        value = getattr(report, name)
        if value:
            done[f"messages {name}"] = value
    return done


async def lines_for(
    services: Services, team_id: str, user_id: str, numbers: list[int] | None
) -> list[KeyResultLine]:
    """Form lines for the caller's key results (all of them, or the ones named)."""
    async with services.db.session() as session:
        repo = Repository(session, team_id)
        owned = await repo.key_results_owned_by(user_id)
        if numbers is not None:
            by_number = {kr.number: kr for kr in owned}
            chosen = []
            for number in numbers:
                if number in by_number:
                    chosen.append(by_number[number])
                    continue
                other = await repo.key_result(number)
                if other is None:
                    raise NotFound(f"there is no key result KR-{number} in this workspace")
                raise Forbidden(
                    f"KR-{number} belongs to <@{other.owner_id}>: only its owner checks in"
                )
            owned = chosen
        if not owned:
            raise UserError("you own no active key results to check in on")
        latest = await repo.latest_check_ins(kr.id for kr in owned)
    return [_line(kr, None, latest.get(kr.id)) for kr in owned]
