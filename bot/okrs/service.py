"""Managing objectives and key results: the rules behind `/okr objective|kr …`.

Mentions are resolved and admin rights looked up before the write transaction
opens, so no Slack call ever runs while rows are locked. `new_objective` and
`new_key_result` are the one way rows are created (commands and YAML import
alike), so a rule such as "a key result that follows a KPI starts at the KPI's
latest value" holds everywhere.
"""

from __future__ import annotations

from datetime import datetime

from bot.blocks.goals import KpiGoalDraft
from bot.core.actor import Actor
from bot.core.errors import FieldError, Forbidden, NotFound, UserError
from bot.core.grammar import ChannelRef, UserRef
from bot.core.numbers import describe_range, format_number, format_value
from bot.core.outcome import ChannelMention, Code, Done, Emoji, Strong, UserMention
from bot.core.progress import current_cycle
from bot.okrs import commands as cmd
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import KeyResult, Kpi, Objective
from storage.repositories import TeamStore


class OkrService:
    def __init__(self, db: Database, directory: Directory) -> None:
        self._db = db
        self._directory = directory

    async def _user(self, actor: Actor, ref: UserRef | None) -> str | None:
        return None if ref is None else await self._directory.resolve_user(actor.team_id, ref)

    async def _channel(self, actor: Actor, ref: ChannelRef | None) -> str | None:
        return None if ref is None else await self._directory.resolve_channel(actor.team_id, ref)

    async def _is_admin(self, actor: Actor, now: datetime) -> bool:
        return (await self._directory.user(actor.team_id, actor.user_id, now)).is_admin

    @staticmethod
    def _require(allowed: bool, what: str) -> None:
        if not allowed:
            raise Forbidden(f"only the owner of {what} or a workspace admin can change it")

    # Objectives ------------------------------------------------------------

    async def add_objective(self, actor: Actor, command: cmd.ObjectiveAdd, now: datetime) -> Done:
        owner = await self._user(actor, command.owner) or actor.user_id
        channel = await self._channel(actor, command.channel) or actor.channel_id
        async with self._db.team(actor.team_id) as store:
            await store.workspace.ensure(now)
            parent_id = None
            if command.parent_number is not None:
                parent_id = (await objective_numbered(store, command.parent_number)).id
            objective = await new_objective(
                store,
                title=command.title,
                owner_id=owner,
                channel_id=channel,
                cycle=command.cycle or current_cycle(now),
                parent_id=parent_id,
                now=now,
            )
        where: tuple[str | ChannelMention, ...] = (
            (" reporting to ", ChannelMention(channel)) if channel else ()
        )
        return Done(
            Emoji("dart"),
            " Created ",
            Strong(f"O-{objective.number}"),
            f" {objective.title} (owner ",
            UserMention(owner),
            f", {objective.cycle})",
            *where,
            ".\nAdd key results with ",
            Code(f'/okr kr add O-{objective.number} "Title" from X to Y'),
            ".",
        )

    async def edit_objective(self, actor: Actor, command: cmd.ObjectiveEdit, now: datetime) -> Done:
        owner = await self._user(actor, command.owner)
        channel = await self._channel(actor, command.channel)
        is_admin = await self._is_admin(actor, now)
        async with self._db.team(actor.team_id) as store:
            objective = await objective_numbered(store, command.number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{objective.number}")
            if command.parent_number is not None:
                parent = await objective_numbered(store, command.parent_number)
                links = await store.okrs.parent_links()
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
        return Done(
            Emoji("pencil2"), " Updated ", Strong(f"O-{objective.number}"), f" {objective.title}."
        )

    async def close_objective(self, actor: Actor, number: int, now: datetime) -> Done:
        is_admin = await self._is_admin(actor, now)
        async with self._db.team(actor.team_id) as store:
            objective = await objective_numbered(store, number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{number}")
            if objective.status != "active":
                return Done(f"O-{number} is already {objective.status}.")
            objective.status = "done"
            objective.updated_at = now
        return Done(
            Emoji("white_check_mark"), " Closed ", Strong(f"O-{number}"), f" {objective.title}."
        )

    async def delete_objective(self, actor: Actor, number: int, now: datetime) -> Done:
        is_admin = await self._is_admin(actor, now)
        async with self._db.team(actor.team_id) as store:
            objective = await objective_numbered(store, number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{number}")
            title = objective.title
            await store.okrs.delete_objective(objective)
        return Done(
            Emoji("wastebasket"),
            " Deleted ",
            Strong(f"O-{number}"),
            f" {title} and its key results.",
        )

    # Key results -----------------------------------------------------------

    async def add_key_result(self, actor: Actor, command: cmd.KeyResultAdd, now: datetime) -> Done:
        owner = await self._user(actor, command.owner) or actor.user_id
        is_admin = await self._is_admin(actor, now)
        async with self._db.team(actor.team_id) as store:
            await store.workspace.ensure(now)
            objective = await objective_numbered(store, command.objective_number)
            self._require(is_admin or objective.owner_id == actor.user_id, f"O-{objective.number}")
            kpi = await followed_kpi(store, command.follows)
            key_result = await new_key_result(
                store,
                objective,
                title=command.title,
                owner_id=owner,
                target=command.target,
                unit=command.unit,
                kpi=kpi,
                now=now,
            )
        follows: tuple[str | Code, ...] = (
            ("; it follows KPI ", Code(command.follows)) if command.follows else ()
        )
        return Done(
            Emoji("dart"),
            " Added ",
            Strong(f"KR-{key_result.number}"),
            f" {key_result.title} to ",
            Strong(f"O-{objective.number}"),
            " (owner ",
            UserMention(owner),
            f", {describe_target(key_result)})",
            *follows,
            ".",
        )

    # A KPI that keeps leaving its range, made a goal (the digest's button) ----------

    async def kpi_goal_draft(self, actor: Actor, kpi_key: str) -> KpiGoalDraft:
        """What the "new key result that follows this KPI" modal is prefilled with."""
        async with self._db.team(actor.team_id) as store:
            kpi = await followed_kpi(store, kpi_key)
            assert kpi is not None
            latest = await store.kpis.latest_value(kpi.id)
            objectives = await store.okrs.active_objectives()
        if not objectives:
            raise UserError(
                "there is no active objective to add it to: "
                'create one first with `/okr objective add "Title"`'
            )
        here = [o for o in objectives if o.channel_id == actor.channel_id]
        rest = [o for o in objectives if o.channel_id != actor.channel_id]
        return KpiGoalDraft(
            kpi_key=kpi.key,
            kpi_name=kpi.name,
            unit=kpi.unit,
            latest=latest,
            owner_id=kpi.owner_id or actor.user_id,
            objectives=[(o.number, o.title) for o in here + rest],
            channel_id=actor.channel_id,
        )

    async def add_kpi_goal(self, actor: Actor, goal: cmd.KpiGoal, now: datetime) -> Done:
        """A key result that follows the KPI, from its latest value to the target."""
        async with self._db.team(actor.team_id) as store:
            kpi = await followed_kpi(store, goal.kpi_key)
            assert kpi is not None
            latest = await store.kpis.latest_value(kpi.id)
        if latest is None:
            raise FieldError("target", f"{kpi.key} has no measurement yet to start from")
        if latest == goal.target:
            raise FieldError(
                "target", f"{format_number(latest)} is where it stands now: aim elsewhere"
            )
        target = cmd.Target(
            "increase" if goal.target > latest else "decrease", start=latest, target=goal.target
        )
        command = cmd.KeyResultAdd(
            goal.objective_number,
            goal.title,
            target,
            unit=kpi.unit,
            owner=UserRef(user_id=goal.owner_id),
            follows=kpi.key,
        )
        try:
            return await self.add_key_result(actor, command, now)
        except UserError as exc:  # the objective is gone, or not the actor's to change
            raise FieldError("objective", exc.message) from None

    async def edit_key_result(
        self, actor: Actor, command: cmd.KeyResultEdit, now: datetime
    ) -> Done:
        owner = await self._user(actor, command.owner)
        is_admin = await self._is_admin(actor, now)
        async with self._db.team(actor.team_id) as store:
            key_result = await key_result_numbered(store, command.number)
            objective = await store.okrs.objective_by_id(key_result.objective_id)
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
            Emoji("pencil2"),
            " Updated ",
            Strong(f"KR-{key_result.number}"),
            f" {key_result.title} ({describe_target(key_result)}).",
        )

    async def delete_key_result(self, actor: Actor, number: int, now: datetime) -> Done:
        is_admin = await self._is_admin(actor, now)
        async with self._db.team(actor.team_id) as store:
            key_result = await key_result_numbered(store, number)
            objective = await store.okrs.objective_by_id(key_result.objective_id)
            owners = {key_result.owner_id, objective.owner_id if objective else None}
            self._require(is_admin or actor.user_id in owners, f"KR-{number}")
            title = key_result.title
            await store.okrs.delete(key_result)
        return Done(Emoji("wastebasket"), " Deleted ", Strong(f"KR-{number}"), f" {title}.")


# Shared by commands and the YAML import ---------------------------------------------------


async def objective_numbered(store: TeamStore, number: int) -> Objective:
    objective = await store.okrs.objective(number)
    if objective is None:
        raise NotFound(f"there is no objective O-{number} in this workspace")
    return objective


async def key_result_numbered(store: TeamStore, number: int) -> KeyResult:
    key_result = await store.okrs.key_result(number)
    if key_result is None:
        raise NotFound(f"there is no key result KR-{number} in this workspace")
    return key_result


async def followed_kpi(store: TeamStore, key: str | None) -> Kpi | None:
    """The KPI a key result follows (its value then comes from the KPI's measurements)."""
    if key is None:
        return None
    kpi = await store.kpis.by_key(key)
    if kpi is None:
        raise NotFound(
            f'there is no KPI `{key}` to follow: create it first with `/kpi add {key} "Name"`',
            cmd.USAGE["kr add"],
        )
    return kpi


async def new_objective(
    store: TeamStore,
    *,
    title: str,
    owner_id: str,
    channel_id: str | None,
    cycle: str,
    now: datetime,
    parent_id: int | None = None,
    status: str = "active",
    key: str | None = None,
    number: int | None = None,
) -> Objective:
    """A new objective with the workspace's next number (or `number`, which an import
    keeps: the caller has checked it is free and raised the counter past it)."""
    objective = Objective(
        team_id=store.team_id,
        number=number if number is not None else await store.workspace.next_objective_number(),
        key=key,
        title=title,
        owner_id=owner_id,
        channel_id=channel_id,
        cycle=cycle,
        parent_id=parent_id,
        status=status,
        created_at=now,
        updated_at=now,
    )
    await store.okrs.add(objective)
    return objective


async def new_key_result(
    store: TeamStore,
    objective: Objective,
    *,
    title: str,
    owner_id: str,
    target: cmd.Target,
    unit: str | None,
    kpi: Kpi | None,
    now: datetime,
    number: int | None = None,
) -> KeyResult:
    """A new key result: it starts at its start value, or at the followed KPI's latest.
    `number` is one an import keeps (checked free, the counter raised past it)."""
    current = target.start if target.kind != "range" else None
    if kpi is not None:
        latest = await store.kpis.latest_value(kpi.id)
        if latest is not None:
            current = latest
    key_result = KeyResult(
        team_id=store.team_id,
        number=(number if number is not None else await store.workspace.next_key_result_number()),
        objective_id=objective.id,
        title=title,
        owner_id=owner_id,
        kind=target.kind,
        start_value=target.start,
        target_value=target.target,
        range_low=target.low,
        range_high=target.high,
        current_value=current,
        unit=unit,
        kpi_id=kpi.id if kpi else None,
        created_at=now,
        updated_at=now,
    )
    await store.okrs.add(key_result)
    return key_result


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


def describe_target(key_result: KeyResult) -> str:
    """What a key result aims for, in words (plain text)."""
    if key_result.kind == "boolean":
        return "done or not"
    if key_result.kind == "range":
        return "stay within " + describe_range(
            key_result.range_low, key_result.range_high, key_result.unit
        ).replace(" – ", "–")
    return (
        f"{key_result.kind} from {format_number(key_result.start_value)} to "
        f"{format_value(key_result.target_value, key_result.unit)}"
    )
