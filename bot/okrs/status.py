"""`/okr status`: what the summary says, as plain data (rendering is elsewhere).

A report loads in a constant number of queries whatever the workspace's size:
objectives, their key results, and the recent check-ins of those key results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.errors import NotFound
from bot.core.progress import (
    Measure,
    behind_pace,
    expected_progress,
    has_pace,
    objective_progress,
    progress,
)
from bot.core.schedule import Schedules, previous_slot
from bot.okrs.commands import Status
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import CheckIn, KeyResult, Objective, Workspace
from storage.repository import Repository

RECENT_CHECK_INS = 5


@dataclass(frozen=True)
class CheckInView:
    value: float | None
    status: str | None
    confidence: int | None
    note: str | None
    author_id: str | None
    at: datetime


@dataclass(frozen=True)
class KeyResultView:
    number: int
    title: str
    owner_id: str
    kind: str
    start: float | None
    target: float | None
    low: float | None
    high: float | None
    current: float | None
    unit: str | None
    progress: float
    expected: float | None  # None when pace does not apply to the kind
    behind_pace: bool
    status: str | None
    confidence: int | None
    stale: bool
    last_check_in_at: datetime | None
    recent: list[CheckInView] = field(default_factory=list)


@dataclass(frozen=True)
class ObjectiveView:
    number: int
    title: str
    owner_id: str
    channel_id: str | None
    cycle: str
    status: str
    progress: float
    parent_number: int | None
    key_results: list[KeyResultView]

    @property
    def at_risk(self) -> int:
        return sum(1 for kr in self.key_results if kr.status in {"at_risk", "off_track"})

    @property
    def behind(self) -> int:
        return sum(1 for kr in self.key_results if kr.behind_pace)


@dataclass(frozen=True)
class StatusReport:
    title: str  # e.g. "OKR status · #growth"
    empty_message: str
    objectives: list[ObjectiveView]
    detail: bool = False
    # Display names of the people shown, where known (cached from Slack).
    names: dict[str, str] = field(default_factory=dict)

    @property
    def average_progress(self) -> float:
        return objective_progress([o.progress for o in self.objectives])


async def build_status(
    db: Database,
    directory: Directory,
    team_id: str,
    channel_id: str | None,
    scope: Status,
    now: datetime,
    timezone: ZoneInfo,
) -> StatusReport:
    """Resolve the scope, then load the objectives and their key results."""
    resolved_channel = None
    resolved_user = None
    if scope.channel is not None:
        resolved_channel = await directory.resolve_channel(team_id, scope.channel)
    if scope.user is not None:
        resolved_user = await directory.resolve_user(team_id, scope.user)
    async with db.session() as session:
        repo = Repository(session, team_id)
        workspace = await session.get(Workspace, team_id)
        schedules = Schedules.from_rows(
            await repo.schedules(), workspace.created_at if workspace else now
        )
        if scope.scope == "objective":
            assert scope.objective_number is not None
            objective = await repo.objective(scope.objective_number)
            if objective is None:
                raise NotFound(
                    f"there is no objective O-{scope.objective_number} in this workspace"
                )
            objectives = [objective]
            title = f"O-{objective.number} · {objective.title}"
            empty = ""
        elif scope.scope == "channel":
            objectives = await repo.active_objectives(channel_id=resolved_channel)
            title, empty = (
                f"OKR status · <#{resolved_channel}>",
                (f"No objectives report to <#{resolved_channel}> yet."),
            )
        elif scope.scope == "user":
            objectives = await repo.active_objectives(user_id=resolved_user)
            title, empty = (
                f"OKR status · <@{resolved_user}>",
                (f"<@{resolved_user}> owns no active objectives or key results yet."),
            )
        else:
            objectives = []
            if scope.scope == "default" and channel_id:
                objectives = await repo.active_objectives(channel_id=channel_id)
            if objectives:
                title = f"OKR status · <#{channel_id}>"
            else:
                objectives = await repo.active_objectives()
                title = "OKR status · all objectives"
            empty = 'No objectives yet. Create one with `/okr objective add "Title"`.'
        detail = scope.scope == "objective"
        key_results = await repo.key_results_for(o.id for o in objectives)
        kr_ids = [kr.id for kr in key_results]
        recent = await repo.recent_check_ins(kr_ids, RECENT_CHECK_INS if detail else 1)
        parents = await repo.numbers_by_id(o.parent_id for o in objectives if o.parent_id)
        # "Missed the last period": the period before the current one of each objective's
        # schedule; an owner who skipped it is not stale.
        stale_before = {
            channel: previous_slot(schedules.for_channel(channel)[0], now, timezone)
            - timedelta(weeks=1)
            for channel in {o.channel_id for o in objectives}
        }
        people = {o.owner_id for o in objectives} | {kr.owner_id for kr in key_results}
        names = await repo.display_names(people)
        cutoffs = stale_before.values()
        skipped = await repo.users_who_skipped(
            min(cutoffs, default=now) - timedelta(days=1),
            max(cutoffs, default=now) + timedelta(days=1),
        )
    return StatusReport(
        title=title,
        empty_message=empty,
        objectives=assemble(objectives, key_results, recent, parents, now, stale_before, skipped),
        detail=detail,
        names=names,
    )


def assemble(
    objectives: list[Objective],
    key_results: list[KeyResult],
    recent: list[CheckIn],
    parent_numbers: dict[int, int],
    now: datetime,
    stale_before: datetime | dict[str | None, datetime],
    skipped: set[str] | frozenset[str] = frozenset(),
) -> list[ObjectiveView]:
    """Join the loaded rows into views: pure, so it is tested without a database.

    `stale_before` is one cut-off, or one per objective channel; owners in
    `skipped` were out for the period and are not flagged stale.
    """
    by_key_result: dict[int, list[CheckIn]] = {}
    for check_in in recent:
        by_key_result.setdefault(check_in.key_result_id, []).append(check_in)
    by_objective: dict[int, list[KeyResultView]] = {}
    cycles = {o.id: o.cycle for o in objectives}
    channels = {o.id: o.channel_id for o in objectives}
    for kr in key_results:
        history = by_key_result.get(kr.id, [])
        cutoff = (
            stale_before.get(channels[kr.objective_id], now)
            if isinstance(stale_before, dict)
            else stale_before
        )
        view = _key_result_view(kr, history, cycles[kr.objective_id], now, cutoff)
        if kr.owner_id in skipped and view.stale:
            view = replace(view, stale=False)
        by_objective.setdefault(kr.objective_id, []).append(view)
    views = []
    for objective in objectives:
        krs = by_objective.get(objective.id, [])
        views.append(
            ObjectiveView(
                number=objective.number,
                title=objective.title,
                owner_id=objective.owner_id,
                channel_id=objective.channel_id,
                cycle=objective.cycle,
                status=objective.status,
                progress=objective_progress([kr.progress for kr in krs]),
                parent_number=parent_numbers.get(objective.parent_id or -1),
                key_results=krs,
            )
        )
    return views


def _key_result_view(
    kr: KeyResult, history: list[CheckIn], cycle: str, now: datetime, stale_before: datetime
) -> KeyResultView:
    measure = Measure(
        kr.kind, kr.start_value, kr.target_value, kr.range_low, kr.range_high, kr.current_value
    )
    actual = progress(measure)
    expected = expected_progress(cycle, now) if has_pace(kr.kind) else None
    latest = history[0] if history else None
    last_at = latest.created_at if latest else None
    stale = kr.created_at < stale_before and (last_at is None or last_at < stale_before)
    return KeyResultView(
        number=kr.number,
        title=kr.title,
        owner_id=kr.owner_id,
        kind=kr.kind,
        start=kr.start_value,
        target=kr.target_value,
        low=kr.range_low,
        high=kr.range_high,
        current=kr.current_value,
        unit=kr.unit,
        progress=actual,
        expected=expected,
        behind_pace=expected is not None and behind_pace(kr.kind, actual, expected),
        status=latest.status if latest else None,
        confidence=latest.confidence if latest and latest.confidence is not None else kr.confidence,
        stale=stale,
        last_check_in_at=last_at,
        recent=[
            CheckInView(c.value, c.status, c.confidence, c.note, c.author_id, c.created_at)
            for c in history
        ],
    )
