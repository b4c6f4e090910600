"""Work that follows a request (posting an alert), kept until done and drained on exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    """Runs follow-up coroutines after the request that caused them has returned.

    A reply never waits for Slack this way; `drain()` lets a CLI command or a
    shutting-down server finish what it started.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error(
                    "background work failed",
                    exc_info=finished.exception(),
                    extra={"work": what},
                )

        task.add_done_callback(done)

    async def drain(self) -> None:
        """Wait for everything spawned, including what spawned work spawns."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
