"""The sandbox: the real bot (listeners, services, scheduler, outbox, database) against the
built-in Slack stand-in, and a small Slack-like page to use it.

Every click or command on the page becomes the signed request Slack would send to the
bot's own `POST /slack/events`; everything the bot sends goes through the stand-in's Web
API, which the page reads back. Nothing here reaches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import random
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from bot.core.errors import UserError
from bot.runtime.bolt import create_app
from bot.runtime.config import load_settings
from bot.runtime.jobs import tick
from bot.runtime.scheduler import Scheduler
from bot.runtime.services import Services, build_services
from bot.runtime.web import create_web_app
from bot.sandbox import demo
from bot.sandbox.clock import SandboxClock
from bot.sandbox.payloads import (
    BotResponse,
    SlackRequestSender,
    block_actions,
    event_callback,
    slash_command,
    view_submission,
)
from bot.sandbox.slack_standin import BOT_USER_ID, SlackStandIn
from bot.transfer.yaml_io import load_document
from storage.db import upgrade
from storage.repositories.kpis import Point

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
BOT_TOKEN = "xoxb-sandbox"
LONG_POLL_SECONDS = 20.0
FEED_SECONDS = 60.0  # how often (real time) the demo KPI catches up with the bot's clock
MAX_MESSAGES = 200  # per channel sent to the page


@dataclass
class OpenView:
    """A modal on someone's screen: its stack position and any field errors."""

    view_id: str
    user_id: str
    errors: dict[str, str] = field(default_factory=dict)


class Sandbox:
    """One team, one stand-in, one bot; the page's routes call these methods."""

    def __init__(
        self,
        standin: SlackStandIn,
        services: Services,
        clock: SandboxClock,
        sender: SlackRequestSender,
        *,
        demo_data: bool,
        rng: random.Random | None = None,
    ) -> None:
        self.standin = standin
        self.services = services
        self.clock = clock
        self.sender = sender
        self.team_id = demo.TEAM_ID
        self.demo = demo_data
        self._rng = rng or random.Random(7)
        self._triggers: dict[str, str] = {}
        self._trigger_ids = itertools.count(1)
        self._modals: list[OpenView] = []
        self._incident_until: datetime | None = None
        self._fed_until: datetime | None = None
        self._feed_lock = asyncio.Lock()

    # ------------------------------------------------------------------ set-up

    def add_person(self, name: str, tz: str, *, is_admin: bool = False) -> dict[str, Any]:
        """A new member of the workspace (and of every channel)."""
        name = name.strip().lower()
        if not name.isidentifier() or len(name) > 21:
            raise UserError("a name is one word of letters, digits or _ (at most 21)")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError(
                f"unknown time zone {tz!r} (use an IANA name like Europe/Madrid)"
            ) from None
        if any(u["name"] == name for u in self.standin.users(self.team_id)):
            raise UserError(f"there is already someone called {name}")
        user_id = f"U{secrets.token_hex(4).upper()}"
        self.standin.add_user(user_id, name, team_id=self.team_id, tz=tz, is_admin=is_admin)
        for channel in self.standin.channels(self.team_id):
            if not channel.get("is_im"):
                self.standin.add_member(channel["id"], user_id)
        return {"id": user_id, "name": name, "tz": tz}

    def seed_directory(self) -> None:
        members = [p.user_id for p in demo.PEOPLE]
        for person in demo.PEOPLE:
            self.standin.add_user(
                person.user_id,
                person.name,
                team_id=self.team_id,
                real_name=person.real_name,
                tz=person.tz,
                is_admin=person.is_admin,
            )
        for channel_id, name in demo.CHANNELS:
            self.standin.add_channel(
                channel_id, name, team_id=self.team_id, members=[*members, BOT_USER_ID]
            )

    async def seed_demo(self) -> None:
        """Objectives, key results and a KPI with two weeks of history, on first start."""
        now = self.clock()
        async with self.services.db.team(self.team_id) as store:
            await store.workspace.ensure(now)
            has_okrs = bool(await store.okrs.all_objectives())
        if not has_okrs:
            document = load_document(demo.DEMO_YAML, "demo")
            await self.services.transfer.import_document(self.team_id, document, now)
        await self.feed_kpi()

    # ------------------------------------------------------------------ the KPI feed

    async def feed_kpi(self) -> int:
        """Catch the demo KPI up with the bot's clock (a realistic daily cycle)."""
        if not self.demo:
            return 0
        async with self._feed_lock:
            now = self.clock()
            if self._fed_until is None:
                summary = await self.services.kpis.summary(self.team_id, demo.KPI_KEY)
                latest = (summary.get("latest") or {}).get("at")
                self._fed_until = datetime.fromisoformat(latest) if latest else None
            instants = demo.steps(self._fed_until, now, start=now - demo.HISTORY)
            if not instants:
                return 0
            points = [
                Point(at, demo.signup_rate(at, self._rng, incident=self._in_incident(at)))
                for at in instants
            ]
            await self.services.kpis.ingest(self.team_id, demo.KPI_KEY, points, "sandbox", now)
            self._fed_until = instants[-1]
            return len(points)

    def _in_incident(self, at: datetime) -> bool:
        return self._incident_until is not None and at <= self._incident_until

    async def trigger_incident(self) -> None:
        """Signups collapse for a while: the next values are far out of range."""
        now = self.clock()
        self._incident_until = now + demo.INCIDENT_LENGTH
        value = demo.signup_rate(now, self._rng, incident=True)
        await self.services.kpis.ingest(
            self.team_id, demo.KPI_KEY, [Point(now, value)], "sandbox", now
        )
        self._fed_until = now
        await self.services.drain()

    async def feed_forever(self) -> None:
        while True:
            await asyncio.sleep(FEED_SECONDS)
            try:
                await self.feed_kpi()
            except Exception:
                log.exception("sandbox KPI feed failed")

    # ------------------------------------------------------------------ the clock

    async def move_clock(self, step: str, user_id: str) -> datetime:
        if step == "hour":
            self.clock.advance(timedelta(hours=1))
        elif step == "day":
            self.clock.advance(timedelta(days=1))
        elif step == "monday":
            zone = ZoneInfo(self._user(user_id).get("tz") or "UTC")
            self.clock.next_weekday_at(0, time(9, 30), zone)
        else:
            raise UserError("the clock moves by hour, day or to monday")
        await self.run_tick()
        return self.clock()

    async def run_tick(self) -> None:
        """What the scheduler would do at the new time, right away (then the KPI feed)."""
        await self.feed_kpi()
        await tick(self.services, self.clock())
        await self.services.drain()
        await self.services.home.refresh_all()

    # ------------------------------------------------------------------ what a person does

    def _user(self, user_id: str) -> dict[str, Any]:
        user = self.standin.user(user_id, self.team_id)
        if user is None or user.get("is_bot"):
            raise UserError(f"no person {user_id} in the sandbox")
        return user

    def _trigger(self, user_id: str) -> str:
        trigger_id = f"{next(self._trigger_ids)}.sandbox.{secrets.token_hex(6)}"
        self._triggers[trigger_id] = user_id
        return trigger_id

    async def command(self, user_id: str, channel_id: str, text: str) -> BotResponse:
        """`/okr …` or `/kpi …` typed in the composer, as Slack sends it."""
        user = self._user(user_id)
        command, _, rest = text.strip().partition(" ")
        if command not in ("/okr", "/kpi"):
            raise UserError(f"{command} is not a command here: try /okr or /kpi")
        channel = self.standin.channel(channel_id, self.team_id) or {"name": "directmessage"}
        response_url = self.standin.new_response_url(
            team_id=self.team_id, channel_id=channel_id, user_id=user_id
        )
        payload = slash_command(
            command,
            rest.strip(),
            team_id=self.team_id,
            user_id=user_id,
            user_name=user["name"],
            channel_id=channel_id,
            channel_name=str(channel.get("name") or "directmessage"),
            response_url=response_url,
            trigger_id=self._trigger(user_id),
        )
        ack = await self.sender.send(payload)
        body = ack.json if isinstance(ack.json, dict) else None
        if ack.status == 200 and body and (body.get("text") or body.get("blocks")):
            # Slack shows an ack's body as the reply (ephemeral unless in_channel).
            if body.get("response_type") == "in_channel":
                self.standin.post_as_bot(self.team_id, channel_id, body)
            else:
                self.standin.add_ephemeral(
                    self.team_id,
                    channel_id,
                    user_id,
                    text=str(body.get("text") or ""),
                    blocks=body.get("blocks"),
                )
        return ack

    async def message(
        self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A person writes in a channel or DM; DMs to the bot reach it as `message.im`."""
        self._user(user_id)
        if not text.strip():
            raise UserError("write something first")
        message = self.standin.post_as_user(self.team_id, channel_id, user_id, text, thread_ts)
        channel = self.standin.channel(message["channel"], self.team_id) or {}
        if channel.get("is_im"):
            event = {
                "type": "message",
                "channel": message["channel"],
                "user": user_id,
                "text": text,
                "ts": message["ts"],
                "event_ts": message["ts"],
                "channel_type": "im",
                "team": self.team_id,
            }
            await self.sender.send(event_callback(event, team_id=self.team_id))
        return message

    async def home_opened(self, user_id: str) -> BotResponse:
        self._user(user_id)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": f"D{user_id}",
            "tab": "home",
            "event_ts": f"{self.clock().timestamp():.6f}",
        }
        home = self.standin.home_view(user_id, self.team_id)
        if home is not None:
            event["view"] = copy.deepcopy(home)
        return await self.sender.send(event_callback(event, team_id=self.team_id))

    async def action(self, user_id: str, request: dict[str, Any]) -> BotResponse:
        """A click on a button, select or overflow: the `block_actions` Slack would send."""
        user = self._user(user_id)
        action = request.get("action") or {}
        action_type = str(action.get("type") or "button")
        value: Any = action.get("value")
        if action_type in ("static_select", "overflow"):
            value = action.get("selected_option") or {}
        fields: dict[str, Any] = {
            "team_id": self.team_id,
            "user_id": user_id,
            "user_name": user["name"],
            "trigger_id": self._trigger(user_id),
            "block_id": str(action.get("block_id") or "b"),
            "action_type": action_type,
            "state_values": request.get("state") or {},
        }
        view_id = request.get("view_id")
        if view_id:
            view = self.standin.views.get(str(view_id))
            if view is None:
                raise UserError("that view is gone")
            fields["view"] = copy.deepcopy(view)
        else:
            channel_id = str(request.get("channel") or "")
            ts = str(request.get("ts") or "")
            ephemeral = bool(request.get("ephemeral"))
            message = self.standin.find_message(self.team_id, channel_id, ts, user_id)
            if message is None:
                raise UserError("that message is gone")
            fields.update(
                channel_id=channel_id,
                message_ts=ts,
                message=message,
                is_ephemeral=ephemeral,
                response_url=self.standin.new_response_url(
                    team_id=self.team_id,
                    channel_id=channel_id,
                    message_ts=None if ephemeral else ts,
                    user_id=user_id,
                ),
            )
        payload = block_actions(str(action.get("action_id") or ""), value, **fields)
        response = await self.sender.send(payload)
        await self.services.drain()
        return response

    async def submit(self, user_id: str, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """A modal's Submit: `view_submission`, then what the ack said (errors, update…)."""
        user = self._user(user_id)
        opened = self._open_view(user_id, view_id)
        view = self.standin.views[view_id]
        payload = view_submission(
            str(view.get("callback_id") or ""),
            values,
            team_id=self.team_id,
            user_id=user_id,
            user_name=user["name"],
            private_metadata=str(view.get("private_metadata") or ""),
            view_id=view_id,
            hash=str(view.get("hash") or ""),
            blocks=view.get("blocks") or [],
            title=str((view.get("title") or {}).get("text") or ""),
            trigger_id=self._trigger(user_id),
        )
        response = await self.sender.send(payload)
        body = response.json if isinstance(response.json, dict) else {}
        if response.status != 200:
            opened.errors = {"": f"the bot answered HTTP {response.status}"}
            return {"status": response.status}
        kind = body.get("response_action")
        if kind == "errors":
            opened.errors = {str(k): str(v) for k, v in (body.get("errors") or {}).items()}
        elif kind == "update" and isinstance(body.get("view"), dict):
            self.standin.replace_view(view_id, body["view"])
            opened.errors = {}
        elif kind == "push" and isinstance(body.get("view"), dict):
            pushed = self.standin.push_view(self.team_id, view_id, body["view"])
            self._modals.append(OpenView(pushed, user_id))
        elif kind == "clear":
            self._modals = [m for m in self._modals if m.user_id != user_id]
        else:
            self._modals.remove(opened)
        self.standin.touch()
        await self.services.drain()
        return {"status": 200, "response_action": kind}

    def close_view(self, user_id: str, view_id: str) -> None:
        self._modals.remove(self._open_view(user_id, view_id))
        self.standin.touch()

    def _open_view(self, user_id: str, view_id: str) -> OpenView:
        self._pick_up_views()
        for opened in self._modals:
            if opened.view_id == view_id and opened.user_id == user_id:
                return opened
        raise UserError("that modal is not open")

    def _pick_up_views(self) -> None:
        """Modals the bot opened with a trigger id we handed out go on that person's screen."""
        known = {m.view_id for m in self._modals}
        for view_id, trigger_id in list(self.standin.view_triggers.items()):
            user_id = self._triggers.pop(trigger_id, None)
            if user_id is not None and view_id not in known:
                self._modals.append(OpenView(view_id, user_id))

    # ------------------------------------------------------------------ what the page shows

    def state(self, user_id: str) -> dict[str, Any]:
        self._pick_up_views()
        users = self.standin.users(self.team_id)
        channels = self.standin.channels(self.team_id)
        listed = [c for c in channels if not c.get("is_im") and not c.get("is_mpim")]
        dm = f"D{user_id}"
        conversations = {c["id"]: self._messages(c["id"], user_id) for c in listed}
        conversations[dm] = self._messages(dm, user_id)
        modals = [
            {"view": self.standin.views[m.view_id], "errors": m.errors}
            for m in self._modals
            if m.user_id == user_id and m.view_id in self.standin.views
        ]
        now = self.clock()
        return {
            "version": self.standin.version,
            "now": now.isoformat(),
            "offset_seconds": self.clock.offset.total_seconds(),
            "team_id": self.team_id,
            "bot_user_id": BOT_USER_ID,
            "people": [
                {
                    "id": u["id"],
                    "name": u["name"],
                    "real_name": u["real_name"],
                    "tz": u["tz"],
                    "is_admin": u["is_admin"],
                }
                for u in users
            ],
            "channels": [{"id": c["id"], "name": c["name"]} for c in listed],
            "dm": dm,
            "messages": conversations,
            "home": self.standin.home_view(user_id, self.team_id),
            "modals": modals,
            "files": sorted(self.standin.files),
        }

    def _messages(self, channel_id: str, user_id: str) -> list[dict[str, Any]]:
        stored = self.standin.messages(channel_id)[-MAX_MESSAGES:]
        mine = [
            {**e, "ts": e["message_ts"], "ephemeral": True, "user": BOT_USER_ID}
            for e in self.standin.ephemeral_messages
            if e["channel"] == channel_id and e["user"] == user_id
        ]
        merged = sorted([*stored, *mine], key=lambda m: float(m["ts"]))
        for message in merged:
            message.pop("edit_history", None)
            message.pop("channel", None)
        return merged


# ---------------------------------------------------------------------- the page's routes

SANDBOX_KEY = web.AppKey("sandbox", Sandbox)


def add_page_routes(app: web.Application, sandbox: Sandbox) -> None:
    app[SANDBOX_KEY] = sandbox
    app.router.add_get("/", _index)
    app.router.add_static("/sandbox/static/", STATIC, show_index=False)
    app.router.add_get("/sandbox/api/state", _state)
    app.router.add_get("/sandbox/files/{file_id}", _file)
    app.router.add_post("/sandbox/api/{verb}", _post)


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def _state(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    user_id = request.query.get("user") or demo.PEOPLE[0].user_id
    try:
        version = int(request.query.get("version", "-1"))
    except ValueError:
        return web.json_response({"error": "version must be a number"}, status=400)
    if version >= sandbox.standin.version:
        await sandbox.standin.wait_for_change(version, LONG_POLL_SECONDS)
    try:
        return web.json_response(sandbox.state(user_id))
    except UserError as exc:
        return web.json_response({"error": exc.message}, status=404)


async def _file(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    data = sandbox.standin.file_content(request.match_info["file_id"])
    if data is None:
        return web.json_response({"error": "no such file"}, status=404)
    return web.Response(body=data, content_type="image/png")


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise UserError(f"`{key}` must be a string")
    return value


async def _post(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX_KEY]
    verb = request.match_info["verb"]
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"error": "the body must be JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
        "command": lambda b: sandbox.command(
            _text(b, "user"), _text(b, "channel"), _text(b, "text")
        ),
        "message": lambda b: sandbox.message(
            _text(b, "user"), _text(b, "channel"), _text(b, "text"), b.get("thread_ts")
        ),
        "action": lambda b: sandbox.action(_text(b, "user"), b),
        "submit": lambda b: sandbox.submit(_text(b, "user"), _text(b, "view_id"), b["values"]),
        "close": lambda b: sandbox.close_view(_text(b, "user"), _text(b, "view_id")),
        "home": lambda b: sandbox.home_opened(_text(b, "user")),
        "clock": lambda b: sandbox.move_clock(_text(b, "step"), _text(b, "user")),
        "incident": lambda b: sandbox.trigger_incident(),
        "people": lambda b: sandbox.add_person(_text(b, "name"), _text(b, "tz")),
    }
    handler = handlers.get(verb)
    if handler is None:
        return web.json_response({"error": f"unknown action {verb!r}"}, status=404)
    try:
        result = handler(body)
        if asyncio.iscoroutine(result):
            result = await result
    except UserError as exc:
        return web.json_response({"error": exc.message}, status=422)
    except KeyError as exc:
        return web.json_response({"error": f"missing {exc.args[0]!r}"}, status=422)
    return web.json_response(_plain(result))


def _plain(result: Any) -> Any:
    """What an action returns, as JSON the page can read."""
    if isinstance(result, BotResponse):
        return {"status": result.status, "body": result.json}
    if isinstance(result, datetime):
        return {"now": result.isoformat()}
    if isinstance(result, dict):
        return json.loads(json.dumps(result, default=str))
    return {"ok": True}


# ---------------------------------------------------------------------- starting it


@dataclass
class RunningSandbox:
    """A started sandbox: its page's URL, and `close()` to stop everything."""

    url: str
    sandbox: Sandbox
    runner: web.AppRunner
    scheduler: Scheduler
    tasks: list[asyncio.Task[None]]

    async def close(self) -> None:
        await self.scheduler.shutdown()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sandbox.sender.aclose()
        await self.runner.cleanup()
        await self.sandbox.services.close()
        await self.sandbox.standin.stop()


def default_database_url() -> str:
    """A fresh SQLite file per run: the stand-in keeps its messages in memory only."""
    folder = Path(tempfile.mkdtemp(prefix="okrbot-sandbox-"))
    return f"sqlite:///{folder / 'sandbox.db'}"


async def start_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    database_url: str | None = None,
    demo_data: bool = False,
    clock: SandboxClock | None = None,
) -> RunningSandbox:
    """Start the stand-in, migrate, build the real services and serve the page."""
    clock = clock or SandboxClock()
    standin = SlackStandIn(bot_tokens={BOT_TOKEN: demo.TEAM_ID}, clock=clock)
    await standin.start()
    url_db = database_url or default_database_url()
    await asyncio.to_thread(upgrade, url_db)
    secret = secrets.token_hex(16)
    settings = load_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=secret,
        slack_app_token=None,
        slack_client_id=None,
        slack_client_secret=None,
        slack_api_url=standin.base_url,
        database_url=url_db,
        host=host,
        port=port,
        okrbot_alert_edit_seconds=1.0,
    )
    services = build_services(settings, clock=clock)
    bolt = create_app(services)
    app = create_web_app(services, bolt)
    # The page's requests go to this server's own /slack/events, once its port is known.
    sender = SlackRequestSender("http://127.0.0.1:0", secret)
    await sender.__aenter__()
    sandbox = Sandbox(standin, services, clock, sender, demo_data=demo_data)
    add_page_routes(app, sandbox)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1])
    sender.url = f"http://127.0.0.1:{bound}/slack/events"
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{shown}:{bound}/"
    sandbox.seed_directory()
    if demo_data:
        await sandbox.seed_demo()
    scheduler = Scheduler(services)
    scheduler.start()
    tasks = [asyncio.create_task(sandbox.feed_forever())] if demo_data else []
    return RunningSandbox(url, sandbox, runner, scheduler, tasks)
