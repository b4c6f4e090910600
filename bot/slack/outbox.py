"""Exactly-once delivery of planned messages (prompts, reminders, digests, alerts).

Rows are written first (unique per purpose, `OutboxRepository.plan`), then sent
by one sender at a time, then recorded:

- **A claim belongs to a live sender.** A sender claims a few rows at a time, only
  as many as it is about to post, naming itself in `claimed_by`; a heartbeat
  renews the claims every `HEARTBEAT` on the database's own clock. A sender that
  dies stops renewing, and after `LEASE` of real time its rows are claimable
  again: the next tick, or another replica's sweep, takes them over within
  seconds. Every write a sender makes to a row checks that it still holds it.
- **An attempt is marked before the call.** Just before posting, the sender
  counts the attempt (and checks it still holds the row) in its own commit. A row
  claimed with attempts > 0 may already be in Slack: before posting again we look
  for the row's id in the channel's recent message metadata, so a message Slack
  already has is recorded, not sent twice. Rows a dead sender had claimed but not
  yet tried are simply sent.
- **One sender per workspace.** A delivery run first becomes the workspace's
  delivering sender (`delivery_leaders`, a lease like the rows'), so however many
  replicas tick, one process spends the workspace's Slack budget (`Pacer`).
- **Retries until the row's deadline.** A 429 pauses the workspace's budget for
  `Retry-After` for every worker; other transient failures back off. The row stays
  claimed and is retried in the run until it is sent, its deadline (`expires_at`:
  the end of the period for prompts) passes, or the run has retried it for
  `RUN_RETRY_WINDOW`; then it goes back to pending with the time of its next try,
  for the next run. A tick does not end while rows it could send are due.

What a row says is decided by a `Composer` for its kinds: it loads what a batch
of rows shows inside the claim's transaction, composes each message (calling
Slack itself when a message needs an uploaded file first), and records what the
rest of okrbot must learn of the post in the same transaction that marks it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.message import Message
from bot.slack.clients import NoInstallation, SlackClients
from bot.slack.pacer import POST_METHOD
from storage.db import Database
from storage.models import OutboxMessage
from storage.repositories import TeamStore

log = logging.getLogger(__name__)

# A claim outlives a dead sender by at most LEASE of real time; live senders renew
# theirs every HEARTBEAT. Web API calls time out well inside the lease.
LEASE = timedelta(seconds=10)
HEARTBEAT = 2.0
POLL = 1.0  # seconds between looks while rows are held by another sender
# This process, as named in claims and leadership (the host and the pid).
SENDER_ID = f"{socket.gethostname()[:40]}:{os.getpid()}"
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
# Rows claimed ahead of the posts: enough for the workers and about half a second of
# the workspace's post budget, so a crash leaves few rows claimed.
CLAIM_AHEAD_SECONDS = 0.5
MIN_CLAIM = 8
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
RUN_RETRY_WINDOW = 120.0  # seconds one run keeps retrying a failing row before a later run


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
    taken_over: int = 0  # rows claimed from a sender whose lease had run out
    left_to_other_sender: int = 0  # another process was delivering this workspace

    def add(self, other: DeliveryReport) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def counts(self) -> dict[str, int]:
        return {f"messages {name}": value for name, value in vars(self).items() if value}


@dataclass
class _Try:
    """A claimed row as one run works on it."""

    row: OutboxMessage
    check_first: bool  # may already be in Slack: reconcile before posting
    failing_since: float | None = None
    failures: int = 0
    give_back: bool = False  # retrying in this run is pointless (no token to post with)


@dataclass
class _Run:
    """One delivery run's shared state: what it holds and what the workers do next."""

    team_id: str
    now: datetime
    composer: Composer
    report: DeliveryReport
    queue: asyncio.Queue[_Try | None] = field(default_factory=asyncio.Queue)
    held: dict[int, _Try] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False  # leadership lost: claim nothing more
    retry_window: float = RUN_RETRY_WINDOW  # seconds a failing row is retried in this run


class Outbox:
    """Sends a workspace's due rows, each at most once, concurrently and paced."""

    def __init__(
        self,
        db: Database,
        clients: SlackClients,
        *,
        sender_id: str = SENDER_ID,
        lease: timedelta = LEASE,
        on_takeover: Callable[[int], None] | None = None,
    ) -> None:
        self._db = db
        self._clients = clients
        self.sender_id = sender_id
        self.lease = lease
        self._on_takeover = on_takeover

    async def deliver(
        self, team_id: str, now: datetime, composer: Composer, *, wait: bool = True
    ) -> DeliveryReport:
        """Send every due row of the composer's kinds in this workspace.

        First become the workspace's delivering sender. With `wait` (a tick), wait
        for that while another process delivers, and before returning wait out rows
        other senders hold (a dead sender's, until their lease ends): the tick ends
        with nothing due left that it could send. Without `wait` (the server's
        sweep, which comes back in seconds), leave the workspace to its sender.
        """
        report = DeliveryReport()
        async with self._db.team(team_id) as store:  # the idle case: one read, no writes
            if not await store.outbox.has_work(composer.kinds, now):
                return report
        while not await self._lead(team_id):
            if not wait:
                report.left_to_other_sender += 1
                return report
            await asyncio.sleep(POLL)
        try:
            while True:
                run = _Run(team_id, now, composer, report)
                async with self._leading(run):
                    await self._run(run, self._claim_due)
                if run.lost or not wait:
                    break
                async with self._db.team(team_id) as store:
                    if not await store.outbox.in_flight(composer.kinds):
                        break
                await asyncio.sleep(POLL)
                if not await self._lead(team_id):
                    break  # a live sender leads again: what is left is theirs to send
        finally:
            with contextlib.suppress(Exception):  # the lease ends it anyway
                async with self._db.team(team_id) as store:
                    await store.outbox.resign(self.sender_id)
        return report

    async def send_claimed(
        self, rows: list[OutboxMessage], now: datetime, composer: Composer
    ) -> DeliveryReport:
        """Send rows this process claimed and the composer loaded already (e.g. alerts
        opened by the ingestion that is asking), without claiming them again."""
        report = DeliveryReport()
        if not rows:
            return report
        # Posted right away when Slack takes it; any trouble leaves it to the server's
        # sweep or the next tick, so the ingestion that asked is not held up.
        run = _Run(rows[0].team_id, now, composer, report, retry_window=0.0)
        for row in rows:
            self._hold(run, row, check_first=row.attempts > 0)

        async def nothing_more(run: _Run) -> int:
            return 0

        async with self._heartbeat(run):
            await self._run(run, nothing_more)
        return report

    # Leadership and leases ---------------------------------------------------------

    async def _lead(self, team_id: str) -> bool:
        async with self._db.team(team_id) as store:
            return await store.outbox.lead(self.sender_id, self.lease)

    @contextlib.asynccontextmanager
    async def _leading(self, run: _Run) -> AsyncIterator[None]:
        """Renew the workspace's leadership and the run's claims while it works."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT)
                try:
                    if not await self._lead(run.team_id):
                        log.warning("outbox leadership lost", extra={"team_id": run.team_id})
                        run.lost = True
                        run.changed.set()
                except Exception:  # the database is away: the next beat tries again
                    log.warning("outbox leadership not renewed", extra={"team_id": run.team_id})

        task = asyncio.create_task(renew())
        try:
            async with self._heartbeat(run):
                yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def _heartbeat(self, run: _Run) -> AsyncIterator[None]:
        """Keep the run's claims alive; forget rows another sender took over meanwhile."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT)
                if not run.held:
                    continue
                # Only rows held before the renewal began can be judged by it: a claim
                # committed meanwhile is not among the rows it saw.
                before = set(run.held)
                try:
                    async with self._db.team(run.team_id) as store:
                        still = await store.outbox.heartbeat(self.sender_id)
                except Exception:
                    log.warning("outbox heartbeat failed", extra={"team_id": run.team_id})
                    continue
                for row_id in before - still:
                    # Taken over while we could not renew: its new sender owns it now.
                    if run.held.pop(row_id, None) is not None:
                        log.warning("outbox row taken over", extra={"outbox_id": row_id})
                run.changed.set()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # The run ------------------------------------------------------------------------

    def _hold(self, run: _Run, row: OutboxMessage, *, check_first: bool) -> None:
        attempt = _Try(row, check_first)
        run.held[row.id] = attempt
        run.queue.put_nowait(attempt)

    def _claim_size(self) -> int:
        rate = self._clients.pacer.posts_per_second
        return max(MIN_CLAIM, int(rate * CLAIM_AHEAD_SECONDS))

    async def _claim_due(self, run: _Run) -> int:
        """Claim the next few due rows (and load what they show) in one transaction."""
        async with self._db.team(run.team_id) as store:
            claimed = await store.outbox.claim_due(
                run.composer.kinds, run.now, self.lease, self.sender_id, self._claim_size()
            )
            if claimed.rows:
                await run.composer.load(store, claimed.rows)
        for row in claimed.rows:
            self._hold(run, row, check_first=row.attempts > 0)
        if claimed.taken_over:
            run.report.taken_over += claimed.taken_over
            if self._on_takeover is not None:
                self._on_takeover(claimed.taken_over)
            log.info(
                "outbox rows taken over from a stopped sender",
                extra={"team_id": run.team_id, "rows": claimed.taken_over},
            )
        return len(claimed.rows)

    async def _run(self, run: _Run, claim: Callable[[_Run], Any]) -> None:
        """Workers post what is queued; the claimer keeps a little queued until nothing
        is due and nothing held is left (retries come back to the queue by themselves)."""
        low_water = self._claim_size() // 2

        async def claimer() -> None:
            try:
                while True:
                    if not run.lost and run.queue.qsize() <= low_water:
                        try:
                            got = await claim(run)
                        except Exception:  # the database is away: try again shortly
                            log.warning("outbox claim failed", extra={"team_id": run.team_id})
                            got = 0
                        if got:
                            continue
                    if not run.held:
                        return
                    run.changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(run.changed.wait(), POLL)
            finally:
                await self._release_held(run)  # only when stopped early (cancelled)
                for _ in range(CONCURRENCY):
                    run.queue.put_nowait(None)

        async def work() -> None:
            while (attempt := await run.queue.get()) is not None:
                if attempt.row.id not in run.held:
                    continue  # taken over, or released
                try:
                    done = await self._deliver_one(run, attempt)
                except Exception:  # network or database trouble: the post's fate is unknown
                    log.exception("outbox row failed", extra={"outbox_id": attempt.row.id})
                    done = False
                    attempt.check_first = True
                if done:
                    run.held.pop(attempt.row.id, None)
                else:
                    await self._retry_later(run, attempt)
                run.changed.set()

        await asyncio.gather(claimer(), *(work() for _ in range(CONCURRENCY)))

    async def _retry_later(self, run: _Run, attempt: _Try) -> None:
        """Back to the queue after a backoff, or back to pending for a later run (after
        the run's retry window, when leadership is lost, or with no token to use)."""
        now = time.monotonic()
        if attempt.failing_since is None:
            attempt.failing_since = now
        attempt.failures += 1
        window = min(run.retry_window, RUN_RETRY_WINDOW)
        if attempt.give_back or run.lost or now - attempt.failing_since >= window:
            run.held.pop(attempt.row.id, None)
            await self._release(run, attempt)
            return
        delay = BACKOFF[min(attempt.failures, len(BACKOFF)) - 1]
        paused = self._clients.pacer.paused_for(run.team_id, POST_METHOD)
        asyncio.get_running_loop().call_later(max(delay, paused), _requeue, run, attempt)

    async def _release(self, run: _Run, attempt: _Try) -> None:
        """Give a row back for a later run, due again after its next backoff."""
        delay = BACKOFF[min(attempt.failures, len(BACKOFF)) - 1]
        try:
            await self._finish(
                attempt.row,
                state="pending",
                claimed_at=None,
                claimed_by=None,
                due_at=max(attempt.row.due_at, run.now + timedelta(seconds=delay)),
            )
            run.report.retry_later += 1
        except Exception:
            log.warning("outbox row not released", extra={"outbox_id": attempt.row.id})

    async def _release_held(self, run: _Run) -> None:
        """At the end of a run (leadership lost, or stopping): give back what is held."""
        for row_id in list(run.held):
            attempt = run.held.pop(row_id)
            attempt.failures = max(attempt.failures, 1)
            await self._release(run, attempt)

    async def _finish(self, row: OutboxMessage, **values: Any) -> bool:
        async with self._db.team(row.team_id) as store:
            return await store.outbox.finish(row.id, self.sender_id, **values)

    # One row ------------------------------------------------------------------------

    async def _deliver_one(self, run: _Run, attempt: _Try) -> bool:
        """Try to deliver one held row; True when its fate is settled."""
        row, report = attempt.row, run.report
        if row.expires_at is not None and row.expires_at <= run.now:
            await self._finish(row, state="expired")
            report.expired += 1
            return True
        try:
            client = await self._clients.for_team(row.team_id)
            if attempt.check_first:
                found = await _find_sent(client, row)
                if found is not None:
                    await self._record_sent(row, *found, run.now, run.composer)
                    report.reconciled += 1
                    return True
            message = await run.composer.compose(client, row)
            if message is None:
                await self._finish(row, state="cancelled")
                report.cancelled += 1
                return True
            # Our turn in the workspace's budget first, then the attempt mark, then the
            # post: a row still waiting for its turn has not been tried.
            channel = row.channel_id or row.recipient
            pacer = self._clients.pacer
            await pacer.wait(row.team_id, POST_METHOD, channel)
            async with self._db.team(row.team_id) as store:
                if not await store.outbox.mark_attempt(row.id, self.sender_id):
                    return True  # another sender has it now: it is theirs to settle
            attempt.check_first = True  # from here on its fate is unknown until recorded
            with pacer.prepaid():
                # Posting to a user id opens their DM; the answer names the channel.
                response = await client.chat_postMessage(
                    channel=channel,
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
                row, str(response["channel"]), str(response["ts"]), run.now, run.composer
            )
            report.sent += 1
            return True
        except NoInstallation:  # nothing was sent; a later run, once a token is known
            attempt.give_back = True
            return False
        except NotReady:  # nothing was sent: its parent goes first
            return False
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            log.warning(
                "outbox delivery failed",
                extra={
                    "outbox_id": row.id,
                    "team_id": row.team_id,
                    "kind": row.kind,
                    "error": error,
                },
            )
            if error in PERMANENT_ERRORS:
                await self._finish(row, state="failed", error=error[:200])
                report.failed += 1
                return True
            if exc.response.status_code == 429 or error == "ratelimited":
                attempt.check_first = False  # refused: certainly not posted
            return False

    async def _record_sent(
        self, row: OutboxMessage, channel: str, ts: str, now: datetime, composer: Composer
    ) -> None:
        row.channel_id, row.message_ts, row.sent_at, row.state = channel, ts, now, "sent"
        async with self._db.team(row.team_id) as store:
            recorded = await store.outbox.finish(
                row.id,
                self.sender_id,
                state="sent",
                channel_id=channel,
                message_ts=ts,
                sent_at=now,
                error=None,
                claimed_by=None,
            )
            if not recorded:  # taken over mid-call: its new sender finds the post by metadata
                return
            await composer.record(store, row)
        try:  # the row is sent and recorded: a failed follow-up must not release it
            client = await self._clients.for_team(row.team_id)
            await composer.after_send(client, row)
        except Exception:
            log.exception("follow-up after a sent message failed", extra={"outbox_id": row.id})


def _requeue(run: _Run, attempt: _Try) -> None:
    if attempt.row.id in run.held:
        run.queue.put_nowait(attempt)


async def _find_sent(client: AsyncWebClient, row: OutboxMessage) -> tuple[str, str] | None:
    """(channel, ts) of a message carrying this row's id, if Slack already has one."""
    channel = row.channel_id
    try:
        if channel is None:  # a DM posted to the user id: find the DM channel first
            if row.recipient[:1] not in {"U", "W"}:
                return None
            opened = await client.conversations_open(users=row.recipient)
            channel = str(opened["channel"]["id"])
        # The newest messages suffice: a row is reconciled within seconds of its lost
        # claim, and okrbot's DMs and digest channels see few messages from it by then.
        history = await client.conversations_history(
            channel=channel, include_all_metadata=True, limit=200
        )
    except SlackApiError as exc:
        if exc.response.status_code == 429 or exc.response.status_code >= 500:
            raise  # try again later: posting blind could double the message
        # Unreadable (e.g. a public channel okrbot posts to but is not in): post as before.
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
