"""All work due as of an instant: the function behind the scheduler and `okrbot tick`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from bot.services import Services

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick did, for logs, the CLI and tests."""

    at: datetime
    done: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{name}: {count}" for name, count in sorted(self.done.items())]
        return f"tick at {self.at.isoformat()} — " + (", ".join(parts) or "nothing due")


async def tick(services: Services, now: datetime) -> TickReport:
    """Do everything due at `now`; safe to run twice or from two processes at once."""
    report = TickReport(at=now)
    with services.metrics.ticks.time():
        pass  # check-in prompts, reminders, digests and no-data checks register here
    return report
