"""Outbox rows of the habits of real teams, shared by the rooms that plan and send them.

`bot.okrs` plans the DM to a new key-result owner in the transaction that makes them
owner; `bot.checkins.habits` composes and sends it. The dedupe key carries who made
them owner, so each assignment is told once and a later one (back to them) again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.repositories.outbox import Planned

ASSIGNED = "assigned"
ESCALATION = "escalation"
ASSIGNED_LIFETIME = timedelta(days=7)  # news older than a week is no longer worth a DM


def assigned_message(key_result_id: int, owner_id: str, by: str, now: datetime) -> Planned:
    """The DM telling `owner_id` they now own a key result (planned, sent by the outbox)."""
    return Planned(
        kind=ASSIGNED,
        dedupe_key=f"{ASSIGNED}:{key_result_id}:{owner_id}:{by}:{now:%Y%m%dT%H%M%S%f}",
        recipient=owner_id,
        ref_id=key_result_id,
        due_at=now,
        expires_at=now + ASSIGNED_LIFETIME,
    )


def assigned_by(dedupe_key: str) -> str | None:
    parts = dedupe_key.split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None
