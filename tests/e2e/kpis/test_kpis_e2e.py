"""KPIs end to end: `/kpi` commands, the HTTP API, and the alert lifecycle on Slack."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.runtime.jobs import tick
from storage.models import Alert, CheckIn, KeyResult, Measurement
from tests.support.harness import Bot, CommandResult

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
OKRBOT = str(Path(sys.executable).with_name("okrbot"))


async def api(
    bot: Bot,
    method: str,
    path: str,
    token: str | None,
    body: Any = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"{bot.url}/api/v1{path}",
            headers=headers,
            data=raw if raw is not None else (json.dumps(body) if body is not None else None),
        ) as response,
    ):
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def measurements(bot: Bot) -> list[tuple[datetime, float]]:
    async with bot.services.db.session() as session:
        rows = await session.execute(
            select(Measurement.at, Measurement.value).order_by(Measurement.at)
        )
        return [(at, value) for at, value in rows.all()]


async def alerts(bot: Bot) -> list[Alert]:
    async with bot.services.db.session() as session:
        return list((await session.scalars(select(Alert).order_by(Alert.id))).all())


def _is_reply(message: dict[str, Any]) -> bool:
    # A thread's parent carries thread_ts equal to its own ts, as on Slack.
    return message.get("thread_ts") not in (None, message["ts"])


def posts(bot: Bot, channel: str = "C2") -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(channel) if not _is_reply(m) and m.get("blocks")]


def replies(bot: Bot, channel: str = "C2") -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(channel) if _is_reply(m)]


async def token_for(bot: Bot, team: str = "T1") -> str:
    return await bot.services.tokens.create(team, f"test-{team}", bot.clock.now)


async def test_kpi_commands_and_errors(bot: Bot) -> None:
    created = await bot.command(
        'add signup_rate "Signup conversion" unit % min 2 max 5 channel #growth', command="/kpi"
    )
    assert "Created KPI *signup_rate*" in created.text, created.text
    errors = {
        'add signup_rate "Again"': "already exists",
        'add Bad-Key "X"': "not a kpi key",
        'add x_rate "X" min 5 max 2': "above `max`",
        'add y_rate "Y" min nan': "finite",
        "add z_rate": "missing name",
        "record signup_rate abc": "must be a number",
        "record signup_rate inf": "finite",
        "record nope 3": "no kpi `nope`",
        "record signup_rate 3 at yesterday": "not a time",
        "show nope": "no kpi `nope`",
        "frobnicate": "unknown command",
    }
    for text, expected in errors.items():
        result = await bot.command(text, command="/kpi")
        assert result.ephemeral
        assert expected in result.text.lower(), (text, result.text)
    assert (
        "only the owner"
        in (await bot.command("delete signup_rate", user="U2", command="/kpi")).text.lower()
    )
    recorded = await bot.command("record signup_rate 3.4 at 2026-11-25T09:00Z", command="/kpi")
    assert "Recorded 3.4" in recorded.text
    listed = await bot.command("list", command="/kpi")
    assert "signup_rate" in json.dumps(listed.visible["blocks"])
    shown = await bot.command("show signup_rate", command="/kpi")
    assert "3.4%" in json.dumps(shown.visible["blocks"])
    edited = await bot.command("edit signup_rate max none every 1h", command="/kpi")
    assert "at least 2%" in edited.text, edited.text
    assert await measurements(bot) == [(datetime(2026, 11, 25, 9, 0, tzinfo=UTC), 3.4)]
    assert "Deleted KPI" in (await bot.command("delete signup_rate", command="/kpi")).text
    assert await measurements(bot) == []


async def test_learned_kpi_says_it_is_learning(bot: Bot) -> None:
    await bot.command('add mrr "Monthly revenue" unit EUR', command="/kpi")
    shown = await bot.command("show mrr", command="/kpi")
    assert "not alerting yet" in json.dumps(shown.visible["blocks"])


async def test_api_auth_first_then_404_then_422(bot: Bot) -> None:
    await bot.command('add signup_rate "Signup conversion" min 2 max 5', command="/kpi")
    token = await token_for(bot)
    assert (await api(bot, "POST", "/kpis/nope/measurements", None, {"value": 1}))[0] == 401
    assert (await api(bot, "POST", "/kpis/nope/measurements", "okr_wrong", raw=b"{"))[0] == 401
    status, body = await api(bot, "POST", "/kpis/nope/measurements", token, {"value": 1})
    assert status == 404 and "error" in body
    cases = [
        ({"value": "high"}, "value"),
        ({"value": True}, "value"),
        ({"value": 1, "at": "yesterday"}, "at"),
        ({"vaule": 1}, "vaule"),
        ({"measurements": []}, "measurements"),
        (
            {"measurements": [{"value": 1}, {"value": 2}, {"at": "2026-11-25T10:00:00Z"}]},
            "measurements[2].value",
        ),
        ({"measurements": [{"value": 1}] * 10_001}, "measurements"),
        ({"value": None}, "value"),
        ({"value": 1, "at": 1764064800}, "at"),
        ({"measurements": [{"value": 1}, 5]}, "measurements[1]"),
        ({"measurements": [{"value": 1.5, "unit": "%"}]}, "measurements[0].unit"),
        ({"measurements": [{"value": 1.5}, {"value": 2.5, "at": "soon"}]}, "measurements[1].at"),
    ]
    for payload, field in cases:
        status, body = await api(bot, "POST", "/kpis/signup_rate/measurements", token, payload)
        assert status == 422, (payload, body)
        assert body["field"] == field, body
    status, body = await api(bot, "POST", "/kpis/signup_rate/measurements", token, raw=b"{nope")
    assert status == 422 and body["field"] == "body"
    assert await measurements(bot) == []  # all or nothing
    await bot.services.tokens.revoke("T1", "test-T1", bot.clock.now)
    status, _ = await api(bot, "POST", "/kpis/signup_rate/measurements", token, {"value": 3})
    assert status == 401


async def test_api_batch_upsert_and_get(bot: Bot) -> None:
    await bot.command('add signup_rate "Signup conversion" unit % min 2 max 5', command="/kpi")
    token = await token_for(bot)
    batch = {
        "measurements": [
            {"value": 3.0 + i / 100, "at": (T0 - timedelta(hours=72 - i)).isoformat()}
            for i in range(72)
        ]
    }
    status, body = await api(bot, "POST", "/kpis/signup_rate/measurements", token, batch)
    assert (status, body) == (201, {"stored": 72})
    again = {"value": 4.5, "at": (T0 - timedelta(hours=1)).isoformat()}
    assert (await api(bot, "POST", "/kpis/signup_rate/measurements", token, again))[0] == 201
    stored = await measurements(bot)
    assert len(stored) == 72 and stored[-1][1] == 4.5
    status, kpi = await api(bot, "GET", "/kpis/signup_rate", token)
    assert status == 200
    assert kpi["latest"] == {"value": 4.5, "at": "2026-11-25T09:00:00Z"}
    assert kpi["normal_range"]["min"] == 2 and kpi["normal_range"]["max"] == 5
    assert kpi["alert"]["state"] == "ok"
    other_team = await token_for(bot, "T2")
    assert (await api(bot, "GET", "/kpis/signup_rate", other_team))[0] == 404
    status, spec = await api(bot, "GET", "/openapi.json", None)
    assert status == 200 and spec["openapi"].startswith("3.")
    assert "/kpis/{key}/measurements" in spec["paths"]


async def test_alert_lifecycle_static_bounds(bot: Bot) -> None:
    await bot.command(
        'add signup_rate "Signup conversion" unit % min 2 max 5 channel #growth', command="/kpi"
    )

    async def record(value: float, minutes: int) -> CommandResult:
        at = (T0 + timedelta(minutes=minutes)).isoformat()
        bot.clock.now = T0 + timedelta(minutes=minutes)  # values from the future are refused
        result = await bot.command(f"record signup_rate {value} at {at}", command="/kpi")
        await bot.services.drain()  # the reply does not wait for the alert's post
        return result

    await record(3.1, 0)
    assert posts(bot) == []
    result = await record(7.2, 10)
    assert "alerting" in result.text
    [post] = posts(bot)
    body = json.dumps(post["blocks"])
    assert "above its normal range" in body and "7.2%" in body and "Acknowledge" in body
    assert "Snooze 1 hour" in body and "Snooze 1 week" in body
    # The chart was uploaded first and is part of the one post; nothing edits it at once.
    [upload] = bot.slack.calls_to("files.completeUploadExternal")
    [chart] = [b for b in post["blocks"] if b["type"] == "image"]
    assert chart["slack_file"]["id"] == upload.params["files"][0]["id"]
    assert bot.slack.file_content(chart["slack_file"]["id"]).startswith(b"\x89PNG")
    assert bot.slack.calls_to("chat.update") == []
    await record(8.0, 20)
    assert len(posts(bot)) == 1
    edited = json.dumps(bot.slack.messages("C2")[0]["blocks"])
    assert "8%" in edited and chart["slack_file"]["id"] in edited  # the chart stays
    # hysteresis: a value just inside the bound (within 2% of the range) does not resolve
    await record(4.95, 30)
    [alert] = await alerts(bot)
    assert alert.resolved_at is None
    await record(3.5, 40)  # well inside: a static bound resolves at once
    [alert] = await alerts(bot)
    assert alert.resolved_at is not None
    [reply] = [r for r in replies(bot) if "Resolved" in r["text"]]
    assert reply["thread_ts"] == post["ts"]
    assert "back in its normal range" in json.dumps(bot.slack.messages("C2")[0]["blocks"])
    assert len(posts(bot)) == 1


def still_open(bot: Bot) -> int:
    return len([r for r in replies(bot) if "Still open" in r["text"]])


async def test_snooze_ends_with_a_reminder_then_acknowledge_stops_them(bot: Bot) -> None:
    # Repeats every 24 h; a 1-hour snooze must notify again when it ends, not 24 h later.
    await bot.command('add errors "Error rate" max 1 channel #growth', command="/kpi")
    bot.clock.now = T0
    await bot.command("record errors 5", command="/kpi")
    await bot.services.drain()
    [post] = posts(bot)
    [alert] = await alerts(bot)
    bot.clock.now = T0 + timedelta(minutes=5)
    response = await bot.sender.action(
        "alert_snooze:3600", f"{alert.id}:3600", channel_id="C2", message_ts=post["ts"]
    )
    assert response.status == 200
    await bot.slack.wait_until(
        lambda: (
            "snoozed by <@U1> until <!date^"
            f"{int((T0 + timedelta(minutes=65)).timestamp())}^{{date_short}} {{time}}|"
            "2026-11-25 11:05 UTC>" in json.dumps(bot.slack.messages("C2")[0]["blocks"])
        )
    )
    await tick(bot.services, T0 + timedelta(minutes=30))
    assert still_open(bot) == 0  # snoozed
    await tick(bot.services, T0 + timedelta(minutes=66))
    await tick(bot.services, T0 + timedelta(minutes=67))
    assert still_open(bot) == 1  # the snooze ended and the KPI is still abnormal
    await tick(bot.services, T0 + timedelta(hours=12))
    assert still_open(bot) == 1  # then the usual 24-hour interval
    await tick(bot.services, T0 + timedelta(hours=25, minutes=10))
    assert still_open(bot) == 2
    bot.slack.add_channel("C2", "growth", members=["U1", "U2"])  # who watches #growth
    await bot.sender.action(
        "alert_ack", str(alert.id), channel_id="C2", message_ts=post["ts"], user_id="U2"
    )
    await bot.slack.wait_until(
        lambda: "acknowledged by <@U2>" in json.dumps(bot.slack.messages("C2")[0]["blocks"])
    )
    assert "Acknowledge" not in json.dumps(bot.slack.messages("C2")[0]["blocks"])
    await tick(bot.services, T0 + timedelta(hours=60))
    assert still_open(bot) == 2
    [alert] = await alerts(bot)
    assert alert.acknowledged_by == "U2" and alert.acknowledged_at is not None


async def test_no_data_alert_and_its_resolution(bot: Bot) -> None:
    await bot.command('add orders "Orders per hour" every 1h channel #growth', command="/kpi")
    bot.clock.now = T0
    await bot.command("record orders 40", command="/kpi")
    await tick(bot.services, T0 + timedelta(minutes=59))
    assert posts(bot) == []
    await tick(bot.services, T0 + timedelta(hours=2))
    await tick(bot.services, T0 + timedelta(hours=2, minutes=1))
    [post] = posts(bot)
    assert "No data for Orders per hour" in json.dumps(post["blocks"])
    bot.clock.now = T0 + timedelta(hours=2, minutes=5)
    await bot.command("record orders 41", command="/kpi")
    await bot.services.drain()  # the resolution is posted in the background
    [alert] = await alerts(bot)
    assert alert.kind == "no_data" and alert.resolved_at is not None
    assert [r for r in replies(bot) if "arriving again" in r["text"]]


async def test_concurrent_ingestion_opens_one_alert(bot: Bot) -> None:
    await bot.command('add latency "p95 latency" max 300 channel #growth', command="/kpi")
    token = await token_for(bot)
    bot.slack.inject("chat.postMessage", status=429, retry_after=1, count=1)
    results = await asyncio.gather(
        *(
            api(
                bot,
                "POST",
                "/kpis/latency/measurements",
                token,
                {"value": 500 + i, "at": (T0 + timedelta(seconds=i)).isoformat()},
            )
            for i in range(20)
        )
    )
    assert {status for status, _ in results} == {201}
    await bot.services.drain()
    assert len(await alerts(bot)) == 1
    await bot.slack.wait_until(lambda: len(posts(bot)) >= 1)
    await bot.services.drain()
    assert len(posts(bot)) == 1


async def test_bulk_normal_history_raises_nothing_then_a_spike_alerts(bot: Bot) -> None:
    await bot.command('add signups "Daily signups" channel #growth', command="/kpi")
    token = await token_for(bot)
    history = [
        {
            "value": 100 + 10 * math.sin(i / 3) + (i % 5),
            "at": (T0 - timedelta(hours=200 - i)).isoformat(),
        }
        for i in range(200)
    ]
    status, _ = await api(
        bot, "POST", "/kpis/signups/measurements", token, {"measurements": history}
    )
    assert status == 201
    await bot.services.drain()
    assert await alerts(bot) == [] and posts(bot) == []
    status, kpi = await api(bot, "GET", "/kpis/signups", token)
    assert kpi["normal_range"]["learning"] is False
    assert kpi["normal_range"]["min"] < 100 < kpi["normal_range"]["max"]
    spike = {"value": 400, "at": T0.isoformat()}
    assert (await api(bot, "POST", "/kpis/signups/measurements", token, spike))[0] == 201
    await bot.services.drain()
    assert len(await alerts(bot)) == 1
    assert len(posts(bot)) == 1


async def test_an_incident_inside_backfilled_history_is_not_news(bot: Bot) -> None:
    await bot.command('add signups "Daily signups" every 1h channel #growth', command="/kpi")
    token = await token_for(bot)
    bot.clock.now = T0
    history = [
        {
            "value": 100 + 10 * math.sin(i / 3) + (i % 5) + (900 if 150 <= i < 153 else 0),
            "at": (T0 - timedelta(hours=200 - i)).isoformat(),
        }
        for i in range(200)
    ]
    body = {"measurements": history}
    assert (await api(bot, "POST", "/kpis/signups/measurements", token, body))[0] == 201
    await bot.services.drain()
    assert await alerts(bot) == [] and posts(bot) == []
    live = {"value": 900, "at": T0.isoformat()}
    assert (await api(bot, "POST", "/kpis/signups/measurements", token, live))[0] == 201
    await bot.services.drain()
    assert len(await alerts(bot)) == 1 and len(posts(bot)) == 1


async def test_key_result_follows_a_kpi(bot: Bot) -> None:
    await bot.command('add signup_rate "Signup conversion" unit % min 0 max 100', command="/kpi")
    await bot.command('objective add "Grow"')
    missing = await bot.command('kr add O-1 "Conversion" from 2 to 5 follows nope')
    assert "no kpi `nope`" in missing.text.lower()
    added = await bot.command('kr add O-1 "Conversion" from 2 to 5 unit % follows signup_rate')
    assert "follows KPI" in added.text
    await bot.command("record signup_rate 3.5", command="/kpi")
    async with bot.services.db.session() as session:
        kr = await session.scalar(select(KeyResult))
        sources = (await session.scalars(select(CheckIn.source))).all()
        count = await session.scalar(select(func.count()).select_from(CheckIn))
    assert kr is not None and kr.current_value == 3.5
    assert list(sources) == ["kpi"] and count == 1


async def test_alert_opens_only_after_n_consecutive_abnormal_values(bot: Bot) -> None:
    await bot.command('add queue "Queue depth" max 100 after 3 channel #growth', command="/kpi")
    for minutes, value in enumerate([150, 160, 90, 170, 180]):
        bot.clock.now = T0 + timedelta(minutes=minutes)
        await bot.command(f"record queue {value}", command="/kpi")
    assert posts(bot) == [] and await alerts(bot) == []
    bot.clock.now = T0 + timedelta(minutes=10)
    await bot.command("record queue 190", command="/kpi")
    await bot.services.drain()  # the alert is posted in the background
    [alert] = await alerts(bot)
    assert alert.opened_at == T0 + timedelta(minutes=10)
    assert len(posts(bot)) == 1


async def test_two_processes_ingesting_at_once_open_one_alert(bot: Bot, tmp_path: Path) -> None:
    await bot.command('add latency "p95 latency" max 300 channel #growth', command="/kpi")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=bot.slack.base_url,
        DATABASE_URL=bot.services.settings.database_url,
    )
    files = []
    for index in range(2):
        path = tmp_path / f"part{index}.csv"
        rows = [
            f"{(T0 + timedelta(minutes=2 * i + index)).isoformat()},{400 + i}" for i in range(50)
        ]
        path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
        files.append(path)
    processes = [
        await asyncio.create_subprocess_exec(
            OKRBOT,
            "kpi",
            "import",
            str(path),
            "latency",
            "--team",
            "T1",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for path in files
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in processes))
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    assert len(await measurements(bot)) == 100
    [alert] = await alerts(bot)
    assert alert.resolved_at is None
    assert len(posts(bot)) == 1


async def test_an_alert_pings_its_owner_and_names_the_key_results_it_affects(bot: Bot) -> None:
    await bot.command(
        'add signups "Daily signups" min 10 channel #growth owner @ben', command="/kpi"
    )
    await bot.command('objective add "Grow"')
    await bot.command('kr add O-1 "Signups per day" from 10 to 50 follows signups')
    bot.clock.now = T0
    await bot.command("record signups 3", command="/kpi", user="U2")  # its owner
    await bot.services.drain()
    [post] = posts(bot)
    body = json.dumps(post["blocks"], ensure_ascii=False)
    assert "Owner <@U2> · affects KR-1 of O-1" in body
    assert post["text"] == "Daily signups is below its normal range (signups)"


async def test_kpi_show_has_the_chart_and_what_its_rules_would_have_raised(bot: Bot) -> None:
    await bot.command('add latency "p95 latency" unit ms max 300 channel #growth', command="/kpi")
    bot.clock.now = T0 + timedelta(days=2)
    for minutes, value in ((0, 200), (10, 250), (20, 480), (30, 210), (40, 220)):
        at = (T0 + timedelta(days=1, minutes=minutes)).isoformat()
        await bot.command(f"record latency {value} at {at}", command="/kpi")
    await bot.services.drain()
    shown = await bot.command("show latency", command="/kpi")
    blocks = shown.visible["blocks"]
    [image] = [b for b in blocks if b["type"] == "image"]
    assert bot.slack.file_content(image["slack_file"]["id"]).startswith(b"\x89PNG")
    notes = blocks[-1]["elements"][0]["text"]
    assert "its current rules would have raised 1 alert in the last 30 days" in notes


async def test_kpi_edit_reevaluates_the_open_alert_at_once(bot: Bot) -> None:
    await bot.command('add queue "Queue depth" max 100 channel #growth', command="/kpi")
    bot.clock.now = T0
    await bot.command("record queue 150", command="/kpi")
    await bot.services.drain()
    [post] = posts(bot)
    # A wider bound that still excludes 150: the card shows the range in force.
    await bot.command("edit queue max 120", command="/kpi")
    await bot.services.drain()
    card = json.dumps(bot.slack.messages("C2")[0]["blocks"], ensure_ascii=False)
    assert "at most 120" in card and "at most 100" not in card
    [alert] = await alerts(bot)
    assert alert.resolved_at is None and alert.high == 120
    # Bounds that include 150: the episode is over now, not at the next value.
    await bot.command("edit queue max 200", command="/kpi")
    await bot.services.drain()
    [alert] = await alerts(bot)
    assert alert.resolved_at is not None
    [reply] = [r for r in replies(bot) if "Resolved" in r["text"]]
    assert reply["thread_ts"] == post["ts"]
    assert "back in its normal range" in json.dumps(bot.slack.messages("C2")[0]["blocks"])
