"""What one person's App Home shows, loaded in a constant number of queries.

Pure reading: key results and objectives the viewer is part of, this period's check-ins,
open alerts of the workspace's KPIs. The viewer's channels come from the caller (Slack
knows them, the database does not).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.blocks.home import HomeAlert, HomeKeyResult, HomeObjective, HomeSettings, HomeView
from bot.core.errors import Forbidden
from bot.core.numbers import describe_range, format_value
from bot.core.progress import (
    Measure,
    behind_pace,
    expected_progress,
    objective_progress,
    progress,
)
from bot.core.schedule import Schedules, previous_slot
from bot.slack.directory import Directory, fill_names
from storage.db import Database
from storage.models import Alert, Kpi, Objective
from storage.repositories import TeamStore
from storage.rows import CheckInRow, KeyResultRow

TREND_POINTS = 8


@dataclass(frozen=True)
class Delays:
    """The workspace-wide delays an admin sees in the settings section."""

    reminder_hours: float
    digest_delay_hours: float
    alert_repeat_hours: float


# (block id in the settings modal, label, lowest, lowest allowed itself, highest)
DELAY_FIELDS = (
    ("reminder", "The reminder delay", 0.0, False, 144.0),
    ("digest", "The digest delay", 0.0, True, 144.0),
    ("escalation", "The alert reminder interval", 0.0, False, 720.0),
)


def check_delays(raw: dict[str, str | None]) -> tuple[Delays | None, dict[str, str]]:
    """The three delays from the settings modal, or a field error for each bad one."""
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for block_id, label, low, low_ok, high in DELAY_FIELDS:
        text = (raw.get(block_id) or "").strip()
        try:
            value = float(text)
        except ValueError:
            errors[block_id] = f"{label} must be a number of hours."
            continue
        if not (value >= low if low_ok else value > low) or value > high or value != value:
            bound = f"from {low:g}" if low_ok else f"more than {low:g}"
            errors[block_id] = f"{label} must be {bound} and at most {high:g} hours."
            continue
        values[block_id] = value
    if errors:
        return None, errors
    return Delays(values["reminder"], values["digest"], values["escalation"]), {}


class HomeService:
    def __init__(
        self, db: Database, directory: Directory, fallback_zone: ZoneInfo, delays: Delays
    ) -> None:
        self._db = db
        self._directory = directory
        self._fallback_zone = fallback_zone
        self._delays = delays

    async def change_delays(
        self, team_id: str, user_id: str, delays: Delays, now: datetime
    ) -> None:
        """Admins only: the tick uses these instead of the environment's defaults."""
        if not (await self._directory.user(team_id, user_id, now)).is_admin:
            raise Forbidden("only a workspace admin can change okrbot's settings")
        async with self._db.team(team_id) as store:
            await store.workspace.ensure(now)
            await store.workspace.set_delays(
                delays.reminder_hours, delays.digest_delay_hours, delays.alert_repeat_hours
            )

    async def alert_channels(self, team_id: str) -> set[str]:
        """Channels with an open alert: the caller asks Slack which of them the viewer is in."""
        async with self._db.team(team_id) as store:
            kpis = await store.kpis.all()
            alerts = await store.alerts.open_for([k.id for k in kpis])
        by_id = {k.id: k for k in kpis}
        return {c for a in alerts if (c := by_id[a.kpi_id].channel_id)}

    async def view(
        self, team_id: str, user_id: str, now: datetime, channels: Iterable[str] = ()
    ) -> HomeView:
        """The viewer's Home; `channels` are the alert channels the viewer is a member of."""
        me = await self._directory.user(team_id, user_id, now)
        zone = self._zone(me.tz)
        async with self._db.team(team_id) as store:
            view = await self._load(store, user_id, me.is_admin, zone, now, set(channels))
        owners = {kr.owner_id for o in view.owned for kr in o.key_results}
        names = await fill_names(self._directory, team_id, owners, view.names, now)
        return replace(view, names=names)

    def _zone(self, tz: str | None) -> ZoneInfo:
        try:
            return ZoneInfo(tz) if tz else self._fallback_zone
        except (ZoneInfoNotFoundError, ValueError):
            return self._fallback_zone

    async def _load(
        self,
        store: TeamStore,
        user_id: str,
        is_admin: bool,
        zone: ZoneInfo,
        now: datetime,
        channels: set[str],
    ) -> HomeView:
        workspace = await store.workspace.get()
        created = workspace.created_at if workspace else now
        schedules = Schedules.from_rows(await store.prompts.schedules(), created)
        objectives = await store.okrs.active_objectives(user_id=user_id)
        key_results = await store.okrs.key_result_rows([o.id for o in objectives])
        recent = await store.checkins.recent([k.id for k in key_results], TREND_POINTS)
        prompt = await store.prompts.latest_started(user_id, now, open_only=True)
        kpis = await store.kpis.all()
        alerts = await store.alerts.open_for([k.id for k in kpis])
        owners = {k.owner_id for k in key_results} | {user_id}
        names = await store.workspace.display_names(owners)

        history: dict[int, list[CheckInRow]] = {}
        for checkin in recent:  # newest first
            history.setdefault(checkin.key_result_id, []).append(checkin)
        by_objective = {o.id: o for o in objectives}
        views = {
            kr.id: _key_result_view(kr, by_objective[kr.objective_id], history.get(kr.id, []), now)
            for kr in key_results
        }
        mine = [kr for kr in key_results if kr.owner_id == user_id]
        due = []
        for kr in mine:
            slot = schedules.for_channel(by_objective[kr.objective_id].channel_id)[0]
            start = previous_slot(slot, now, zone)
            latest = history.get(kr.id, [])
            # A key result created after this period's slot is first asked at the next one.
            # A check-in counts for the owner period stored with it (a late answer for last
            # week does not make this week's due).
            answered = any((c.period_start or c.created_at) >= start for c in latest)
            if kr.created_at <= start and not answered:
                due.append(views[kr.id])
        period_start = previous_slot(schedules.default, now, zone)
        owned = [
            HomeObjective(
                number=o.number,
                title=o.title,
                cycle=o.cycle,
                progress=objective_progress(
                    [views[k.id].progress for k in key_results if k.objective_id == o.id]
                ),
                key_results=tuple(views[k.id] for k in key_results if k.objective_id == o.id),
            )
            for o in objectives
            if o.owner_id == user_id
        ]
        kpi_by_id = {k.id: k for k in kpis}
        shown_alerts = [
            _alert_view(a, kpi_by_id[a.kpi_id], now, zone)
            for a in alerts
            if kpi_by_id[a.kpi_id].owner_id == user_id or kpi_by_id[a.kpi_id].channel_id in channels
        ]
        settings = None
        if is_admin:
            defaults = self._delays

            def chosen(value: float | None, default: float) -> float:
                return default if value is None else value

            settings = HomeSettings(
                slot=schedules.default,
                reminder_hours=chosen(
                    workspace.reminder_hours if workspace else None, defaults.reminder_hours
                ),
                digest_delay_hours=chosen(
                    workspace.digest_delay_hours if workspace else None,
                    defaults.digest_delay_hours,
                ),
                alert_repeat_hours=chosen(
                    workspace.alert_repeat_hours if workspace else None,
                    defaults.alert_repeat_hours,
                ),
            )
        return HomeView(
            user_id=user_id,
            period_text=f"week of {period_start.astimezone(zone):%b} "
            f"{period_start.astimezone(zone).day}",
            skipped=prompt is not None and prompt.skipped_at is not None,
            due=tuple(due),
            mine=tuple(views[k.id] for k in mine),
            owned=tuple(owned),
            alerts=tuple(sorted(shown_alerts, key=lambda a: a.alert_id, reverse=True)),
            names=names,
            settings=settings,
        )


def _key_result_view(
    kr: KeyResultRow, objective: Objective, checkins: list[CheckInRow], now: datetime
) -> HomeKeyResult:
    measure = Measure(
        kr.kind, kr.start_value, kr.target_value, kr.range_low, kr.range_high, kr.current_value
    )
    actual = progress(measure)
    expected = expected_progress(objective.cycle, now, kr.created_at)
    latest = checkins[0] if checkins else None
    values = tuple(c.value for c in reversed(checkins) if c.value is not None)
    return HomeKeyResult(
        number=kr.number,
        title=kr.title,
        objective_number=objective.number,
        owner_id=kr.owner_id,
        kind=kr.kind,
        unit=kr.unit,
        value=kr.current_value,
        target_text=_target(kr),
        progress=actual,
        behind_pace=behind_pace(kr.kind, actual, expected),
        expected=expected,
        status=latest.status if latest else None,
        confidence=kr.confidence if kr.confidence is not None else None,
        trend=values,
    )


def _target(kr: KeyResultRow) -> str:
    if kr.kind == "boolean":
        return ""
    if kr.kind == "range":
        return "(keep within " + describe_range(kr.range_low, kr.range_high, kr.unit) + ")"
    return "→ " + format_value(kr.target_value, kr.unit)


def _alert_view(alert: Alert, kpi: Kpi, now: datetime, zone: ZoneInfo) -> HomeAlert:
    if alert.kind == "no_data":
        state = "no_data"
    elif alert.snoozed_until is not None and alert.snoozed_until > now:
        state = "snoozed"
    elif alert.acknowledged_at is not None:
        state = "acknowledged"
    else:
        state = "open"
    opened = alert.opened_at.astimezone(zone)
    ago = now - alert.opened_at
    since = f"{opened:%a %d %b %H:%M}" if ago >= timedelta(hours=20) else f"{opened:%H:%M}"
    return HomeAlert(
        alert_id=alert.id,
        kpi_key=kpi.key,
        kpi_name=kpi.name,
        channel_id=kpi.channel_id,
        value=alert.last_value,
        unit=kpi.unit,
        state=state,
        since_text=since,
    )
