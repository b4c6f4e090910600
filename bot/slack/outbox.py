"""Exactly-once delivery of scheduled messages (prompts, reminders, digests).

Rows are written first (unique per purpose), then each is claimed with a lease,
posted with its outbox id in the message `metadata`, and recorded. A claim
whose lease ran out means a sender died mid-call: before posting again we look
for the id in the channel's recent history, so a message Slack already has is
recorded, not sent twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.blocks.status import Message
from bot.runtime.services import NoInstallation, Services
from storage.models import OutboxMessage

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

Renderer = Callable[[OutboxMessage], Awaitable[Message | None]]
# Loads what a batch of rows will render, in a few queries instead of a few per row.
Prefetch = Callable[[list[OutboxMessage]], Awaitable[None]]
# Database changes that go with "sent", in the same transaction.
Record = Callable[[AsyncSession, OutboxMessage], Awaitable[None]]
# Slack follow-ups once the row is recorded (e.g. a chart in the thread).
AfterSend = Callable[[OutboxMessage], Awaitable[None]]


class NotReady(Exception):
    """The message depends on another not sent yet (a thread reply before its parent)."""


@dataclass
class DeliveryReport:
    sent: int = 0
    reconciled: int = 0
    cancelled: int = 0
    expired: int = 0
    failed: int = 0
    retry_later: int = 0


async def due_ids(services: Services, now: datetime, kinds: tuple[str, ...]) -> list[int]:
    """Rows to work on: pending and due, or claimed by a sender whose lease ran out."""
    async with services.db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.kind.in_(kinds),
                or_(
                    and_(OutboxMessage.state == "pending", OutboxMessage.due_at <= now),
                    and_(OutboxMessage.state == "sending", OutboxMessage.claimed_at < now - LEASE),
                ),
            )
            .order_by(OutboxMessage.due_at, OutboxMessage.id)
        )
        return list(rows.all())


async def _claim(services: Services, row_ids: list[int], now: datetime) -> list[OutboxMessage]:
    """Take these rows for this sender, in one statement; rows another sender holds or
    finished are not returned."""
    async with services.db.session() as session:
        claimed = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(row_ids),
                or_(
                    OutboxMessage.state == "pending",
                    and_(OutboxMessage.state == "sending", OutboxMessage.claimed_at < now - LEASE),
                ),
            )
            .values(state="sending", claimed_at=now, attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        rows = list(claimed.scalars().all())
    order = {row_id: index for index, row_id in enumerate(row_ids)}
    rows.sort(key=lambda row: order[row.id])
    return rows


async def _finish(services: Services, row_id: int, **values: Any) -> None:
    async with services.db.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


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


async def deliver(
    services: Services,
    now: datetime,
    kinds: tuple[str, ...],
    render: Renderer,
    record: Record | None = None,
    after_send: AfterSend | None = None,
    prefetch: Prefetch | None = None,
) -> DeliveryReport:
    """Send every due row of these kinds, each at most once.

    Rows are claimed a batch at a time (one UPDATE … RETURNING), their content
    prefetched, and handed to CONCURRENCY workers that only render, post and
    record. Claiming stays a little ahead of sending, well inside the lease.
    """
    report = DeliveryReport()
    ids = await due_ids(services, now, kinds)
    if not ids:
        return report
    queue: asyncio.Queue[OutboxMessage | None] = asyncio.Queue(maxsize=2 * CLAIM_BATCH)

    async def claim_ahead() -> None:
        try:
            for start in range(0, len(ids), CLAIM_BATCH):
                rows = await _claim(services, ids[start : start + CLAIM_BATCH], now)
                if prefetch is not None and rows:
                    await prefetch(rows)
                for row in rows:
                    await queue.put(row)
        finally:
            for _ in range(CONCURRENCY):
                await queue.put(None)

    async def work() -> None:
        while (row := await queue.get()) is not None:
            try:
                await _deliver_one(services, row, now, render, record, after_send, report)
            except Exception:  # e.g. the database went away: the lease brings the row back
                report.retry_later += 1
                log.exception("outbox row left for a later tick", extra={"outbox_id": row.id})

    await asyncio.gather(claim_ahead(), *(work() for _ in range(CONCURRENCY)))
    return report


async def _deliver_one(
    services: Services,
    row: OutboxMessage,
    now: datetime,
    render: Renderer,
    record: Record | None,
    after_send: AfterSend | None,
    report: DeliveryReport,
) -> None:
    if row.expires_at is not None and row.expires_at <= now:
        await _finish(services, row.id, state="expired")
        report.expired += 1
        return
    try:
        client = await services.clients.for_team(row.team_id)
        if row.attempts > 1:
            found = await _find_sent(client, row)
            if found is not None:
                await _record_sent(services, row, *found, now, record, after_send)
                report.reconciled += 1
                return
        message = await render(row)
        if message is None:
            await _finish(services, row.id, state="cancelled")
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
        channel = str(response["channel"])
        await _record_sent(services, row, channel, str(response["ts"]), now, record, after_send)
        report.sent += 1
    except NoInstallation:  # uninstalled or no token: keep it for when one exists
        await _finish(services, row.id, state="pending", claimed_at=None, attempts=row.attempts - 1)
        report.retry_later += 1
    except NotReady:  # not an attempt: nothing was sent
        await _finish(services, row.id, state="pending", claimed_at=None, attempts=row.attempts - 1)
        report.retry_later += 1
    except SlackApiError as exc:
        error = str(exc.response.get("error") or exc.response.status_code)
        if error in PERMANENT_ERRORS:
            await _finish(services, row.id, state="failed", error=error[:200])
            report.failed += 1
        else:  # rate limits and outages outlasting the client's retries: next tick retries
            await _finish(services, row.id, state="pending", claimed_at=None, error=error[:200])
            report.retry_later += 1
        log.warning(
            "outbox delivery failed",
            extra={"outbox_id": row.id, "team_id": row.team_id, "kind": row.kind, "error": error},
        )
    except Exception as exc:  # network or database trouble: the message's fate is unknown
        await _finish(services, row.id, state="pending", claimed_at=None, error=type(exc).__name__)
        report.retry_later += 1
        log.exception("outbox delivery interrupted", extra={"outbox_id": row.id})


async def _record_sent(
    services: Services,
    row: OutboxMessage,
    channel: str,
    ts: str,
    now: datetime,
    record: Record | None,
    after_send: AfterSend | None,
) -> None:
    row.channel_id, row.message_ts, row.sent_at, row.state = channel, ts, now, "sent"
    async with services.db.session() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(state="sent", channel_id=channel, message_ts=ts, sent_at=now, error=None)
            .execution_options(synchronize_session=False)
        )
        if record is not None:
            await record(session, row)
    if after_send is not None:
        await after_send(row)
