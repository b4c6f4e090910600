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


def _instant(raw: Any, index: int | None, now: datetime) -> datetime:
    if not isinstance(raw, str):
        field = _field(index, "at")
        raise ApiError(422, "must be an ISO 8601 time string like 2026-11-25T10:00:00Z", field)
    try:
        at = parse_instant(raw)
    except ValueError:
        raise ApiError(422, f"{raw[:100]!r} is not an ISO 8601 time", _field(index, "at")) from None
    if problem := implausible(at, now):
        raise ApiError(422, problem, _field(index, "at"))
    return at


_POINT_FIELDS = frozenset({"value", "at"})


def _point(item: Any, index: int | None, now: datetime) -> Point:
    """One `{"value", "at"}` object (`index` in the batch, None for a single one). The
    well-formed case takes as few steps as it can, as a batch holds 10,000; field names
    for errors are made only for errors."""
    if not isinstance(item, dict):
        raise ApiError(
            422, "must be an object with value and optional at", _field(index, "") or "body"
        )
    if not item.keys() <= _POINT_FIELDS:
        name = sorted(set(item) - _POINT_FIELDS)[0][:100]
        raise ApiError(422, f"unknown field {name!r}", _field(index, name))
    value = item.get("value")
    if type(value) is not float:  # JSON numbers with a fraction or exponent: the usual
        value = _number(item, index)
    elif not math.isfinite(value):
        raise ApiError(422, "must be a finite number", _field(index, "value"))
    at = item.get("at")
    return Point(now if at is None else _instant(at, index, now), value)


def _number(item: dict[str, Any], index: int | None) -> float:
    if "value" not in item:
        raise ApiError(422, "is required", _field(index, "value"))
    value = item["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(422, "must be a number", _field(index, "value"))
    try:
        number = float(value)  # an integer of 400 digits does not fit a float
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ApiError(422, "must be a finite number", _field(index, "value"))
    return number


def _field(index: int | None, name: str) -> str:
    """`measurements[3].at` in a batch, `at` for a single measurement; `measurements[3]`
    for the item itself (an empty name)."""
    if index is None:
        return name
    return f"measurements[{index}].{name}" if name else f"measurements[{index}]"


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
        return [_point(item, i, now) for i, item in enumerate(items)]
    return [_point(body, None, now)]


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
