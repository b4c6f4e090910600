"""APScheduler 3 owned by the app's lifecycle: planning every minute, delivery in between.

Every minute `plan(now)` plans what is due in each workspace; every `SWEEP_SECONDS`
a sweep asks the database which workspaces have messages to send now (due, or held
by a sender whose lease ran out) and starts a delivery for each one this process
is not delivering already. So a long fan-out never holds the next minute's
planning back, and a crashed replica's messages are taken over within seconds.
While the database is unreachable both jobs skip their turn with one warning
line; nothing was half-written (every step is a transaction), and the next
minute catches up: planning looks at what is due, not at what changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.clock import utc_now
from bot.runtime.jobs import TickReport, deliver_team, housekeeping, plan, sweep
from bot.runtime.services import Services
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3
JOB_GRACE_SECONDS = 10.0


class Scheduler:
    """Started and stopped with the server; the clock comes from Services."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._delivering: dict[str, asyncio.Task[None]] = {}
        # The plan and sweep jobs running now: APScheduler does not wait for them on
        # shutdown, and one cut off mid-query after the database closed never ends.
        self._running: set[asyncio.Task[object]] = set()
        self._scheduler.add_job(
            self._tracked(self._run_plan),
            CronTrigger(second=0),
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
            next_run_time=utc_now(),  # at start too: a restart catches up at once
        )
        self._scheduler.add_job(
            self._tracked(self._run_sweep),
            IntervalTrigger(seconds=SWEEP_SECONDS),
            id="sweep",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=SWEEP_SECONDS,
        )

    def _tracked(self, job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job()
            finally:
                if task is not None:
                    self._running.discard(task)

        run.__name__ = run.__qualname__ = job.__name__
        return run

    async def _run_plan(self) -> None:
        now = self._services.clock()
        report = TickReport(at=now)
        try:
            teams = await plan(self._services, now, report)
            await housekeeping(self._services, now, report)
        except DatabaseUnavailable:
            log.warning(
                "database unreachable: this minute's tick is skipped", extra={"job": "tick"}
            )
            return
        except Exception:
            log.exception("tick failed", extra={"job": "tick", "at": now.isoformat()})
            return
        if report.done or report.failed_teams:
            log.info(report.summary(), extra={"job": "tick"})
        self._start_deliveries(teams, now)
        # Home tabs that changed without their viewer acting (alerts, a new period).
        await self._services.home.refresh_all()

    async def _run_sweep(self) -> None:
        now = self._services.clock()
        try:
            teams = await sweep(self._services, now)
        except DatabaseUnavailable:
            log.warning("database unreachable: delivery sweep skipped", extra={"job": "sweep"})
            return
        except Exception:
            log.exception("delivery sweep failed", extra={"job": "sweep"})
            return
        self._start_deliveries(teams, now)

    def _start_deliveries(self, team_ids: list[str], now: datetime) -> None:
        """One delivery task per workspace at a time in this process."""
        for team_id in team_ids:
            if team_id in self._delivering:
                continue
            self._delivering[team_id] = asyncio.get_running_loop().create_task(
                self._deliver(team_id, now), name=f"deliver {team_id}"
            )

    async def _deliver(self, team_id: str, now: datetime) -> None:
        report = TickReport(at=now)
        try:
            await deliver_team(self._services, team_id, now, report, wait=False)
        finally:
            self._delivering.pop(team_id, None)
        if report.done:
            log.info(report.summary(), extra={"job": "delivery", "team_id": team_id})

    def start(self) -> None:
        self._scheduler.start()

    async def shutdown(self) -> None:
        """Stop the jobs: a plan or sweep under way finishes its transaction (cut off
        only after JOB_GRACE_SECONDS); deliveries under way stop, their rows back to pending.

        APScheduler cancels the jobs it is running when it shuts down, so it is paused
        first and shut down once they are over.
        """
        if self._scheduler.running:
            self._scheduler.pause()
        deliveries = list(self._delivering.values())
        for task in deliveries:
            task.cancel()
        await asyncio.gather(*deliveries, return_exceptions=True)
        if self._running:
            await asyncio.wait(list(self._running), timeout=JOB_GRACE_SECONDS)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        await asyncio.gather(*self._running, return_exceptions=True)
