"""One HTTP server: /slack/events (Bolt), the KPI API at /api/v1, /healthz, /metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.api.routes import add_routes
from bot.runtime.services import Services
from bot.runtime.slack_gate import RecentSignatures, Refusal, SlackGate
from storage.db import DatabaseUnavailable
from storage.repositories.fleet import first_signature, outbox_backlog

log = logging.getLogger(__name__)

SERVICES_KEY = web.AppKey("services", Services)
BOLT_KEY = web.AppKey("bolt", AsyncApp)
GATE_KEY = web.AppKey("slack_gate", SlackGate)
# The largest body any route reads (a batch of 10,000 measurements is ~0.5 MB).
MAX_BODY = 8 * 1024 * 1024
OUTBOX_KINDS = {"prompt", "reminder", "digest", "alert", "alert_resolved", "alert_repeat"}


def create_web_app(services: Services, bolt: AsyncApp) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[SERVICES_KEY] = services
    app[BOLT_KEY] = bolt

    recent = RecentSignatures()

    async def first_use(signature: str, signed_at: datetime) -> bool:
        if not recent.first(signature, signed_at.timestamp()):
            return False
        try:
            async with services.db.session() as session:
                return await first_signature(session, signature, signed_at)
        except DatabaseUnavailable:  # admitted: the command says the database is away
            log.warning("replay check without the database: this process's memory only")
            return True

    app[GATE_KEY] = SlackGate(services.settings.slack_signing_secret, first_use)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/slack/install", slack_oauth)
    app.router.add_get("/slack/oauth_redirect", slack_oauth)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_routes(app, services.api)
    return app


async def slack_events(request: web.Request) -> web.Response:
    """Events, slash commands and interactivity: signed, bounded and well-formed (see
    `bot.runtime.slack_gate`) before Bolt parses a byte of it."""
    services = request.app[SERVICES_KEY]
    admitted = await request.app[GATE_KEY].admit(request, time.time())
    if isinstance(admitted, Refusal):
        services.metrics.slack_requests.labels(str(admitted.status)).inc()
        return admitted.response()
    response = await request.app[BOLT_KEY].async_dispatch(admitted)
    services.metrics.slack_requests.labels(str(response.status)).inc()
    return await to_aiohttp_response(response)


async def slack_oauth(request: web.Request) -> web.Response:
    bolt = request.app[BOLT_KEY]
    flow = bolt.oauth_flow
    if flow is None:
        return web.json_response(
            {"error": "OAuth installs are off: set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"},
            status=404,
        )
    bolt_request = await to_bolt_request(request)
    if request.path == "/slack/install":
        return await to_aiohttp_response(await flow.handle_installation(bolt_request))
    return await to_aiohttp_response(await flow.handle_callback(bolt_request))


HEALTH_TIMEOUT = 2.0  # seconds: a load balancer asks often and must get an answer


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, else 503 (within HEALTH_TIMEOUT either way)."""
    services = request.app[SERVICES_KEY]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await services.db.ping()
    except Exception as exc:
        log.warning("health check failed: %s", type(exc).__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; the outbox gauges are read from the database at each scrape
    (kept as last seen while it is unreachable)."""
    services = request.app[SERVICES_KEY]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT), services.db.session() as session:
            now = services.clock()
            backlog = await outbox_backlog(session, now)
        gauge = services.metrics.outbox_backlog
        for kind in OUTBOX_KINDS | set(backlog.by_kind):
            gauge.labels(kind).set(backlog.by_kind.get(kind, 0))
        oldest = backlog.oldest_due_at
        services.metrics.outbox_oldest_due.set(
            max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        )
    except Exception as exc:
        log.warning("outbox gauges not refreshed: %s", type(exc).__name__)
    return web.Response(
        body=services.metrics.render(), headers={"Content-Type": services.metrics.content_type}
    )


# The server itself ------------------------------------------------------------------------


class _QuietRequestHandler(RequestHandler):
    """aiohttp answers a request it cannot parse (a header over 8 KB, say) with the
    parser's message, which quotes the offending bytes — an `Authorization` header's
    token among them. Answer with the status alone."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status != 500:
            message = f"{status} {HTTPStatus(status).phrase}"
        return super().handle_error(request, status, exc, message)


class _QuietServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _QuietRequestHandler(self, loop=self._loop, **self._kwargs)


class QuietAppRunner(web.AppRunner):
    """`web.AppRunner` whose connections never echo a malformed request back."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _QuietServer  # same state; only the handler it makes differs
        return server


def make_runner(app: web.Application, **kwargs: Any) -> web.AppRunner:
    # A refused request's unread body is not drained: aiohttp would otherwise read and
    # discard up to 10 s of a stranger's upload on the bot's event loop. Every accepted
    # request is read to its end, so only refusals hang up.
    kwargs.setdefault("lingering_time", 0)
    return QuietAppRunner(app, **kwargs)
