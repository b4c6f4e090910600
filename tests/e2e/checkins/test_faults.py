"""Exactly once under faults: repeated and concurrent ticks (real processes), Slack 429/500,
a process killed mid fan-out, and a message whose fate the database never learned."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.runtime.jobs import tick
from bot.runtime.services import Services
from bot.slack import outbox
from bot.slack.outbox import METADATA_EVENT
from storage.models import OutboxMessage, Prompt
from tests.support.harness import SIGNING_SECRET, FakeClock
from tests.support.seeding import owner_ids, seed_owners
from tests.support.slack_emulator import SlackEmulator

OKRBOT = str(Path(sys.executable).with_name("okrbot"))
CREATED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
SLOT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 09:00 UTC
ZONES = ["UTC", "Europe/London", "Africa/Abidjan"]  # all at UTC+0 on that date


def prompt_counts(slack: SlackEmulator, owners: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for owner in owners:
        for message in slack.messages(f"D{owner}"):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT:
                counts[owner] += 1
    return counts


async def seed(services: Services, slack: SlackEmulator, count: int) -> list[str]:
    owners = owner_ids(count)
    for index, owner in enumerate(owners):
        slack.add_user(owner, owner.lower(), tz=ZONES[index % len(ZONES)])
    await seed_owners(services.db, "T1", owners, ZONES, CREATED)
    return owners


def tick_env(services: Services, slack: SlackEmulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url,
        DATABASE_URL=services.settings.database_url,
    )
    return env


async def run_tick_process(env: dict[str, str], at: datetime) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        OKRBOT,
        "tick",
        "--at",
        at.isoformat(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def outbox_states(services: Services) -> dict[str, int]:
    async with services.db.session() as session:
        rows = await session.execute(
            select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
        )
        return {state: count for state, count in rows.all()}


async def test_two_processes_ticking_at_once_send_each_prompt_once(
    services: Services, slack: SlackEmulator
) -> None:
    owners = await seed(services, slack, 40)
    env = tick_env(services, slack)
    first, second = await run_tick_process(env, SLOT), await run_tick_process(env, SLOT)
    results = await asyncio.gather(first.communicate(), second.communicate())
    assert first.returncode == 0, results[0][1].decode()
    assert second.returncode == 0, results[1][1].decode()
    counts = prompt_counts(slack, owners)
    assert set(counts) == set(owners)
    assert set(counts.values()) == {1}
    assert await outbox_states(services) == {"sent": 40}


async def test_same_instant_twice_and_in_process_concurrency(
    services: Services, slack: SlackEmulator, clock: FakeClock
) -> None:
    owners = await seed(services, slack, 25)
    await asyncio.gather(tick(services, SLOT), tick(services, SLOT), tick(services, SLOT))
    await tick(services, SLOT)
    assert set(prompt_counts(slack, owners).values()) == {1}
    async with services.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Prompt)) == 25


async def test_rate_limits_and_server_errors_are_retried_without_duplicates(
    services: Services, slack: SlackEmulator
) -> None:
    owners = await seed(services, slack, 12)
    slack.inject("chat.postMessage", status=429, retry_after=1, count=3)
    slack.inject("chat.postMessage", status=500, count=2)
    slack.inject("conversations.open", status=429, retry_after=1, count=1)
    report = await tick(services, SLOT)
    assert report.done.get("messages sent") == 12, report.done
    assert set(prompt_counts(slack, owners).values()) == {1}
    statuses = Counter(call.http_status for call in slack.calls_to("chat.postMessage"))
    assert statuses[429] == 3 and statuses[500] == 2


async def test_an_outage_outlasting_the_clients_retries_is_outlasted_by_the_tick(
    services: Services, slack: SlackEmulator
) -> None:
    owners = await seed(services, slack, 3)
    slack.inject("chat.postMessage", error="fatal_error", count=3)
    report = await tick(services, SLOT)
    assert report.done.get("messages sent") == 3, report.done
    assert "messages retry_later" not in report.done
    assert set(prompt_counts(slack, owners).values()) == {1}


async def test_an_outage_longer_than_a_run_is_sent_by_a_later_tick(
    services: Services, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = await seed(services, slack, 3)
    monkeypatch.setattr(outbox, "RUN_RETRY_WINDOW", 0.5)
    slack.inject("chat.postMessage", error="fatal_error", count=1000)
    first = await tick(services, SLOT)
    assert first.done.get("messages retry_later") == 3, first.done
    async with services.db.session() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    assert {(r.state, r.claimed_by) for r in rows} == {("pending", None)}
    assert all(r.due_at > SLOT for r in rows), "a released row waits for its next try"
    slack.clear_faults()
    second = await tick(services, SLOT + timedelta(minutes=1))
    assert second.done.get("messages sent") == 3, second.done
    assert set(prompt_counts(slack, owners).values()) == {1}


async def test_a_message_slack_received_but_the_database_missed_is_not_resent(
    services: Services, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = await seed(services, slack, 2)
    services.outbox.lease = timedelta(seconds=2)
    # First tick plans both prompts but Slack is down (for longer than a run), so
    # nothing is sent yet.
    monkeypatch.setattr(outbox, "RUN_RETRY_WINDOW", 0.5)
    slack.inject("chat.postMessage", error="fatal_error", count=1000)
    await tick(services, SLOT)
    slack.clear_faults()
    # A sender that crashed after Slack accepted the message for owner 1 and before it
    # recorded it: the row is still claimed by it, attempted, and the DM carries its id.
    async with services.db.session() as session:
        row = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.recipient == owners[0])
        )
        assert row is not None
        row.state, row.claimed_by, row.attempts = "sending", "crashed-host:1", 1
        row.claimed_at = datetime.now(UTC)  # the database's clock: the same machine's
        row_id = row.id
    client = await services.clients.for_team("T1")
    await client.chat_postMessage(
        channel=owners[0],
        text="prompt",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_id": row_id}},
    )
    # The tick sends the other prompt, waits out the dead sender's lease, then finds the
    # message by its metadata instead of posting it again.
    report = await tick(services, SLOT + timedelta(minutes=5))
    assert report.done.get("messages sent") == 1, report.done
    assert report.done.get("messages reconciled") == 1, report.done
    assert report.done.get("messages taken_over") == 1, report.done
    assert set(prompt_counts(slack, owners).values()) == {1}
    async with services.db.session() as session:
        recovered = await session.get(OutboxMessage, row_id)
        prompt = await session.get(Prompt, recovered.ref_id if recovered else -1)
    assert recovered is not None and recovered.state == "sent" and recovered.message_ts
    assert prompt is not None and prompt.state == "sent" and prompt.message_ts


async def test_tick_killed_mid_fan_out_and_rerun_at_once(
    services: Services, slack: SlackEmulator
) -> None:
    """The R2 shape: the rerun of the same tick takes the dead tick's rows over once
    their lease ends (seconds), reconciles what it had tried, and sends the rest."""
    owners = await seed(services, slack, 60)
    slack.set_post_rate_limit(per_channel_per_second=1.0, workspace_per_second=15.0, burst=5)
    env = tick_env(services, slack) | {"OKRBOT_SLACK_POSTS_PER_SECOND": "15"}
    victim = await run_tick_process(env, SLOT)
    await slack.wait_until(
        lambda: sum(prompt_counts(slack, owners).values()) >= 15,
        timeout=30,
        describe=lambda: "the first process to deliver some prompts",
    )
    victim.send_signal(signal.SIGKILL)
    await victim.wait()
    delivered_before = sum(prompt_counts(slack, owners).values())
    assert delivered_before < 60, "the kill came too late to test anything"
    survivor = await run_tick_process(env, SLOT)  # the same tick, at once
    _, err = await survivor.communicate()
    assert survivor.returncode == 0, err.decode()
    counts = prompt_counts(slack, owners)
    assert set(counts) == set(owners), f"lost: {set(owners) - set(counts)}"
    assert set(counts.values()) == {1}, {o: c for o, c in counts.items() if c > 1}
    assert await outbox_states(services) == {"sent": 60}
    statuses = Counter(call.http_status for call in slack.calls_to("chat.postMessage"))
    assert statuses[429] <= 3, statuses  # the budget follows the workspace's limit


async def test_after_the_period_closes_a_missed_prompt_is_not_sent(
    services: Services, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    owners = await seed(services, slack, 2)
    monkeypatch.setattr(outbox, "RUN_RETRY_WINDOW", 0.5)
    slack.inject("chat.postMessage", error="fatal_error", count=1000)
    await tick(services, SLOT)
    slack.clear_faults()
    # Down for the rest of the week; next tick is after the following slot.
    report = await tick(services, SLOT + timedelta(days=7, minutes=1))
    counts = prompt_counts(slack, owners)
    assert set(counts.values()) == {1}  # only the new period's prompt
    assert report.done.get("messages expired") == 2
