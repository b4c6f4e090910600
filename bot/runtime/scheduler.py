"""APScheduler 3 owned by the app's lifecycle: one job, `tick(now)` every minute."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.runtime.jobs import tick
from bot.runtime.services import Services

log = logging.getLogger(__name__)


class Scheduler:
    """Started and stopped with the server; the clock comes from Services."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(
            self._run_tick,
            CronTrigger(second=0),
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
        )

    async def _run_tick(self) -> None:
        now = self._services.clock()
        try:
            report = await tick(self._services, now)
        except Exception:
            log.exception("tick failed", extra={"job": "tick", "at": now.isoformat()})
            return
        if report.done:
            log.info(report.summary(), extra={"job": "tick"})
        # Home tabs that changed without their viewer acting (alerts, a new period).
        await self._services.home.refresh_all()

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
