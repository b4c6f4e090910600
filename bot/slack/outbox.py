"""Exactly-once delivery of planned messages (prompts, reminders, digests, alerts).

Rows are written first (unique per purpose, `OutboxRepository.plan`), then each is
claimed with a lease, posted with its outbox id in the message `metadata`, and
recorded. A claim whose lease ran out means a sender died mid-call: before
posting again we look for the id in the channel's recent history, so a message
Slack already has is recorded, not sent twice.

What a row says is decided by a `Composer` for its kinds: it loads what a batch
of rows shows inside the claim's transaction, composes each message (calling
Slack itself when a message needs an uploaded file first), and records what the
rest of okrbot must learn of the post in the same transaction that marks it sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.message import Message
from bot.slack.clients import NoInstallation, SlackClients
from storage.db import Database
from storage.models import OutboxMessage
from storage.repositories import TeamStore

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
METADATA_EVENT = "okrbot_outbox"
# Errors that no retry will fix: the row is marked failed instead of retried forever.
PERMANENT_ERRORS = {
    "account_inactive",
    "channel_not_found",
    "cannot_dm_bot",
    "invalid_blocks",
    "is_archived",
    "msg_too_long",
    "no_text",
    "not_in_channel",
    "user_not_found",
    "user_disabled",
    "restricted_action",
    "too_many_attachments",
}
CONCURRENCY = 64
CLAIM_BATCH = 100


class NotReady(Exception):
    """The message depends on another not sent yet (a thread reply before its parent)."""


class Composer(Protocol):
    """Turns the rows of some kinds into messages; one instance per delivery run."""

    kinds: tuple[str, ...]

    async def load(self, store: TeamStore, rows: list[OutboxMessage]) -> None:
        """Load what these claimed rows show, in the claim's transaction (few queries)."""

    async def compose(self, client: AsyncWebClient, row: OutboxMessage) -> Message | None:
        """The message to post, or None when it is no longer wanted (cancelled).

        May raise NotReady, and may call Slack first (an image to upload)."""

    async def record(self, store: TeamStore, row: OutboxMessage) -> None:
        """What okrbot learns of the post (its ts), with "sent" in one transaction."""

    async def after_send(self, client: AsyncWebClient, row: OutboxMessage) -> None:
        """Slack follow-ups once the row is recorded (e.g. an edit if it changed meanwhile)."""


@dataclass
class DeliveryReport:
    sent: int = 0
    reconciled: int = 0
    cancelled: int = 0
    expired: int = 0
    failed: int = 0
    retry_later: int = 0

    def add(self, other: DeliveryReport) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def counts(self) -> dict[str, int]:
        return {f"messages {name}": value for name, value in vars(self).items() if value}


class Outbox:
    """Sends a workspace's due rows, each at most once, concurrently."""

    def __init__(self, db: Database, clients: SlackClients) -> None:
        self._db = db
        self._clients = clients

    async def deliver(self, team_id: str, now: datetime, composer: Composer) -> DeliveryReport:
        """Send every due row of the composer's kinds in this workspace.

        Rows are claimed a batch at a time (one UPDATE … RETURNING) and their content
        loaded in the same transaction, then handed to CONCURRENCY workers that only
        compose, post and record. Claiming stays a little ahead of sending, well
        inside the lease.
        """
        async with self._db.team(team_id) as store:
            ids = await store.outbox.due_ids(composer.kinds, now, LEASE)
            first = await self._claim_batch(store, ids[:CLAIM_BATCH], now, composer)
        if not ids:
            return DeliveryReport()

        async def batches() -> AsyncIterator[list[OutboxMessage]]:
            yield first
            for start in range(CLAIM_BATCH, len(ids), CLAIM_BATCH):
                async with self._db.team(team_id) as store:  # committed before it is yielded
                    rows = await self._claim_batch(
                        store, ids[start : start + CLAIM_BATCH], now, composer
                    )
                yield rows

        return await self._send(batches(), now, composer)

    async def send_claimed(
        self, rows: list[OutboxMessage], now: datetime, composer: Composer
    ) -> DeliveryReport:
        """Send rows this process claimed and the composer loaded already (e.g. alerts
        opened by the ingestion that is asking), without claiming them again."""

        async def batches() -> AsyncIterator[list[OutboxMessage]]:
            yield rows

        return await self._send(batches(), now, composer)

    async def _claim_batch(
        self, store: TeamStore, ids: list[int], now: datetime, composer: Composer
    ) -> list[OutboxMessage]:
        rows = await store.outbox.claim(ids, now, LEASE)
        if rows:
            await composer.load(store, rows)
        return rows

    async def _send(
        self, batches: AsyncIterator[list[OutboxMessage]], now: datetime, composer: Composer
    ) -> DeliveryReport:
        report = DeliveryReport()
        queue: asyncio.Queue[OutboxMessage | None] = asyncio.Queue(maxsize=2 * CLAIM_BATCH)

        async def claim_ahead() -> None:
            try:
                async for rows in batches:
                    for row in rows:
                        await queue.put(row)
            finally:
                for _ in range(CONCURRENCY):
                    await queue.put(None)

        async def work() -> None:
            while (row := await queue.get()) is not None:
                try:
                    await self._deliver_one(row, now, composer, report)
                except Exception:  # e.g. the database went away: the lease brings it back
                    report.retry_later += 1
                    log.exception("outbox row left for a later tick", extra={"outbox_id": row.id})

        await asyncio.gather(claim_ahead(), *(work() for _ in range(CONCURRENCY)))
        return report

    async def _finish(self, row: OutboxMessage, **values: Any) -> None:
        async with self._db.team(row.team_id) as store:
            await store.outbox.finish(row.id, **values)

    async def _release(self, row: OutboxMessage, **values: Any) -> None:
        """Back to pending for a later tick; `attempt=False` when nothing was sent."""
        await self._finish(row, state="pending", claimed_at=None, **values)

    async def _deliver_one(
        self, row: OutboxMessage, now: datetime, composer: Composer, report: DeliveryReport
    ) -> None:
        if row.expires_at is not None and row.expires_at <= now:
            await self._finish(row, state="expired")
            report.expired += 1
            return
        try:
            client = await self._clients.for_team(row.team_id)
            if row.attempts > 1:
                found = await _find_sent(client, row)
                if found is not None:
                    await self._record_sent(row, *found, now, composer)
                    report.reconciled += 1
                    return
            message = await composer.compose(client, row)
            if message is None:
                await self._finish(row, state="cancelled")
                report.cancelled += 1
                return
            # Posting to a user id opens their DM; the answer names the channel.
            response = await client.chat_postMessage(
                channel=row.channel_id or row.recipient,
                text=message.text,
                blocks=message.blocks,
                thread_ts=message.thread_ts,
                metadata={
                    "event_type": METADATA_EVENT,
                    "event_payload": {"outbox_id": row.id, "kind": row.kind},
                },
                unfurl_links=False,
            )
            await self._record_sent(
                row, str(response["channel"]), str(response["ts"]), now, composer
            )
            report.sent += 1
        except (NoInstallation, NotReady):  # not an attempt: nothing was sent
            await self._release(row, attempts=row.attempts - 1)
            report.retry_later += 1
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            if error in PERMANENT_ERRORS:
                await self._finish(row, state="failed", error=error[:200])
                report.failed += 1
            else:  # rate limits and outages outlasting the client's retries: next tick retries
                await self._release(row, error=error[:200])
                report.retry_later += 1
            log.warning(
                "outbox delivery failed",
                extra={
                    "outbox_id": row.id,
                    "team_id": row.team_id,
                    "kind": row.kind,
                    "error": error,
                },
            )
        except Exception as exc:  # network or database trouble: the message's fate is unknown
            await self._release(row, error=type(exc).__name__)
            report.retry_later += 1
            log.exception("outbox delivery interrupted", extra={"outbox_id": row.id})

    async def _record_sent(
        self, row: OutboxMessage, channel: str, ts: str, now: datetime, composer: Composer
    ) -> None:
        row.channel_id, row.message_ts, row.sent_at, row.state = channel, ts, now, "sent"
        async with self._db.team(row.team_id) as store:
            await store.outbox.finish(
                row.id, state="sent", channel_id=channel, message_ts=ts, sent_at=now, error=None
            )
            await composer.record(store, row)
        try:  # the row is sent and recorded: a failed follow-up must not release it
            client = await self._clients.for_team(row.team_id)
            await composer.after_send(client, row)
        except Exception:
            log.exception("follow-up after a sent message failed", extra={"outbox_id": row.id})


async def _find_sent(client: AsyncWebClient, row: OutboxMessage) -> tuple[str, str] | None:
    """(channel, ts) of a message carrying this row's id, if Slack already has one."""
    channel = row.channel_id
    try:
        if channel is None:  # a DM posted to the user id: find the DM channel first
            if row.recipient[:1] not in {"U", "W"}:
                return None
            opened = await client.conversations_open(users=row.recipient)
            channel = str(opened["channel"]["id"])
        # The newest messages suffice: a row is reconciled within minutes of its lost
        # claim, and okrbot's DMs and digest channels see few messages from it by then.
        history = await client.conversations_history(
            channel=channel, include_all_metadata=True, limit=200
        )
    except SlackApiError as exc:
        log.warning(
            "cannot reconcile outbox message",
            extra={"outbox_id": row.id, "error": exc.response.get("error")},
        )
        return None
    messages: list[dict[str, Any]] = history.get("messages", [])
    for message in messages:
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        if metadata.get("event_type") == METADATA_EVENT and payload.get("outbox_id") == row.id:
            return channel, str(message["ts"])
    return None
