"""All work due as of an instant: the function behind the scheduler and `okrbot tick`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from bot.checkins.cycle import run_check_in_cycle
from bot.kpis import alerting as alerts
from bot.runtime.services import Services
from storage.models import Workspace

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick did, for logs, the CLI and tests."""

    at: datetime
    done: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{name}: {count}" for name, count in sorted(self.done.items())]
        return f"tick at {self.at.isoformat()} — " + (", ".join(parts) or "nothing due")


async def installed_teams(services: Services) -> list[str]:
    async with services.db.session() as session:
        rows = await session.scalars(
            select(Workspace.team_id)
            .where(Workspace.installed.is_(True))
            .order_by(Workspace.team_id)
        )
        return list(rows.all())


async def run_alert_cycle(services: Services, team_ids: list[str], now: datetime) -> dict[str, int]:
    """No-data checks and repeat reminders, then any alert message still unsent."""
    done: dict[str, int] = {}
    for team_id in team_ids:
        for name, step in (
            ("no-data alerts opened", alerts.check_no_data),
            ("alert reminders planned", alerts.plan_repeats),
        ):
            count = await step(services, team_id, now)
            if count:
                done[name] = done.get(name, 0) + count
    await alerts.deliver(services, now)
    return done


async def tick(services: Services, now: datetime) -> TickReport:
    """Do everything due at `now`; safe to run twice or from two processes at once."""
    report = TickReport(at=now)
    with services.metrics.ticks.time():
        teams = await installed_teams(services)
        report.done.update(await run_check_in_cycle(services, teams, now))
        report.done.update(await run_alert_cycle(services, teams, now))
    return report
