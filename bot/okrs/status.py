"""`/okr status`: what the summary says, as plain data (rendering is elsewhere).

A report loads in a constant number of queries whatever the workspace's size:
objectives, then for a summary their key results each with its newest check-in in one
query, and for one objective's detail its key results and their last few check-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.blocks.status import CheckInView, KeyResultView, ObjectiveView, Scope, StatusReport
from bot.core.errors import NotFound
from bot.core.grammar import UserRef
from bot.core.kpi_health import KpiHealth, followed, health_by_kpi
from bot.core.progress import (
    Measure,
    behind_pace,
    expected_progress,
    has_pace,
    objective_progress,
    pace_start,
    progress,
)
from bot.core.schedule import HALF_WEEK, Schedules, last_closed_week
from bot.okrs.commands import Status
from bot.slack.directory import Directory, fill_names
from storage.db import Database
from storage.rows import CheckInRow, KeyResultRow, LatestCheckIn, ObjectiveRow

RECENT_CHECK_INS = 5


class StatusService:
    """`/okr status` and App Home: resolve the scope, then load what the report shows."""

    def __init__(self, db: Database, directory: Directory, timezone: ZoneInfo) -> None:
        self._db = db
        self._directory = directory
        self._timezone = timezone

    async def report(
        self,
        team_id: str,
        channel_id: str | None,
        scope: Status,
        now: datetime,
        viewer_id: str | None = None,
    ) -> StatusReport:
        """`viewer_id` is who asked: `@me` means them."""
        resolved_channel = None
        resolved_user = None
        if scope.channel is not None:
            resolved_channel = await self._directory.resolve_channel(team_id, scope.channel)
        if scope.user is not None and _is_me(scope.user) and viewer_id is not None:
            resolved_user = viewer_id
        elif scope.user is not None:
            resolved_user = await self._directory.resolve_user(team_id, scope.user)
        async with self._db.team(team_id) as store:
            workspace = await store.workspace.get()
            schedules = Schedules.from_rows(
                await store.prompts.schedules(), workspace.created_at if workspace else now
            )
            if scope.scope == "objective":
                assert scope.objective_number is not None
                objectives = await store.okrs.objective_rows(number=scope.objective_number)
                if not objectives:
                    raise NotFound(
                        f"there is no objective O-{scope.objective_number} in this workspace"
                    )
                covered = Scope("objective")
            elif scope.scope == "channel":
                objectives = await store.okrs.objective_rows(channel_id=resolved_channel)
                covered = Scope("channel", channel_id=resolved_channel)
            elif scope.scope == "user":
                objectives = await store.okrs.objective_rows(user_id=resolved_user)
                covered = Scope("user", user_id=resolved_user)
            else:
                objectives = []
                if scope.scope == "default" and channel_id:
                    objectives = await store.okrs.objective_rows(channel_id=channel_id)
                if objectives:
                    covered = Scope("channel", channel_id=channel_id)
                else:
                    objectives = await store.okrs.objective_rows()
                    covered = Scope("all")
            detail = scope.scope == "objective"
            recent: Sequence[CheckInRow | LatestCheckIn]
            if detail:  # one objective: its key results' last few check-ins, listed
                key_results = await store.okrs.key_result_rows(o.id for o in objectives)
                recent = await store.checkins.recent(
                    (kr.id for kr in key_results), RECENT_CHECK_INS
                )
            else:  # a summary: each key result with its newest check-in, in one query
                with_latest = await store.okrs.key_results_with_latest(o.id for o in objectives)
                key_results = [kr for kr, _ in with_latest]
                recent = [latest for _, latest in with_latest if latest is not None]
            parents = await store.okrs.numbers_by_id(o.parent_id for o in objectives if o.parent_id)
            # "Missed the last period": no check-in counting for the latest week that every
            # owner reporting to the channel has closed (the week its digest shows), so
            # status and digest agree; an owner who skipped it is not stale.
            owner_zones = await store.prompts.channel_owner_zones()
            stale_before = {
                channel: last_closed_week(
                    schedules.for_channel(channel)[0],
                    now,
                    owner_zones.get(channel or "", ()),
                    self._timezone,
                )
                - HALF_WEEK
                for channel in {o.channel_id for o in objectives}
            }
            people = {o.owner_id for o in objectives} | {kr.owner_id for kr in key_results}
            for listed in recent:  # the people a detail's history names
                if isinstance(listed, CheckInRow):
                    people |= {p for p in (listed.author_id, listed.entered_by) if p}
            if resolved_user:
                people.add(resolved_user)
            names = await store.workspace.display_names(people)
            followed_ids = [kr.kpi_id for kr in key_results if kr.kpi_id is not None]
            health = health_by_kpi(await store.kpis.health_rows(followed_ids))
            cutoffs = stale_before.values()
            skipped = await store.prompts.skipped_by(
                min(cutoffs, default=now),  # owner periods of those weeks
                max(cutoffs, default=now) + timedelta(weeks=1),
            )
        # Posted in a channel: people are named, never mentioned (a mention pings).
        names = await fill_names(self._directory, team_id, people, names, now)
        return StatusReport(
            scope=covered,
            objectives=assemble(
                objectives,
                key_results,
                recent,
                parents,
                now,
                stale_before,
                skipped,
                health,
                only_owner=resolved_user if scope.scope == "user" else None,
            ),
            names=names,
            at=now,
        )


def _is_me(ref: UserRef) -> bool:
    return ref.user_id is None and (ref.name or "").lower() == "me"


def assemble(
    objectives: list[ObjectiveRow],
    key_results: list[KeyResultRow],
    recent: Sequence[CheckInRow | LatestCheckIn],
    parent_numbers: dict[int, int],
    now: datetime,
    stale_before: datetime | dict[str | None, datetime],
    skipped: set[str] | frozenset[str] = frozenset(),
    kpi_health: dict[int, KpiHealth] | None = None,
    *,
    only_owner: str | None = None,
) -> list[ObjectiveView]:
    """Join the loaded rows into views: pure, so it is tested without a database.

    `recent` is each key result's newest check-ins, newest first: `CheckInRow`s are
    listed in its view's history (one objective's detail), a `LatestCheckIn` only gives
    its status (a summary). `stale_before` is one cut-off, or one per objective
    channel; owners in `skipped` were out for the period and are not flagged stale;
    `kpi_health` is the health of the KPIs the key results follow, by KPI id. With
    `only_owner` (`/okr status @user`, App Home) each objective lists only that
    person's key results — its progress stays the whole objective's, as context —
    and objectives where they own none are left out unless they own it and it has
    no key results at all.
    """
    health = kpi_health or {}
    kpi_ids: dict[int, list[int | None]] = {}
    for kr in key_results:
        kpi_ids.setdefault(kr.objective_id, []).append(kr.kpi_id)
    by_key_result: dict[int, list[CheckInRow | LatestCheckIn]] = {}
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
        shown = krs
        if only_owner is not None:
            shown = [kr for kr in krs if kr.owner_id == only_owner]
            if not shown and (krs or objective.owner_id != only_owner):
                continue
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
                key_results=shown,
                kpis=followed(kpi_ids.get(objective.id, []), health),
            )
        )
    return views


def _key_result_view(
    kr: KeyResultRow,
    history: list[CheckInRow | LatestCheckIn],
    cycle: str,
    now: datetime,
    stale_before: datetime,
) -> KeyResultView:
    measure = Measure(
        kr.kind, kr.start_value, kr.target_value, kr.range_low, kr.range_high, kr.current_value
    )
    actual = progress(measure)
    expected = expected_progress(cycle, now, kr.created_at) if has_pace(kr.kind) else None
    latest = history[0] if history else None
    last_at = latest.counts_for if latest else None
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
        created_at=kr.created_at,
        pace_from=pace_start(cycle, kr.created_at),
        recent=[
            CheckInView(
                c.value, c.status, c.confidence, c.note, c.author_id, c.created_at, c.entered_by
            )
            for c in history
            if isinstance(c, CheckInRow)
        ],
    )
