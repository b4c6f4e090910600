"""`/okr schedule`: when a workspace, or one objective channel, is asked for check-ins."""

from __future__ import annotations

from datetime import datetime

from bot.core.actor import Actor
from bot.core.errors import Forbidden
from bot.core.grammar import ChannelRef
from bot.core.outcome import ChannelMention, Code, Done, Emoji, Strong
from bot.core.schedule import DEFAULT_SCHEDULE, WeeklySlot
from bot.slack.directory import Directory
from storage.db import Database


class ScheduleService:
    def __init__(self, db: Database, directory: Directory) -> None:
        self._db = db
        self._directory = directory

    async def show(self, actor: Actor, channel_ref: ChannelRef | None) -> Done:
        channel = await self._resolve(actor, channel_ref)
        async with self._db.team(actor.team_id) as store:
            row = (await store.prompts.schedule(channel)) if channel else None
            row = row or await store.prompts.schedule()
            workspace = await store.workspace.get()
        slot = WeeklySlot(row.weekday, row.local_time) if row else DEFAULT_SCHEDULE
        escalate = workspace.escalate_after if workspace is not None else None
        escalation: tuple[str | Strong | Code, ...] = (
            (
                "\nAfter ",
                Strong(f"{escalate} missed in a row"),
                ", the objective's owner is told (",
                Code("/okr schedule escalate off"),
                " to stop).",
            )
            if escalate
            else ()
        )
        return Done(
            Emoji("calendar"),
            " Check-ins are requested every ",
            Strong(slot.describe()),
            *_where(channel),
            ", in each owner's own time zone. Change it with ",
            Code("/okr schedule friday 15:00"),
            ".",
            *escalation,
        )

    async def change(
        self,
        actor: Actor,
        weekday: int,
        local_time: str,
        channel_ref: ChannelRef | None,
        now: datetime,
    ) -> Done:
        """Admins change any slot; for one channel, so may whoever owns every active
        objective reporting there (owning one of several is not enough: a decoy objective
        would otherwise move other owners' slot)."""
        channel = await self._resolve(actor, channel_ref)
        is_admin = (await self._directory.user(actor.team_id, actor.user_id, now)).is_admin
        async with self._db.team(actor.team_id) as store:
            await store.workspace.ensure(now)
            owners = (
                {o.owner_id for o in await store.okrs.active_objectives(channel_id=channel)}
                if channel is not None
                else set()
            )
            if not (is_admin or owners == {actor.user_id}):
                raise Forbidden(
                    "only a workspace admin, or for one channel whoever owns every objective "
                    "reporting there, can change the check-in schedule"
                )
            await store.prompts.set_schedule(weekday, local_time, now, channel or "")
        slot = WeeklySlot(weekday, local_time)
        return Done(
            Emoji("calendar"),
            " Check-ins will be requested every ",
            Strong(slot.describe()),
            *_where(channel),
            ", in each owner's own time zone.",
        )

    async def _resolve(self, actor: Actor, ref: ChannelRef | None) -> str | None:
        return None if ref is None else await self._directory.resolve_channel(actor.team_id, ref)


def _where(channel: str | None) -> tuple[str | ChannelMention, ...]:
    return (" for objectives reporting to ", ChannelMention(channel)) if channel else ()
