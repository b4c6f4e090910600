"""Retention: what okrbot forgets, and when, so no table grows without bound.

- processed Slack event ids after a day (Slack's retries stop after minutes);
- request signatures once Slack's five-minute window has passed (replays are refused
  while they are kept);
- outbox rows that are finished (sent, cancelled, expired, failed) after 30 days;
- KPI measurements after `OKRBOT_MEASUREMENT_RETENTION_DAYS`, when it is set.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.db import Database
from storage.repositories import fleet

EVENT_IDS_KEPT = timedelta(days=1)
SIGNATURES_KEPT = timedelta(minutes=10)  # Slack's window is 5 minutes either way
FINISHED_OUTBOX_KEPT = timedelta(days=30)


class Retention:
    def __init__(self, db: Database, measurements_kept: timedelta | None = None) -> None:
        self._db = db
        self._measurements_kept = measurements_kept

    async def prune(self, now: datetime) -> dict[str, int]:
        """Delete what is past its retention, in one transaction; counts per kind."""
        async with self._db.session() as session:
            counts = {
                "event ids pruned": await fleet.prune_processed_events(
                    session, now - EVENT_IDS_KEPT
                ),
                "request signatures pruned": await fleet.prune_signatures(
                    session, now - SIGNATURES_KEPT
                ),
                "outbox rows pruned": await fleet.prune_finished_outbox(
                    session, now - FINISHED_OUTBOX_KEPT
                ),
            }
            if self._measurements_kept is not None:
                counts["measurements pruned"] = await fleet.prune_measurements(
                    session, now - self._measurements_kept
                )
        return counts
