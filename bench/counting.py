"""What the benchmarks share to count SQL: every statement an engine sends to its driver."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from storage.db import Database


class StatementCounter:
    """Counts every statement the engine sends to the database driver."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    @contextmanager
    def counting(self) -> Iterator[list[int]]:
        box: list[int] = []
        before = self.count
        yield box
        box.append(self.count - before)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)
