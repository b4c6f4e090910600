"""`okrbot run`: start-up in order, serve until SIGTERM/SIGINT, then shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bot.runtime.bolt import create_app, warm_up
from bot.runtime.heap import settle_heap_for_serving
from bot.runtime.scheduler import Scheduler
from bot.runtime.services import Services
from bot.runtime.web import create_web_app, make_runner

log = logging.getLogger(__name__)


async def serve(services: Services, stop: asyncio.Event | None = None) -> None:
    """HTTP (or Socket Mode) plus the scheduler, in one loop, until `stop` is set."""
    settings = services.settings
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bolt = create_app(services)
    await warm_up(bolt)
    runner = make_runner(create_web_app(services, bolt), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    socket_handler = None
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(bolt, settings.slack_app_token)
        await socket_handler.connect_async()  # type: ignore[no-untyped-call]
    scheduler = Scheduler(services)
    scheduler.start()
    mode = "Socket Mode" if socket_handler else f"HTTP on {settings.host}:{settings.port}"
    settle_heap_for_serving()
    log.info("okrbot serving", extra={"mode": mode})
    if settings.oauth_enabled and settings.okrbot_secret_key is None:
        log.warning(
            "Slack tokens of OAuth installs are stored unencrypted: set OKRBOT_SECRET_KEY "
            "(see SECURITY.md)"
        )
    try:
        await stop.wait()
    finally:
        log.info("okrbot shutting down")
        await scheduler.shutdown()
        if socket_handler is not None:
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
        await runner.cleanup()
        await services.close()
