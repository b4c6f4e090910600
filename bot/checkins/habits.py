"""Habits of real teams: telling a new key-result owner what they own and when they
will be asked, and escalating to the objective's owner after missed periods.

Both are outbox messages (written first, sent once): the DM to a new owner is planned
by `bot.okrs` with the change and sent by the next delivery sweep (seconds) or tick,
composed here; an escalation is planned
by the tick, once per streak of missed periods (its dedupe key is the streak's first
missed prompt), and only when the workspace turned escalation on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.habits import (
    AssignedView,
    EscalationView,
    Target,
    render_assigned,
    render_escalation,
)
from bot.checkins.planning import TeamContext, load_context, parse_slot_key
from bot.core.actor import Actor
from bot.core.errors import Forbidden
from bot.core.habits import ASSIGNED, ESCALATION, assigned_by
from bot.core.message import Message
from bot.core.outcome import Done, Emoji, Strong
from bot.core.schedule import WEEK, WeeklySlot, next_slot, previous_slot, zone_named
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import CheckIn, KeyResult, OutboxMessage, Prompt
from storage.repositories import TeamStore
from storage.repositories.outbox import Planned

HABIT_KINDS = (ASSIGNED, ESCALATION)
MAX_ESCALATE_AFTER = 12
# Periods looked back beyond N to find where a streak began (skipped weeks included).
LOOK_BACK_EXTRA = 8
CLOSING_WINDOW = timedelta(hours=1)


class HabitsService:
    def __init__(
        self,
        db: Database,
        directory: Directory,
        fallback_zone: ZoneInfo,
        grace: timedelta,
    ) -> None:
        self._db = db
        self._directory = directory
        self._fallback_zone = fallback_zone
        self._grace = grace  # late answers still count this long after a period ends

    def composer(self) -> HabitsComposer:
        return HabitsComposer(self._fallback_zone)

    async def set_escalation(self, actor: Actor, periods: int | None, now: datetime) -> Done:
        """`/okr schedule escalate N|off` (admins): tell an objective's owner, once, when a
        key result has had no check-in for N periods in a row."""
        if not (await self._directory.user(actor.team_id, actor.user_id, now)).is_admin:
            raise Forbidden("only a workspace admin can change escalation")
        async with self._db.team(actor.team_id) as store:
            await store.workspace.ensure(now)
            await store.habits.set_escalation(periods)
        if periods is None:
            return Done(Emoji("mute"), " Escalation is off: nobody is told about missed check-ins.")
        return Done(
            Emoji("rotating_light"),
            " After ",
            Strong(f"{periods} missed check-in{'s' if periods > 1 else ''} in a row"),
            " on a key result, its objective's owner gets one DM about it.",
        )

    async def plan(self, store: TeamStore, context: TeamContext, now: datetime) -> dict[str, int]:
        """Plan escalations due at `now`, in the tick's transaction (nothing when off)."""
        workspace = await store.workspace.get()  # loaded by the tick already: no query
        periods = workspace.escalate_after if workspace is not None else None
        if not periods or not context.installed:
            return {}
        grace = self._grace
        if workspace is not None and workspace.digest_delay_hours is not None:
            grace = timedelta(hours=workspace.digest_delay_hours)
        # A streak grows when a period closes: look at the owners whose period closed in
        # the last hour (one query; nothing more on most ticks). A closing missed while the
        # bot was down is caught at the next one: the streak keeps its first missed prompt.
        owners = await store.habits.owners_with_periods_ending(
            now - grace - CLOSING_WINDOW, now - grace
        )
        if not owners:
            return {}
        since = now - (periods + LOOK_BACK_EXTRA) * WEEK
        closed = [
            p
            for p in await store.habits.prompts_between(since, now, owners)
            if p.period_end + grace <= now
        ]
        key_results = await store.okrs.key_results_owned_by_any(owners)
        objective_owners = await store.habits.objective_owners(
            kr.objective_id for kr in key_results
        )
        answers: dict[int, list[CheckIn]] = {}
        for check_in in await store.habits.check_ins_since((kr.id for kr in key_results), since):
            answers.setdefault(check_in.key_result_id, []).append(check_in)
        by_owner: dict[str, list[Prompt]] = {}
        for prompt in closed:
            by_owner.setdefault(prompt.user_id, []).append(prompt)
        planned = []
        for kr in key_results:
            boss = objective_owners.get(kr.objective_id)
            if boss is None or boss == kr.owner_id:
                continue
            streak = missed_streak(
                kr,
                by_owner.get(kr.owner_id, []),
                answers.get(kr.id, []),
                context,
                since,
                grace,
            )
            if streak is not None and len(streak) >= periods:
                planned.append(
                    Planned(
                        kind=ESCALATION,
                        dedupe_key=f"{ESCALATION}:{kr.id}:{streak[0].id}",
                        recipient=boss,
                        ref_id=kr.id,
                        due_at=now,
                        expires_at=now + WEEK,
                    )
                )
        return {"escalations planned": await store.outbox.plan(planned, now)}


def missed_streak(
    kr: KeyResult,
    prompts: list[Prompt],
    check_ins: list[CheckIn],
    context: TeamContext,
    since: datetime,
    grace: timedelta,
) -> list[Prompt] | None:
    """The closed prompts of its owner that asked about `kr` and got no check-in for it,
    newest back to the last answered one, oldest first; None when the streak may reach
    back beyond what was loaded. Skipped and away weeks neither count nor break it."""
    slot = context.slot_of(kr.objective_id)
    asked = sorted(
        (p for p in prompts if p.period_start >= kr.created_at and parse_slot_key(p.slot) == slot),
        key=lambda p: p.period_start,
    )
    streak: list[Prompt] = []
    for prompt in reversed(asked):
        if prompt.skipped_at is not None:
            continue
        if any(_answers(c, prompt, grace) for c in check_ins):
            return list(reversed(streak))
        streak.append(prompt)
    if kr.created_at < since:
        return None  # it began before the look-back: already told, or too long ago
    return list(reversed(streak))


def _answers(check_in: CheckIn, prompt: Prompt, grace: timedelta) -> bool:
    if check_in.prompt_id == prompt.id:
        return True
    return prompt.period_start <= check_in.created_at < prompt.period_end + grace


@dataclass(frozen=True)
class _Assigned:
    """A new owner's DM as loaded; the zone (and so the time) is settled at send time."""

    view: AssignedView
    slot: WeeklySlot
    since: datetime  # the later of the schedule's start and the key result's creation
    zone_name: str | None
    prompted: set[datetime]  # starts of the owner's open prompts


class HabitsComposer:
    """Composes the DM to a new key-result owner and the escalation DM."""

    kinds: tuple[str, ...] = HABIT_KINDS

    def __init__(self, fallback_zone: ZoneInfo) -> None:
        self._fallback_zone = fallback_zone
        self._messages: dict[int, Message | None] = {}
        self._assigned: dict[int, _Assigned] = {}

    async def load(self, store: TeamStore, rows: list[OutboxMessage]) -> None:
        found = await store.habits.key_results_with_objectives(r.ref_id or 0 for r in rows)
        context = await load_context(store)
        zones = await store.workspace.zones()
        for row in rows:
            kr, objective = found.get(row.ref_id or 0, (None, None))
            if kr is None or objective is None or objective.status != "active":
                self._messages[row.id] = None  # deleted or closed since: not worth a DM
                continue
            if row.kind == ASSIGNED:
                if kr.owner_id != row.recipient or context is None:
                    self._messages[row.id] = None  # someone else owns it by now
                    continue
                slot, schedule_since = context.schedules.for_channel(objective.channel_id)
                self._assigned[row.id] = _Assigned(
                    AssignedView(
                        number=kr.number,
                        title=kr.title,
                        objective_number=objective.number,
                        objective_title=objective.title,
                        target=Target(
                            kr.kind,
                            kr.start_value,
                            kr.target_value,
                            kr.range_low,
                            kr.range_high,
                            kr.unit,
                        ),
                        assigned_by=assigned_by(row.dedupe_key),
                        slot=slot.describe(),
                        next_prompt_at=None,
                        zone=self._fallback_zone,
                    ),
                    slot=slot,
                    since=max(schedule_since, kr.created_at),
                    zone_name=zones.get(kr.owner_id),
                    prompted={
                        p.period_start
                        for p in await store.habits.open_prompts(kr.owner_id, row.due_at)
                    },
                )
            else:
                first_prompt_id = int(row.dedupe_key.rsplit(":", 1)[1])
                first = await store.prompts.get(first_prompt_id)
                workspace = await store.workspace.get()
                self._messages[row.id] = render_escalation(
                    EscalationView(
                        number=kr.number,
                        title=kr.title,
                        owner_id=kr.owner_id,
                        objective_number=objective.number,
                        objective_title=objective.title,
                        missed=(workspace.escalate_after or 0) if workspace else 0,
                        since=first.period_start if first else row.created_at,
                    )
                )

    async def compose(self, client: AsyncWebClient, row: OutboxMessage) -> Message | None:
        assigned = self._assigned.pop(row.id, None)
        if assigned is None:
            return self._messages.pop(row.id, None)
        name = assigned.zone_name
        if name is None:  # not in the cache yet (a new member): ask Slack
            response = await client.users_info(user=row.recipient)
            name = (response.get("user") or {}).get("tz")
        zone = zone_named(name, self._fallback_zone)
        now = row.due_at
        current = previous_slot(assigned.slot, now, zone)
        # Already due this week (an existing key result handed over): the next tick asks.
        asked_now = assigned.since <= current and current not in assigned.prompted
        view = replace(
            assigned.view,
            zone=zone,
            next_prompt_at=None if asked_now else next_slot(assigned.slot, now, zone),
        )
        return render_assigned(view)

    async def record(self, store: TeamStore, row: OutboxMessage) -> None:
        return None

    async def after_send(self, client: AsyncWebClient, row: OutboxMessage) -> None:
        return None
