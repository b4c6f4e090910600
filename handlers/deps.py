"""What listeners may use: the services they call, as the composition root hands them over.

A Protocol, so handlers depend on the services' shapes rather than on the runtime
that builds them (runtime sits above handlers).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.checkins.away import AwayService
from bot.checkins.cycle import CheckInCycle
from bot.checkins.habits import HabitsService
from bot.checkins.recording import CheckInService
from bot.checkins.schedule import ScheduleService
from bot.core.metrics import Metrics
from bot.home.publisher import HomePublisher
from bot.kpis.alerting import AlertService
from bot.kpis.service import KpiService
from bot.okrs.service import OkrService
from bot.okrs.status import StatusService
from bot.slack.clients import SlackClients
from bot.workspaces.lifecycle import Workspaces


class Deps(Protocol):
    metrics: Metrics
    clients: SlackClients
    okrs: OkrService
    status: StatusService
    checkins: CheckInService
    cycle: CheckInCycle
    schedules: ScheduleService
    habits: HabitsService
    away: AwayService
    kpis: KpiService
    alerts: AlertService
    workspaces: Workspaces
    home: HomePublisher

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def database_reachable(self) -> bool:
        """False right after the database was found unreachable (commands say so at once)."""
        ...
