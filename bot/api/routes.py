"""The KPI HTTP API (`/api/v1`): bearer tokens, JSON errors naming the field."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.api.openapi import OPENAPI
from bot.api.tokens import ApiTokens
from bot.core.errors import NotFound, UserError
from bot.core.times import implausible, parse_instant
from bot.kpis.commands import KPI_KEY
from bot.kpis.ingest import MAX_BATCH
from bot.kpis.service import KpiService
from storage.repositories.kpis import Point


@dataclass(frozen=True)
class ApiDeps:
    """What the API uses, handed over by the composition root."""

    tokens: ApiTokens
    kpis: KpiService
    clock: Callable[[], datetime]


DEPS = web.AppKey("api_deps", ApiDeps)


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return web.json_response(body, status=self.status, headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:  # 404, 405 (keeping its Allow header), 413 …
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": exc.reason}, status=exc.status, headers=allow)


def add_routes(app: web.Application, deps: ApiDeps) -> None:
    api = web.Application(middlewares=[json_errors], client_max_size=16 * 1024 * 1024)
    api[DEPS] = deps
    api.router.add_post("/kpis/{key}/measurements", post_measurements)
    api.router.add_get("/kpis/{key}", get_kpi)
    api.router.add_get("/openapi.json", openapi)
    app.add_subapp("/api/v1", api)


async def _team(request: web.Request) -> str:
    """401 unless a valid, unrevoked token is presented: checked before anything else."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    team_id = await request.app[DEPS].tokens.team_for(token.strip())
    if team_id is None:
        raise ApiError(401, "invalid or revoked token")
    return team_id


def _key(request: web.Request) -> str:
    key = request.match_info["key"]
    if not KPI_KEY.match(key):
        raise ApiError(404, f"no KPI {key!r}")
    return key


def _instant(raw: Any, field: str, now: datetime) -> datetime:
    if raw is None:
        return now
    if not isinstance(raw, str):
        raise ApiError(422, "must be an ISO 8601 time string like 2026-11-25T10:00:00Z", field)
    try:
        at = parse_instant(raw)
    except ValueError:
        raise ApiError(422, f"{raw[:100]!r} is not an ISO 8601 time", field) from None
    if problem := implausible(at, now):
        raise ApiError(422, problem, field)
    return at


def _point(item: Any, prefix: str, now: datetime) -> Point:
    def field(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    if not isinstance(item, dict):
        raise ApiError(422, "must be an object with value and optional at", prefix or "body")
    unknown = sorted(set(item) - {"value", "at"})
    if unknown:
        name = unknown[0][:100]
        raise ApiError(422, f"unknown field {name!r}", field(name))
    if "value" not in item:
        raise ApiError(422, "is required", field("value"))
    value = item["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(422, "must be a number", field("value"))
    try:
        number = float(value)  # an integer of 400 digits does not fit a float
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ApiError(422, "must be a finite number", field("value"))
    return Point(_instant(item.get("at"), field("at"), now), number)


def parse_measurements(body: Any, now: datetime) -> list[Point]:
    """`{"value", "at"}` or `{"measurements": [...]}` → points; 422 names the bad field."""
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", "body")
    if "measurements" in body:
        if set(body) != {"measurements"}:
            extra = sorted(set(body) - {"measurements"})[0][:100]
            raise ApiError(422, "not allowed beside measurements", extra)
        items = body["measurements"]
        if not isinstance(items, list) or not items:
            raise ApiError(422, "must be a non-empty list", "measurements")
        if len(items) > MAX_BATCH:
            raise ApiError(
                422, f"at most {MAX_BATCH:,} per request (got {len(items):,})", "measurements"
            )
        return [_point(item, f"measurements[{i}]", now) for i, item in enumerate(items)]
    return [_point(body, "", now)]


async def post_measurements(request: web.Request) -> web.Response:
    team_id = await _team(request)
    deps = request.app[DEPS]
    key = _key(request)
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting too deep: RecursionError
        raise ApiError(422, "the body is not valid JSON", "body") from None
    now = deps.clock()
    points = parse_measurements(body, now)
    try:
        result = await deps.kpis.ingest(team_id, key, points, "api", now)
    except NotFound:
        raise ApiError(404, f"no KPI {key!r} in this workspace") from None
    except UserError as exc:
        raise ApiError(422, exc.message, "measurements") from None
    return web.json_response({"stored": result.stored}, status=201)


async def get_kpi(request: web.Request) -> web.Response:
    team_id = await _team(request)
    key = _key(request)
    try:
        summary = await request.app[DEPS].kpis.summary(team_id, key)
    except NotFound:
        raise ApiError(404, f"no KPI {key!r} in this workspace") from None
    return web.json_response(summary)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)
