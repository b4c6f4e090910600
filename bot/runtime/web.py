"""One HTTP server: /slack/events (Bolt), the KPI API at /api/v1, /healthz, /metrics."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.api.routes import add_routes
from bot.runtime.services import Services

log = logging.getLogger(__name__)

SERVICES_KEY = web.AppKey("services", Services)
BOLT_KEY = web.AppKey("bolt", AsyncApp)


def create_web_app(services: Services, bolt: AsyncApp) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[SERVICES_KEY] = services
    app[BOLT_KEY] = bolt
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/slack/install", slack_oauth)
    app.router.add_get("/slack/oauth_redirect", slack_oauth)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_routes(app, services.api)
    return app


async def slack_events(request: web.Request) -> web.Response:
    """Events, slash commands and interactivity: Bolt verifies the signature first."""
    bolt = request.app[BOLT_KEY]
    response = await bolt.async_dispatch(await to_bolt_request(request))
    request.app[SERVICES_KEY].metrics.slack_requests.labels(str(response.status)).inc()
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


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    try:
        await services.db.ping()
    except Exception as exc:
        log.warning("health check failed: %s", type(exc).__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    return web.Response(
        body=services.metrics.render(), headers={"Content-Type": services.metrics.content_type}
    )
