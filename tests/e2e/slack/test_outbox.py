"""bot.slack.outbox on both backends against the emulator: each row posted at most once,
whatever Slack answers, and a lost claim reconciled instead of resent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.core.message import Message
from bot.runtime.services import Services
from bot.slack import outbox
from bot.slack.outbox import METADATA_EVENT, NotReady
from storage.models import OutboxMessage
from storage.repositories import TeamStore
from storage.repositories.outbox import Planned
from tests.support.slack_emulator import SlackEmulator

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run retries a row for seconds here, not minutes (rows that never get ready)."""
    monkeypatch.setattr(outbox, "RUN_RETRY_WINDOW", 3.0)


class Notes:
    """A composer for the `note` kind: posts its dedupe key, records what it saw."""

    kinds: tuple[str, ...] = ("note",)

    def __init__(
        self, *, cancel: frozenset[str] = frozenset(), not_ready: frozenset[str] = frozenset()
    ) -> None:
        self.cancel, self.not_ready = cancel, not_ready
        self.loaded: list[int] = []
        self.recorded: list[int] = []
        self.fail_record = False

    async def load(self, store: TeamStore, rows: list[OutboxMessage]) -> None:
        self.loaded.extend(row.id for row in rows)

    async def compose(self, client: AsyncWebClient, row: OutboxMessage) -> Message | None:
        if row.dedupe_key in self.not_ready:
            raise NotReady()
        if row.dedupe_key in self.cancel:
            return None
        return Message(row.dedupe_key, [])

    async def record(self, store: TeamStore, row: OutboxMessage) -> None:
        if self.fail_record:
            raise RuntimeError("the database went away while recording")
        self.recorded.append(row.id)

    async def after_send(self, client: AsyncWebClient, row: OutboxMessage) -> None:
        return None


async def plan(
    services: Services,
    *keys: str,
    team: str = "T1",
    due_at: datetime = NOW,
    expires_at: datetime | None = None,
) -> None:
    async with services.db.team(team) as store:
        await store.workspace.ensure(NOW)
        await store.outbox.plan(
            [
                Planned(
                    kind="note",
                    dedupe_key=key,
                    recipient="C1",
                    channel_id="C1",
                    due_at=due_at,
                    expires_at=expires_at,
                )
                for key in keys
            ],
            NOW,
        )


async def states(services: Services) -> dict[str, str]:
    async with services.db.session() as session:
        rows = await session.execute(select(OutboxMessage.dedupe_key, OutboxMessage.state))
        return dict(rows.all())


def posted(slack: SlackEmulator, channel: str = "C1") -> list[str]:
    return [m["text"] for m in slack.messages(channel)]


async def test_each_due_row_is_posted_once_and_recorded(
    services: Services, slack: SlackEmulator
) -> None:
    await plan(services, "a", "b", "c")
    await plan(services, "later", due_at=NOW + timedelta(hours=1))
    composer = Notes()
    report = await services.outbox.deliver("T1", NOW, composer)
    assert report.sent == 3 and sorted(posted(slack)) == ["a", "b", "c"]
    assert sorted(composer.loaded) == sorted(composer.recorded) and len(composer.recorded) == 3
    again = await services.outbox.deliver("T1", NOW, Notes())
    assert again.sent == 0 and len(posted(slack)) == 3
    assert (await states(services)) == {"a": "sent", "b": "sent", "c": "sent", "later": "pending"}
    for message in slack.messages("C1"):
        assert message["metadata"]["event_type"] == METADATA_EVENT


async def test_expired_cancelled_and_not_ready_rows(
    services: Services, slack: SlackEmulator
) -> None:
    await plan(services, "old", expires_at=NOW - timedelta(minutes=1))
    await plan(services, "unwanted", "waiting", "fine")
    composer = Notes(cancel=frozenset({"unwanted"}), not_ready=frozenset({"waiting"}))
    report = await services.outbox.deliver("T1", NOW, composer)
    assert (report.expired, report.cancelled, report.retry_later, report.sent) == (1, 1, 1, 1)
    assert posted(slack) == ["fine"]
    assert (await states(services)) == {
        "old": "expired",
        "unwanted": "cancelled",
        "waiting": "pending",
        "fine": "sent",
    }
    async with services.db.session() as session:
        waiting = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "waiting")
        )
    assert waiting is not None and waiting.attempts == 0  # not an attempt: nothing was sent


async def test_permanent_errors_fail_and_transient_ones_retry_later(
    services: Services, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    await plan(services, "gone")
    slack.inject("chat.postMessage", status=200, error="channel_not_found")
    report = await services.outbox.deliver("T1", NOW, Notes())
    assert report.failed == 1 and (await states(services))["gone"] == "failed"

    await plan(services, "blip")
    slack.inject("chat.postMessage", status=500, count=1)  # a blip: retried within the run
    report = await services.outbox.deliver("T1", NOW, Notes())
    assert report.sent == 1 and report.retry_later == 0
    assert posted(slack) == ["blip"]

    monkeypatch.setattr(outbox, "RUN_RETRY_WINDOW", 0.5)
    await plan(services, "flaky")
    slack.inject("chat.postMessage", status=500, count=1000)  # longer than the run retries
    report = await services.outbox.deliver("T1", NOW, Notes())
    assert report.retry_later == 1 and (await states(services))["flaky"] == "pending"
    async with services.db.session() as session:
        flaky = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "flaky")
        )
    assert flaky is not None and flaky.claimed_by is None
    assert flaky.due_at.replace(tzinfo=UTC) > NOW, "a released row waits for its next try"
    slack.clear_faults()
    assert (await services.outbox.deliver("T1", NOW + timedelta(minutes=1), Notes())).sent == 1
    assert posted(slack) == ["blip", "flaky"]


async def test_a_post_of_unknown_fate_is_reconciled_not_resent(
    services: Services, slack: SlackEmulator
) -> None:
    await plan(services, "once")
    crashing = Notes()
    crashing.fail_record = True  # Slack has the message; the database never learns it
    await services.outbox.deliver("T1", NOW, crashing)
    assert posted(slack) == ["once"] and (await states(services))["once"] == "pending"
    composer = Notes()
    report = await services.outbox.deliver("T1", NOW + timedelta(minutes=1), composer)
    assert report.reconciled == 1 and report.sent == 0
    assert posted(slack) == ["once"] and (await states(services))["once"] == "sent"
    assert len(composer.recorded) == 1


async def test_a_dead_senders_claim_is_taken_over_after_its_lease(
    services: Services, slack: SlackEmulator
) -> None:
    services.outbox.lease = timedelta(seconds=2)
    await plan(services, "orphan")
    async with services.db.session() as session:  # a sender claimed it, posted, then died
        row = await session.scalar(select(OutboxMessage))
        assert row is not None
        row.state, row.claimed_by, row.attempts = "sending", "crashed-host:1", 1
        row.claimed_at = datetime.now(UTC)  # leases run on the database's clock
        row_id = row.id
    client = await services.clients.for_team("T1")
    await client.chat_postMessage(
        channel="C1",
        text="orphan",
        metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_id": row_id}},
    )
    within = await services.outbox.deliver("T1", NOW, Notes(), wait=False)
    assert within.reconciled == within.sent == 0  # a live sender may still be at it
    await asyncio.sleep(services.outbox.lease.total_seconds() + 0.5)
    report = await services.outbox.deliver("T1", NOW, Notes())
    assert report.reconciled == 1 and report.sent == 0 and report.taken_over == 1
    assert posted(slack) == ["orphan"] and (await states(services))["orphan"] == "sent"


async def test_a_workspace_flush_leaves_other_workspaces_alone(
    services: Services, slack: SlackEmulator
) -> None:
    await plan(services, "mine")
    await plan(services, "theirs", team="T2")
    await services.outbox.deliver("T1", NOW, Notes())
    assert (await states(services)) == {"mine": "sent", "theirs": "pending"}
