"""What the benchmarks share to count SQL: every statement an engine sends to its driver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from storage.db import Database


class StatementCounter:
    """Counts every statement the engine sends to the database driver; with `timing`
    on, also records each one's duration and text (sequential code only: a statement's
    end is matched to the latest start)."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.count = 0
        self.timing = False
        self.timings: list[tuple[float, str]] = []
        self._started: list[float] = []
        event.listen(self.engine, "before_cursor_execute", self._seen)
        event.listen(self.engine, "after_cursor_execute", self._done)

    def _seen(self, *_args: Any) -> None:
        self.count += 1
        if self.timing:
            self._started.append(time.perf_counter())

    def _done(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.timing and self._started:
            elapsed = time.perf_counter() - self._started.pop()
            self.timings.append((elapsed, " ".join(statement.split())))

    @contextmanager
    def counting(self) -> Iterator[list[int]]:
        """Yields a one-item list that holds the statements issued in the block."""
        start = self.count
        box = [0]
        try:
            yield box
        finally:
            box[0] = self.count - start

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)
        event.remove(self.engine, "after_cursor_execute", self._done)
