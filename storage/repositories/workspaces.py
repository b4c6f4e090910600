"""The workspace row (numbering, install state), its Slack user cache and seen event ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute

from storage.models import KeyResult, ProcessedEvent, SlackUser, Workspace
from storage.repositories.base import TeamRepository, insert_ignore, upsert_insert


@dataclass(frozen=True)
class Member:
    """One person as `users.list` describes them, for the cache."""

    user_id: str
    name: str | None
    tz: str | None
    is_admin: bool


class WorkspaceRepository(TeamRepository):
    async def get(self) -> Workspace | None:
        return await self.session.get(Workspace, self.team_id)

    async def ensure(self, now: datetime) -> None:
        """Create the workspace row on first contact (from Slack or `--team`)."""
        await insert_ignore(
            self.session,
            Workspace,
            {
                "team_id": self.team_id,
                "created_at": now,
                "last_objective_number": 0,
                "last_key_result_number": 0,
                "installed": True,
            },
            ["team_id"],
        )

    async def set_delays(
        self, reminder_hours: float, digest_delay_hours: float, alert_repeat_hours: float
    ) -> None:
        """The admins' delays (App Home settings), used by the tick instead of the defaults."""
        await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values(
                reminder_hours=reminder_hours,
                digest_delay_hours=digest_delay_hours,
                alert_repeat_hours=alert_repeat_hours,
            )
        )

    async def mark_uninstalled(self, now: datetime) -> None:
        """Stop acting here; the grace period before erasing starts `now`."""
        await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values(installed=False, uninstalled_at=now)
        )

    async def mark_installed(self) -> bool:
        """Act here again (a reinstall); True when the workspace was uninstalled."""
        result = await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id, Workspace.installed.is_(False))
            .values(installed=True, uninstalled_at=None, prompts_planned_key=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def note_prompts_planned(self, key: str, since: datetime, until: datetime) -> None:
        """Who is due was answered for `key` (planning version and schedules), and that
        answer holds from `since` to `until` (no owner's period starts in between) unless
        the key changes."""
        await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values(
                prompts_planned_key=key, prompts_planned_from=since, prompts_planned_until=until
            )
        )

    async def note_owners_missing(self, count: int, version: int) -> None:
        """Keep the count of owners missing from the user cache, as of `version`."""
        await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values(owners_missing=count, owners_missing_version=version)
        )

    async def erase_if_uninstalled_before(self, cutoff: datetime) -> bool:
        """Delete the workspace and, through the foreign keys, every row it owns, when it
        is still uninstalled since before `cutoff` (a reinstall meanwhile keeps it)."""
        result = await self.session.execute(
            delete(Workspace).where(
                Workspace.team_id == self.team_id,
                Workspace.installed.is_(False),
                Workspace.uninstalled_at < cutoff,
            )
        )
        if not getattr(result, "rowcount", 0):
            return False
        await self.session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.team_id == self.team_id)
        )
        return True

    # Numbering -------------------------------------------------------------

    async def _next_number(self, column: InstrumentedAttribute[int]) -> int:
        # UPDATE … RETURNING locks the workspace row until commit, so two
        # concurrent creations can never be handed the same number.
        result = await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values({column: column + 1})
            .returning(column)
        )
        return int(result.scalar_one())

    async def next_objective_number(self) -> int:
        return await self._next_number(Workspace.last_objective_number)

    async def next_key_result_number(self) -> int:
        return await self._next_number(Workspace.last_key_result_number)

    async def raise_counters(self, objective_number: int, key_result_number: int) -> None:
        """Make the next O-/KR- numbers come after these (numbers an import keeps),
        never lowering a counter; the same row lock as `_next_number`."""
        objective = Workspace.last_objective_number
        key_result = Workspace.last_key_result_number
        await self.session.execute(
            update(Workspace)
            .where(Workspace.team_id == self.team_id)
            .values(
                {
                    objective: case(
                        (objective < objective_number, objective_number), else_=objective
                    ),
                    key_result: case(
                        (key_result < key_result_number, key_result_number), else_=key_result
                    ),
                }
            )
        )

    # Slack user cache ------------------------------------------------------

    async def cached_user(self, user_id: str) -> SlackUser | None:
        found: SlackUser | None = await self.session.scalar(
            select(SlackUser).where(SlackUser.team_id == self.team_id, SlackUser.user_id == user_id)
        )
        return found

    async def cache_user(self, member: Member, now: datetime) -> None:
        existing = await self.cached_user(member.user_id)
        if existing is None:
            await self.add(
                SlackUser(
                    team_id=self.team_id,
                    user_id=member.user_id,
                    name=member.name,
                    tz=member.tz,
                    is_admin=member.is_admin,
                    fetched_at=now,
                )
            )
            return
        existing.name, existing.tz = member.name, member.tz
        existing.is_admin, existing.fetched_at = member.is_admin, now

    async def display_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Cached display names of these users (those never seen are left out)."""
        ids = list(set(user_ids))
        if not ids:
            return {}
        rows = await self.session.execute(
            select(SlackUser.user_id, SlackUser.name).where(
                SlackUser.team_id == self.team_id, SlackUser.user_id.in_(ids)
            )
        )
        return {user_id: name for user_id, name in rows.all() if name}

    async def zones(self) -> dict[str, str | None]:
        """Every cached user's time zone name (None when Slack did not say)."""
        rows = await self.session.execute(
            select(SlackUser.user_id, SlackUser.tz).where(SlackUser.team_id == self.team_id)
        )
        return {row.user_id: row.tz for row in rows}

    async def zone_of(self, user_id: str) -> str | None:
        """One cached user's time-zone name (None when unknown)."""
        found: str | None = await self.session.scalar(
            select(SlackUser.tz).where(
                SlackUser.team_id == self.team_id, SlackUser.user_id == user_id
            )
        )
        return found

    async def zone_names(self) -> set[str]:
        """The distinct time-zone names of cached users ("" when Slack did not say)."""
        rows = await self.session.scalars(
            select(func.coalesce(SlackUser.tz, ""))
            .where(SlackUser.team_id == self.team_id)
            .distinct()
        )
        return set(rows.all())

    async def owners_missing_from_cache(self) -> int:
        """Key-result owners the user cache has never seen (their zone is unknown)."""
        return int(
            await self.session.scalar(
                select(func.count(func.distinct(KeyResult.owner_id)))
                .select_from(KeyResult)
                .outerjoin(
                    SlackUser,
                    and_(
                        SlackUser.team_id == self.team_id, SlackUser.user_id == KeyResult.owner_id
                    ),
                )
                .where(KeyResult.team_id == self.team_id, SlackUser.id.is_(None))
            )
            or 0
        )

    async def replace_members(self, members: list[Member], now: datetime) -> None:
        """Refresh the cache from a full `users.list` and note when it was taken."""
        existing = {
            row.user_id: row
            for row in (
                await self.session.scalars(
                    select(SlackUser).where(SlackUser.team_id == self.team_id)
                )
            ).all()
        }
        new_rows = []
        for member in members:
            row = existing.get(member.user_id)
            if row is None:
                new_rows.append(
                    {
                        "team_id": self.team_id,
                        "user_id": member.user_id,
                        "name": member.name,
                        "tz": member.tz,
                        "is_admin": member.is_admin,
                        "fetched_at": now,
                    }
                )
            else:
                row.name, row.tz, row.is_admin, row.fetched_at = (
                    member.name,
                    member.tz,
                    member.is_admin,
                    now,
                )
        if new_rows:
            await self.session.execute(
                upsert_insert(self.session, SlackUser).on_conflict_do_nothing(
                    index_elements=["team_id", "user_id"]
                ),
                new_rows,
            )
        await self.session.execute(
            update(Workspace).where(Workspace.team_id == self.team_id).values(users_synced_at=now)
        )

    # Slack event deliveries ------------------------------------------------

    async def first_delivery(self, event_id: str, now: datetime) -> bool:
        """Remember an event id; False when it was seen before (a retry from Slack)."""
        return await insert_ignore(
            self.session,
            ProcessedEvent,
            {"event_id": event_id, "team_id": self.team_id, "received_at": now},
            ["event_id"],
        )
