"""Standing protection (issue 11): who may do what, for every command, button, modal and
API route that changes something — and nothing stored on a refusal.

The actors: the owner (of the objective O-1 and of the KPI `mrr`), the key result's
owner (KR-1 under O-1), a workspace admin, another member, the same user id in another
workspace, and (for the API) another workspace's token. Each action is tried by every
actor refused first (the workspace must be byte-for-byte unchanged after each), then by
each allowed actor on a fresh workspace (the change must happen).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.blocks.checkins import CHECKIN_CALLBACK
from storage.models import Alert, CheckIn, KeyResult, Kpi, Measurement, Objective, Schedule
from tests.support.harness import Bot, wipe

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Actor:
    team: str
    user: str


ACTORS = {
    "owner": Actor("T1", "U1"),  # owns O-1 and the KPI mrr
    "kr owner": Actor("T1", "U2"),  # owns KR-1 (under U1's O-1); a member of #growth
    "admin": Actor("T1", "UADMIN"),
    "member": Actor("T1", "U3"),
    "other team": Actor("T2", "U1"),  # the same user id, another workspace
}

Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(bot: Bot) -> Snapshot:
    """Everything of T1 that an action could change."""
    columns: dict[type, tuple[str, ...]] = {
        Objective: ("number", "title", "owner_id", "channel_id", "status", "updated_at"),
        KeyResult: ("number", "title", "owner_id", "start_value", "target_value", "updated_at"),
        CheckIn: ("key_result_id", "value", "status", "author_id", "source"),
        Kpi: ("key", "name", "max_value", "owner_id", "updated_at", "last_measurement_at"),
        Measurement: ("kpi_id", "at", "value"),
        Alert: ("id", "acknowledged_by", "snoozed_until", "resolved_at"),
        Schedule: ("channel_id", "weekday", "local_time"),
    }
    out: Snapshot = {}
    async with bot.services.db.session() as session:
        for model, names in columns.items():
            rows = await session.execute(
                select(*(getattr(model, n) for n in names)).where(model.team_id == "T1")
            )
            out[model.__name__] = sorted(tuple(row) for row in rows.all())
    return out


async def setup(bot: Bot) -> None:
    bot.slack.add_channel("C2", "growth", members=["U2"])
    await bot.command('objective add "Grow" channel #growth', user="U1")
    await bot.command('kr add O-1 "Teams" from 0 to 10 owner @ben', user="U1")
    await bot.command('add mrr "MRR" max 10 channel #growth', command="/kpi", user="U1")
    # Opens an alert; its chart is drawn in the background (slow the first time).
    await bot.command("record mrr 50 at 2026-11-25T08:00Z", command="/kpi", user="U1", timeout=20)
    await bot.services.drain()
    await bot.slack.wait_until(lambda: bool(alert_post(bot)))


def alert_post(bot: Bot) -> dict[str, Any] | None:
    posts = [m for m in bot.slack.messages("C2") if m.get("blocks") and not m.get("thread_ts")]
    return posts[0] if posts else None


async def alert_id(bot: Bot) -> int:
    async with bot.services.db.session() as session:
        return int(await session.scalar(select(Alert.id)) or 0)


# How each action is performed; each returns what the actor was told -----------------------

Perform = Callable[[Bot, Actor], Awaitable[str]]


def command(text: str, slash: str = "/okr") -> Perform:
    async def perform(bot: Bot, actor: Actor) -> str:
        result = await bot.command(text, user=actor.user, team=actor.team, command=slash)
        assert result.ephemeral, f"{text!r} by {actor} posted in the channel"
        return result.text

    return perform


def button(action: str, value: Callable[[int], str]) -> Perform:
    async def perform(bot: Bot, actor: Actor) -> str:
        post = alert_post(bot)
        assert post is not None
        before = len(bot.slack.calls_to("chat.postEphemeral"))
        response = await bot.sender.action(
            action,
            value(await alert_id(bot)),
            team_id=actor.team,
            user_id=actor.user,
            channel_id="C2",
            message_ts=post["ts"],
        )
        assert response.status == 200
        # Either a private refusal or the change arrives; wait for whichever comes.
        start = await snapshot(bot)
        for _ in range(60):
            if len(bot.slack.calls_to("chat.postEphemeral")) > before:
                return str(bot.slack.calls_to("chat.postEphemeral")[-1].params["text"])
            if await snapshot(bot) != start:
                return "changed"
            await asyncio.sleep(0.05)
        return "nothing"

    return perform


def checkin_modal(number: int) -> Perform:
    async def perform(bot: Bot, actor: Actor) -> str:
        state = {f"kr{number}_value": {"value": {"type": "plain_text_input", "value": "7"}}}
        response = await bot.sender.submit_view(
            CHECKIN_CALLBACK,
            state,
            team_id=actor.team,
            user_id=actor.user,
            private_metadata=json.dumps({"prompt": None, "krs": [number]}),
        )
        assert response.status == 200
        return json.dumps(response.json or {})

    return perform


ACTIONS: dict[str, tuple[Perform, set[str]]] = {
    "objective edit": (command('objective edit O-1 "Renamed"'), {"owner", "admin"}),
    "objective close": (command("objective close O-1"), {"owner", "admin"}),
    "objective delete": (command("objective delete O-1"), {"owner", "admin"}),
    "kr add": (command('kr add O-1 "More" from 0 to 5'), {"owner", "admin"}),
    "kr edit": (command('kr edit KR-1 "Renamed"'), {"owner", "kr owner", "admin"}),
    "kr delete": (command("kr delete KR-1"), {"owner", "kr owner", "admin"}),
    "schedule workspace": (command("schedule friday 15:00"), {"admin"}),
    "schedule channel": (command("schedule friday 15:00 #growth"), {"owner", "admin"}),
    "kpi edit": (command("edit mrr max 20", "/kpi"), {"owner", "admin"}),
    "kpi delete": (command("delete mrr", "/kpi"), {"owner", "admin"}),
    "kpi record": (command("record mrr 5 at 2026-11-25T09:00Z", "/kpi"), {"owner", "admin"}),
    "alert acknowledge": (button("alert_ack", str), {"owner", "kr owner", "admin"}),
    "alert snooze": (
        button("alert_snooze:3600", lambda a: f"{a}:3600"),
        {"owner", "kr owner", "admin"},
    ),
    # Issue 10: the objective's owner and admins may check in on the owner's behalf.
    "check-in modal": (checkin_modal(1), {"kr owner", "owner", "admin"}),
}


@pytest.mark.parametrize("name", list(ACTIONS))
async def test_authorization_matrix(bot: Bot, name: str) -> None:
    perform, allowed = ACTIONS[name]
    await setup(bot)
    for who, actor in ACTORS.items():
        if who in allowed:
            continue
        before = await snapshot(bot)
        told = await perform(bot, actor)
        await bot.services.drain()
        assert await snapshot(bot) == before, f"{name} by {who} changed something"
        words = ("only", "belongs", "no longer yours", "there is no", "no objective", "not")
        assert any(w in told.lower() for w in words), f"{name} by {who} was told {told!r}"
    for who in sorted(allowed):
        await bot.services.drain()
        await wipe(bot.services.db)
        await setup(bot)
        before = await snapshot(bot)
        told = await perform(bot, ACTORS[who])
        await bot.services.drain()
        assert await snapshot(bot) != before, f"{name} by {who} changed nothing: {told!r}"


# The API: the token is the only scope ------------------------------------------------------


async def call(bot: Bot, method: str, path: str, token: str | None, body: Any = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{bot.url}/api/v1{path}", headers=headers, json=body) as answer,
    ):
        return answer.status


async def test_api_routes_by_token(bot: Bot) -> None:
    await setup(bot)
    ours = await bot.services.tokens.create("T1", "ours", T0)
    theirs = await bot.services.tokens.create("T2", "theirs", T0)
    revoked = await bot.services.tokens.create("T1", "old", T0)
    await bot.services.tokens.revoke("T1", "old", T0)
    point = {"value": 3, "at": (T0 - timedelta(hours=1)).isoformat()}
    routes = [("POST", "/kpis/mrr/measurements", point), ("GET", "/kpis/mrr", None)]
    for method, path, body in routes:
        before = await snapshot(bot)
        assert await call(bot, method, path, None, body) == 401
        assert await call(bot, method, path, "okr_" + "x" * 43, body) == 401
        assert await call(bot, method, path, revoked, body) == 401
        assert await call(bot, method, path, theirs, body) == 404  # T1's KPI is not T2's
        assert await snapshot(bot) == before
    assert await call(bot, "POST", "/kpis/mrr/measurements", ours, point) == 201
    assert await call(bot, "GET", "/kpis/mrr", ours) == 200


async def test_checkin_modal_opens_for_the_owner_and_those_who_may_act_for_them(
    bot: Bot,
) -> None:
    await setup(bot)
    told = await command("checkin KR-1")(bot, ACTORS["member"])
    assert "belongs to <@U2>" in told, told
    told = await command("checkin KR-1")(bot, ACTORS["other team"])
    assert "There is no key result KR-1" in told
    assert bot.slack.calls_to("views.open") == []
    # The owner, the objective's owner and an admin get the modal (it is the answer).
    for opened_so_far, who in enumerate(("kr owner", "owner", "admin"), start=1):
        ack = await bot.sender.command(
            "/okr",
            "checkin KR-1",
            user_id=ACTORS[who].user,
            response_url=bot.slack.new_response_url(),
        )
        assert ack.status == 200
        await bot.slack.wait_until(
            lambda n=opened_so_far: len(bot.slack.calls_to("views.open")) >= n
        )
        opened = bot.slack.calls_to("views.open")[-1]
        assert "Teams" in json.dumps(opened.params["view"])


async def test_reads_stay_in_their_workspace(bot: Bot) -> None:
    await setup(bot)
    other = ACTORS["other team"]
    reads = {
        "status all": "No objectives yet",
        "status O-1": "no objective O-1",
    }
    for text, expected in reads.items():
        result = await bot.command(text, user=other.user, team=other.team)
        assert expected.lower() in result.text.lower(), (text, result.text)
    shown = await bot.command("show mrr", command="/kpi", user=other.user, team=other.team)
    assert "there is no kpi `mrr`" in shown.text.lower()
    listed = await bot.command("list", command="/kpi", user=other.user, team=other.team)
    assert "mrr" not in json.dumps(listed.visible)
