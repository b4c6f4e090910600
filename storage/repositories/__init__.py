"""Every query okrbot runs: one team-scoped repository per aggregate, plus `fleet`.

A `TeamStore` binds all of them to one session (one transaction) and one
workspace, so a unit of work reads and writes through repositories that cannot
leave their team; `Database.team(team_id)` opens one. The few queries that span
workspaces are named in `storage.repositories.fleet`.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories.alerts import AlertRepository
from storage.repositories.checkins import CheckInRepository
from storage.repositories.habits import HabitRepository
from storage.repositories.kpis import KpiRepository
from storage.repositories.okrs import OkrRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.prompts import PromptRepository
from storage.repositories.tokens import TokenRepository
from storage.repositories.workspaces import WorkspaceRepository

__all__ = ["TeamStore"]


class TeamStore:
    """One workspace's repositories over one session."""

    def __init__(self, session: AsyncSession, team_id: str) -> None:
        self.session = session
        self.team_id = team_id

    @cached_property
    def workspace(self) -> WorkspaceRepository:
        return WorkspaceRepository(self.session, self.team_id)

    @cached_property
    def okrs(self) -> OkrRepository:
        return OkrRepository(self.session, self.team_id)

    @cached_property
    def checkins(self) -> CheckInRepository:
        return CheckInRepository(self.session, self.team_id)

    @cached_property
    def prompts(self) -> PromptRepository:
        return PromptRepository(self.session, self.team_id)

    @cached_property
    def kpis(self) -> KpiRepository:
        return KpiRepository(self.session, self.team_id)

    @cached_property
    def alerts(self) -> AlertRepository:
        return AlertRepository(self.session, self.team_id)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.session, self.team_id)

    @cached_property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.session, self.team_id)

    @cached_property
    def habits(self) -> HabitRepository:
        return HabitRepository(self.session, self.team_id)
