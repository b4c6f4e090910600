"""Several `okrbot run` replicas on one PostgreSQL, schedulers on, against a rate-limited
Slack: every owner gets exactly one prompt, also when the replica delivering is killed
mid fan-out (its messages are taken over within seconds)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import DeliveryLeader, OutboxMessage
from tests.support.processes import Replica, okrbot_env, replicas
from tests.support.seeding import prompts_by_owner, seed_due_owners
from tests.support.slack_emulator import SlackEmulator

# Several real processes paced against a rate-limited Slack: run alone (see the Makefile).
pytestmark = pytest.mark.serial

OWNERS = 300
RATE = 50.0  # the workspace's chat.postMessage limit, per second
TAKEOVER_LIMIT = 30.0  # seconds from the kill to the last prompt


@pytest.fixture
async def rate_limited_slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(bot_tokens={"xoxb-test": "T1"})
    await emulator.start()
    emulator.set_post_rate_limit(per_channel_per_second=1.0, workspace_per_second=RATE, burst=10)
    try:
        yield emulator
    finally:
        await emulator.stop()
    emulator.assert_no_invalid_payloads()


async def delivering(url: str, group: list[Replica]) -> Replica | None:
    """The replica holding the workspace's delivery leadership, if any."""
    db = Database(url)
    try:
        async with db.session() as session:
            holder = await session.scalar(select(DeliveryLeader.holder))
    finally:
        await db.dispose()
    pid = holder.rsplit(":", 1)[-1] if holder else None
    return next((r for r in group if str(r.pid) == pid), None)


async def outbox_states(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.session() as session:
            rows = await session.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            )
            return {state: count for state, count in rows.all()}
    finally:
        await db.dispose()


def replica_env(slack: SlackEmulator, url: str) -> dict[str, str]:
    return okrbot_env(slack.base_url, url, OKRBOT_SLACK_POSTS_PER_SECOND=str(RATE))


async def test_three_replicas_send_each_owner_one_prompt(
    postgresql_url: str, rate_limited_slack: SlackEmulator, tmp_path: Path
) -> None:
    slack = rate_limited_slack
    owners = await seed_due_owners(postgresql_url, slack, OWNERS)
    async with replicas(replica_env(slack, postgresql_url), 3, tmp_path) as group:
        await slack.wait_until(
            lambda: len(prompts_by_owner(slack, owners)) == OWNERS,
            timeout=90,
            describe=lambda: f"{len(prompts_by_owner(slack, owners))}/{OWNERS} prompts",
        )
        await asyncio.sleep(4)  # a sweep or two more: nothing may arrive twice
        logs = [replica.log() for replica in group]
    counts = prompts_by_owner(slack, owners)
    assert set(counts.values()) == {1}, {o: c for o, c in counts.items() if c > 1}
    assert (await outbox_states(postgresql_url)) == {"sent": OWNERS}
    limited = Counter(c.http_status for c in slack.calls_to("chat.postMessage"))[429]
    assert limited <= OWNERS * 0.02, f"{limited} 429s for {OWNERS} prompts"
    assert not any("Traceback" in text for text in logs), logs


async def test_the_delivering_replica_killed_mid_fan_out_is_taken_over(
    postgresql_url: str, rate_limited_slack: SlackEmulator, tmp_path: Path
) -> None:
    slack = rate_limited_slack
    owners = await seed_due_owners(postgresql_url, slack, OWNERS)
    async with replicas(replica_env(slack, postgresql_url), 3, tmp_path) as group:
        await slack.wait_until(
            lambda: len(prompts_by_owner(slack, owners)) >= 50,
            timeout=90,
            describe=lambda: "the fan-out to be under way",
        )
        victim = await delivering(postgresql_url, group)
        assert victim is not None, "no replica holds the delivery leadership"
        await victim.kill()
        killed_at = time.monotonic()
        before = len(prompts_by_owner(slack, owners))
        assert before < OWNERS, "the kill came too late to test anything"
        await slack.wait_until(
            lambda: len(prompts_by_owner(slack, owners)) == OWNERS,
            timeout=TAKEOVER_LIMIT,
            describe=lambda: (
                f"{len(prompts_by_owner(slack, owners))}/{OWNERS} prompts "
                f"{time.monotonic() - killed_at:.1f}s after the kill"
            ),
        )
        took = time.monotonic() - killed_at
        await asyncio.sleep(4)
        survivors = [r for r in group if r is not victim]
        takeovers = sum([await takeovers_reported(r) for r in survivors])
    counts = prompts_by_owner(slack, owners)
    assert set(counts.values()) == {1}, {o: c for o, c in counts.items() if c > 1}
    assert (await outbox_states(postgresql_url)) == {"sent": OWNERS}
    print(
        f"killed after {before} prompts; all {OWNERS} delivered {took:.1f}s after the kill; "
        f"{takeovers:g} rows taken over"
    )


async def takeovers_reported(replica: Replica) -> float:
    """okrbot_outbox_lease_takeovers_total from the replica's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"{replica.url}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith("okrbot_outbox_lease_takeovers_total "):
            return float(line.split()[1])
    return 0.0
