"""Managing objectives and key results: the rules behind `/okr objective|kr …`.

Mentions are resolved and admin rights looked up before the write transaction
opens, so no Slack call ever runs while rows are locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import Forbidden, NotFound, UserError
from bot.core.grammar import ChannelRef, UserRef
from bot.core.progress import current_cycle
from bot.core.schedule import DEFAULT_SCHEDULE, WeeklySlot
from bot.okrs import commands as cmd
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import KeyResult, Kpi, Measurement, Objective
from storage.repository import Repository, ensure_workspace


@dataclass(frozen=True)
class Actor:
    """Who runs a command, and where."""

    team_id: str
    user_id: str
    channel_id: str | None = None


@dataclass(frozen=True)
class Done:
    """The outcome of a change, as a sentence for the person who asked."""

    message: str


class OkrService:
    def __init__(self, db: Database, directory: Directory) -> None:
        self.db = db
        self.directory = directory

    async def _user(self, actor: Actor, ref: UserRef | None) -> str | None:
        return None if ref is None else await self.directory.resolve_user(actor.team_id, ref)

    async def _channel(self, actor: Actor, ref: ChannelRef | None) -> str | None:
        return None if ref is None else await self.directory.resolve_channel(actor.team_id, ref)

    async def _is_admin(self, actor: Actor, now: datetime) -> bool:
        return (await self.directory.user(actor.team_id, actor.user_id, now)).is_admin

    @staticmethod
    def _require(allowed: bool, what: str) -> None:
        if not allowed:
            raise Forbidden(f"only the owner of {what} or a workspace admin can change it")

    async def _objective(self, repo: Repository, number: int) -> Objective:
        objective = await repo.objective(number)
        if objective is None:
            raise NotFound(f"there is no objective O-{number} in this workspace")
        return objective

    async def _key_result(self, repo: Repository, number: int) -> KeyResult:
        key_result = await repo.key_result(number)
        if key_result is None:
            raise NotFound(f"there is no key result KR-{number} in this workspace")
        return key_result

    # Objectives ------------------------------------------------------------

    async def add_objective(self, actor: Actor, command: cmd.ObjectiveAdd, now: datetime) -> Done:
        owner = await self._user(actor, command.owner) or actor.user_id
        channel = await self._channel(actor, command.channel) or actor.channel_id
        async with self.db.session() as session:
            await ensure_workspace(session, actor.team_id, now)
            repo = Repository(session, actor.team_id)
            parent_id = None
            if command.parent_number is not None:
                parent_id = (await self._objective(repo, command.parent_number)).id
            objective = Objective(
                team_id=actor.team_id,
                number=await repo.next_objective_number(),
                title=command.title,
                owner_id=owner,
                channel_id=channel,
                cycle=command.cycle or current_cycle(now),
                parent_id=parent_id,
                status="active",
                created_at=now,
                updated_at=now,
            )
            await repo.add(objective)
        where = f" reporting to <#{channel}>" if channel else ""
        return Done(
            f":dart: Created *O-{objective.number}* {objective.title} "
            f"(owner <@{owner}>, {objective.cycle}){where}.\n"
            f'Add key results with `/okr kr add O-{objective.number} "Title" from X to Y`.'
        )

    async def edit_objective(self, actor: Actor, command: cmd.ObjectiveEdit, now: datetime) -> Done:
        owner = await self._user(actor, command.owner)
        channel = await self._channel(actor, command.channel)
        is_admin = await self._is_admin(actor, now)
        async with self.db.session() as session:
            repo = Repository(session, actor.team_id)
            objective = await self._objective(repo, command.number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{objective.number}")
            if command.parent_number is not None:
                parent = await self._objective(repo, command.parent_number)
                links = await repo.parent_links()
                if would_loop(links, objective.id, parent.id):
                    raise UserError(
                        f"O-{parent.number} cannot be the parent of O-{objective.number}: "
                        "that would make a loop",
                        cmd.USAGE["objective edit"],
                    )
                objective.parent_id = parent.id
            if command.title is not None:
                objective.title = command.title
            if owner is not None:
                objective.owner_id = owner
            if command.cycle is not None:
                objective.cycle = command.cycle
            if channel is not None:
                objective.channel_id = channel
            objective.updated_at = now
        return Done(f":pencil2: Updated *O-{objective.number}* {objective.title}.")

    async def close_objective(self, actor: Actor, number: int, now: datetime) -> Done:
        is_admin = await self._is_admin(actor, now)
        async with self.db.session() as session:
            repo = Repository(session, actor.team_id)
            objective = await self._objective(repo, number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{number}")
            if objective.status != "active":
                return Done(f"O-{number} is already {objective.status}.")
            objective.status = "done"
            objective.updated_at = now
        return Done(f":white_check_mark: Closed *O-{number}* {objective.title}.")

    async def delete_objective(self, actor: Actor, number: int, now: datetime) -> Done:
        is_admin = await self._is_admin(actor, now)
        async with self.db.session() as session:
            repo = Repository(session, actor.team_id)
            objective = await self._objective(repo, number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{number}")
            title = objective.title
            await repo.delete_objective(objective)
        return Done(f":wastebasket: Deleted *O-{number}* {title} and its key results.")

    # Key results -----------------------------------------------------------

    async def add_key_result(self, actor: Actor, command: cmd.KeyResultAdd, now: datetime) -> Done:
        owner = await self._user(actor, command.owner) or actor.user_id
        is_admin = await self._is_admin(actor, now)
        async with self.db.session() as session:
            await ensure_workspace(session, actor.team_id, now)
            repo = Repository(session, actor.team_id)
            objective = await self._objective(repo, command.objective_number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{objective.number}")
            target = command.target
            kpi = await _followed_kpi(session, actor.team_id, command.follows)
            key_result = KeyResult(
                team_id=actor.team_id,
                number=await repo.next_key_result_number(),
                objective_id=objective.id,
                title=command.title,
                owner_id=owner,
                kind=target.kind,
                start_value=target.start,
                target_value=target.target,
                range_low=target.low,
                range_high=target.high,
                current_value=target.start if target.kind != "range" else None,
                unit=command.unit,
                kpi_id=kpi.id if kpi else None,
                created_at=now,
                updated_at=now,
            )
            await repo.add(key_result)
            if kpi is not None:
                latest = await session.scalar(
                    select(Measurement.value)
                    .where(Measurement.kpi_id == kpi.id)
                    .order_by(Measurement.at.desc())
                    .limit(1)
                )
                if latest is not None:
                    key_result.current_value = latest
        follows = f"; it follows KPI `{command.follows}`" if command.follows else ""
        return Done(
            f":dart: Added *KR-{key_result.number}* {key_result.title} to "
            f"*O-{objective.number}* (owner <@{owner}>, {describe_target(key_result)}){follows}."
        )

    async def edit_key_result(
        self, actor: Actor, command: cmd.KeyResultEdit, now: datetime
    ) -> Done:
        owner = await self._user(actor, command.owner)
        is_admin = await self._is_admin(actor, now)
        async with self.db.session() as session:
            repo = Repository(session, actor.team_id)
            key_result = await self._key_result(repo, command.number)
            objective = await repo.objective_by_id(key_result.objective_id)
            owners = {key_result.owner_id, objective.owner_id if objective else None}
            self._require(is_admin or actor.user_id in owners, f"KR-{key_result.number}")
            _apply_measure_edit(key_result, command)
            if command.title is not None:
                key_result.title = command.title
            if command.unit is not None:
                key_result.unit = command.unit
            if owner is not None:
                key_result.owner_id = owner
            key_result.updated_at = now
        return Done(
            f":pencil2: Updated *KR-{key_result.number}* {key_result.title} "
            f"({describe_target(key_result)})."
        )

    async def delete_key_result(self, actor: Actor, number: int, now: datetime) -> Done:
        is_admin = await self._is_admin(actor, now)
        async with self.db.session() as session:
            repo = Repository(session, actor.team_id)
            key_result = await self._key_result(repo, number)
            objective = await repo.objective_by_id(key_result.objective_id)
            owners = {key_result.owner_id, objective.owner_id if objective else None}
            self._require(is_admin or actor.user_id in owners, f"KR-{number}")
            title = key_result.title
            await repo.delete_key_result(key_result)
        return Done(f":wastebasket: Deleted *KR-{number}* {title}.")

    # Schedule --------------------------------------------------------------

    async def schedule(
        self,
        actor: Actor,
        command: cmd.ScheduleCommand,
        now: datetime,
    ) -> Done:
        """Show or change the weekly slot: the workspace's, or one objective channel's.

        Admins change any slot; the owner of an objective reporting to a channel
        may change that channel's.
        """
        channel = await self._channel(actor, command.channel)
        where = f" for objectives reporting to <#{channel}>" if channel else ""
        if command.weekday is None or command.local_time is None:
            async with self.db.session() as session:
                repo = Repository(session, actor.team_id)
                row = (await repo.schedule(channel)) if channel else None
                row = row or await repo.schedule()
            slot = WeeklySlot(row.weekday, row.local_time) if row else DEFAULT_SCHEDULE
            return Done(
                f":calendar: Check-ins are requested every *{slot.describe()}*{where}, "
                "in each owner's own time zone. Change it with `/okr schedule friday 15:00`."
            )
        is_admin = await self._is_admin(actor, now)
        async with self.db.session() as session:
            await ensure_workspace(session, actor.team_id, now)
            repo = Repository(session, actor.team_id)
            owns_channel = channel is not None and any(
                o.owner_id == actor.user_id
                for o in await repo.active_objectives(channel_id=channel)
            )
            if not (is_admin or owns_channel):
                raise Forbidden(
                    "only a workspace admin (or, for one channel, the owner of an objective "
                    "reporting there) can change the check-in schedule"
                )
            await repo.set_schedule(command.weekday, command.local_time, now, channel or "")
        slot = WeeklySlot(command.weekday, command.local_time)
        return Done(
            f":calendar: Check-ins will be requested every *{slot.describe()}*{where}, "
            "in each owner's own time zone."
        )


async def _followed_kpi(session: AsyncSession, team_id: str, key: str | None) -> Kpi | None:
    """The KPI a key result follows (its value then comes from the KPI's measurements)."""
    if key is None:
        return None
    kpi: Kpi | None = await session.scalar(
        select(Kpi).where(Kpi.team_id == team_id, Kpi.key == key)
    )
    if kpi is None:
        raise NotFound(
            f'there is no KPI `{key}` to follow: create it first with `/kpi add {key} "Name"`',
            cmd.USAGE["kr add"],
        )
    return kpi


def would_loop(links: dict[int, int | None], child_id: int, parent_id: int) -> bool:
    """True when making `parent_id` the parent of `child_id` closes a cycle."""
    seen: set[int] = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == child_id:
            return True
        seen.add(current)
        current = links.get(current)
    return False


def _apply_measure_edit(key_result: KeyResult, command: cmd.KeyResultEdit) -> None:
    """Change start/target or range, keeping the kind consistent with the new numbers."""
    usage = cmd.USAGE["kr edit"]
    if command.range is not None:
        if key_result.kind != "range":
            raise UserError(
                f"KR-{key_result.number} is measured {key_result.kind}, not as a range", usage
            )
        key_result.range_low, key_result.range_high = command.range
        return
    if command.start is None and command.target is None:
        return
    if key_result.kind not in {"increase", "decrease"}:
        raise UserError(
            f"KR-{key_result.number} is a {key_result.kind} key result: it has no from/to", usage
        )
    start = command.start if command.start is not None else key_result.start_value
    target = command.target if command.target is not None else key_result.target_value
    assert start is not None and target is not None
    if start == target:
        raise UserError(f"start and target are both {start:g}: they must differ", usage)
    if key_result.current_value == key_result.start_value:
        key_result.current_value = start
    key_result.start_value, key_result.target_value = start, target
    key_result.kind = "increase" if target > start else "decrease"


def format_number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value == int(value) and abs(value) < 1e15 else f"{value:,.4g}"


def describe_target(key_result: KeyResult) -> str:
    unit = f" {key_result.unit}" if key_result.unit else ""
    if key_result.kind == "boolean":
        return "done or not"
    if key_result.kind == "range":
        return (
            f"stay within {format_number(key_result.range_low)}–"
            f"{format_number(key_result.range_high)}{unit}"
        )
    return (
        f"{key_result.kind} from {format_number(key_result.start_value)} to "
        f"{format_number(key_result.target_value)}{unit}"
    )
