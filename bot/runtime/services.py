"""The composition root: everything built once from Settings, in start-up order.

settings → storage → metrics → Slack budget and clients → outbox → domain services,
each given exactly what it uses. Nothing here is module-level: tests and CLI commands
build their own `Services`; no domain code ever receives this container.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.api.routes import ApiDeps
from bot.api.tokens import ApiTokens
from bot.checkins.away import AwayService
from bot.checkins.cycle import CheckInCycle, CycleSettings
from bot.checkins.habits import HabitsService
from bot.checkins.recording import CheckInService
from bot.checkins.schedule import ScheduleService
from bot.core.clock import utc_now
from bot.core.metrics import Metrics
from bot.core.secrets import TokenCipher
from bot.core.tasks import Background
from bot.home.publisher import HomePublisher
from bot.home.service import Delays, HomeService
from bot.kpis.alerting import AlertService
from bot.kpis.service import KpiService
from bot.okrs.service import OkrService
from bot.okrs.status import StatusService
from bot.runtime.config import Settings
from bot.slack.clients import SlackClients
from bot.slack.directory import Directory, SlackDirectory
from bot.slack.installations import InstallationStore
from bot.slack.outbox import Outbox
from bot.slack.pacer import Pacer
from bot.transfer.yaml_io import Transfer
from bot.workspaces.lifecycle import Workspaces
from bot.workspaces.retention import Retention
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    metrics: Metrics
    background: Background
    clients: SlackClients
    directory: Directory
    outbox: Outbox
    okrs: OkrService
    status: StatusService
    checkins: CheckInService
    cycle: CheckInCycle
    schedules: ScheduleService
    habits: HabitsService
    away: AwayService
    alerts: AlertService
    kpis: KpiService
    tokens: ApiTokens
    transfer: Transfer
    workspaces: Workspaces
    home: HomePublisher
    retention: Retention
    clock: Callable[[], datetime] = utc_now

    @property
    def database_reachable(self) -> bool:
        return self.db.reachable

    @property
    def api(self) -> ApiDeps:
        return ApiDeps(tokens=self.tokens, kpis=self.kpis, clock=self.clock)

    async def drain(self) -> None:
        """Wait for follow-up work (alert posts): graceful shutdown, CLI commands, tests."""
        await self.background.drain()

    async def close(self) -> None:
        await self.drain()
        await self.clients.close()
        await self.db.dispose()


def build_services(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Services:
    db = Database(settings.database_url)
    store = None
    if settings.oauth_enabled:
        assert settings.slack_client_id is not None
        key = settings.okrbot_secret_key
        cipher = TokenCipher(key.get_secret_value()) if key is not None else None
        store = InstallationStore(settings.slack_client_id, db, cipher)
    metrics = Metrics()
    pacer = Pacer(
        settings.okrbot_slack_posts_per_second,
        on_rate_limited=lambda method: metrics.rate_limited.labels(method).inc(),
    )
    clients = SlackClients(settings.slack_api_url, settings.slack_bot_token, store, pacer)
    directory = SlackDirectory(db, clients.for_team)
    outbox = Outbox(db, clients, on_takeover=metrics.lease_takeovers.inc)
    background = Background()
    alerts = AlertService(
        db,
        clients,
        outbox,
        background,
        repeat_interval=timedelta(hours=settings.okrbot_alert_repeat_hours),
        fallback_zone=settings.timezone,
        edit_interval=settings.okrbot_alert_edit_seconds,
        directory=directory,
    )
    cycle_settings = CycleSettings(
        fallback_zone=settings.timezone,
        reminder_delay=timedelta(hours=settings.okrbot_reminder_hours),
        digest_delay=timedelta(hours=settings.okrbot_digest_delay_hours),
    )
    delays = Delays(
        reminder_hours=settings.okrbot_reminder_hours,
        digest_delay_hours=settings.okrbot_digest_delay_hours,
        alert_repeat_hours=settings.okrbot_alert_repeat_hours,
    )
    home = HomePublisher(
        HomeService(db, directory, settings.timezone, delays), clients, background, clock
    )
    workspaces = Workspaces(db, store, settings.uninstall_grace)
    if store is not None:
        store.on_install = lambda team_id: workspaces.installed(team_id, clock())
    return Services(
        settings=settings,
        db=db,
        metrics=metrics,
        background=background,
        clients=clients,
        directory=directory,
        outbox=outbox,
        okrs=OkrService(db, directory),
        status=StatusService(db, directory, settings.timezone),
        checkins=CheckInService(db, settings.timezone, directory),
        cycle=CheckInCycle(db, directory, cycle_settings),
        schedules=ScheduleService(db, directory),
        habits=HabitsService(
            db,
            directory,
            settings.timezone,
            timedelta(hours=settings.okrbot_digest_delay_hours),
        ),
        away=AwayService(db, directory, settings.timezone),
        alerts=alerts,
        kpis=KpiService(db, directory, alerts, settings.timezone),
        tokens=ApiTokens(db),
        transfer=Transfer(db, directory),
        workspaces=workspaces,
        home=home,
        retention=Retention(db, settings.measurement_retention),
        clock=clock,
    )
