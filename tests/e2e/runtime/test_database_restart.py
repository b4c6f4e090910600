"""The database restarting under traffic: a PostgreSQL cluster of the test's own is stopped
for 10 s while `okrbot run` fans prompts out and slash commands keep coming. No 5xx,
commands get the "can't reach its database" reply, /healthz says 503, and once the
database is back every prompt is delivered exactly once and every command that said
it was done is stored (and none that said it was not)."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers.commands.slash import UNREACHABLE
from storage.db import Database, upgrade
from storage.models import Objective
from tests.support.harness import IN_CI, SIGNING_SECRET
from tests.support.processes import (
    Cluster,
    cluster_problem,
    http_status,
    okrbot_env,
    start_replica,
    throwaway_cluster,
)
from tests.support.seeding import prompts_by_owner, seed_due_owners
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SlackRequestSender

# Several real processes paced against a rate-limited Slack: run alone (see the Makefile).
pytestmark = pytest.mark.serial

DOWN_FOR = 10.0
RATE = 20.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    problem = cluster_problem()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"a throwaway PostgreSQL cluster is required in CI: {problem}")
        pytest.skip(problem)
    with throwaway_cluster() as started:
        yield started


@dataclass
class Sent:
    title: str
    status: int
    elapsed: float
    response_url: str
    ack_text: str


async def test_database_stopped_for_ten_seconds_under_traffic(
    cluster: Cluster, slack: SlackEmulator, tmp_path: Path
) -> None:
    url = cluster.url
    await asyncio.to_thread(upgrade, url)
    slack.set_post_rate_limit(per_channel_per_second=1.0, workspace_per_second=RATE, burst=5)
    owners = await seed_due_owners(url, slack, 300)
    env = okrbot_env(slack.base_url, url, OKRBOT_SLACK_POSTS_PER_SECOND=str(RATE))
    replica = await start_replica(env, tmp_path, "replica")
    sent: list[Sent] = []
    health: list[tuple[float, int | None]] = []
    stop = asyncio.Event()

    async def commands() -> None:
        async with SlackRequestSender(replica.url, SIGNING_SECRET) as sender:
            number = 0
            while not stop.is_set():
                number += 1
                title = f"Goal {number}"
                response_url = slack.new_response_url()
                ack = await sender.command(
                    "/okr", f'objective add "{title}"', response_url=response_url
                )
                ack_text = str((ack.json or {}).get("text", "")) if ack.json else ""
                sent.append(Sent(title, ack.status, ack.elapsed, response_url, ack_text))
                await asyncio.sleep(0.25)

    async def probe_health() -> None:
        while not stop.is_set():
            health.append((time.monotonic(), await http_status(f"{replica.url}/healthz")))
            await asyncio.sleep(0.5)

    traffic = [asyncio.create_task(commands()), asyncio.create_task(probe_health())]
    try:
        await slack.wait_until(
            lambda: len(prompts_by_owner(slack, owners)) >= 40,
            timeout=60,
            describe=lambda: "the fan-out to be under way",
        )
        await asyncio.to_thread(cluster.stop)
        stopped_at = time.monotonic()
        await asyncio.sleep(DOWN_FOR)
        await asyncio.to_thread(cluster.start)
        started_at = time.monotonic()
        await slack.wait_until(
            lambda: len(prompts_by_owner(slack, owners)) == len(owners),
            timeout=90,
            describe=lambda: f"{len(prompts_by_owner(slack, owners))}/{len(owners)} prompts",
        )
        await asyncio.sleep(3)
    finally:
        stop.set()
        await asyncio.gather(*traffic, return_exceptions=True)
        await replica.stop()

    # No 5xx, every ack in time.
    assert {s.status for s in sent} == {200}, Counter(s.status for s in sent)
    assert max(s.elapsed for s in sent) < 3.0, max(s.elapsed for s in sent)
    # Each command said either done (with its O-n) or "can't reach its database".
    said: dict[str, str] = {}
    for s in sent:
        replies = slack.responses(s.response_url)
        text = s.ack_text or (str(replies[-1].params.get("text", "")) if replies else "")
        said[s.title] = text
    degraded = {t for t, text in said.items() if text == UNREACHABLE}
    done = {t for t, text in said.items() if re.search(r"\bO-\d+\b", text)}
    silent = set(said) - degraded - done
    assert degraded, "no command saw the database down"
    assert len(silent) <= 1, {t: said[t] for t in silent}  # the last one may be in flight
    # What is stored matches what was said: nothing half-written, nothing lost.
    db = Database(url)
    try:
        async with db.session() as session:
            titles = Counter((await session.scalars(select(Objective.title))).all())
    finally:
        await db.dispose()
    assert set(titles.values()) <= {1}
    assert done <= set(titles), done - set(titles)
    assert not (degraded & set(titles)), degraded & set(titles)
    # /healthz said 503 while the database was down and 200 again after.
    during = [status for at, status in health if stopped_at + 1 < at < started_at]
    after = [status for at, status in health if at > started_at + 5]
    assert during and set(during) == {503}, during
    assert after and set(after) == {200}, after
    # Prompts: each owner exactly one.
    counts = prompts_by_owner(slack, owners)
    assert set(counts) == set(owners) and set(counts.values()) == {1}
