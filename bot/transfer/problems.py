"""Problems of an imported file, each at its line, all reported at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.core.errors import UserError

T = TypeVar("T")


class FieldError(UserError):
    """One problem of a file, at a line (so a report of many can be in file order)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class Several(UserError):
    """More than one problem from one check (a mapping's unknown and missing fields)."""

    def __init__(self, problems: list[FieldError]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class Problems:
    """Every problem found in a file: one run names them all, in line order, instead
    of one per attempt."""

    def __init__(self) -> None:
        self._found: list[tuple[int, str]] = []

    def add(self, error: UserError) -> None:
        for one in error.problems if isinstance(error, Several) else [error]:
            self._found.append((getattr(one, "line", 0), one.message))

    def attempt(self, work: Callable[[], T]) -> T | None:
        """`work()`, or None with its problem noted."""
        try:
            return work()
        except UserError as exc:
            self.add(exc)
            return None

    def __len__(self) -> int:
        return len(self._found)

    def raise_all(self) -> None:
        if not self._found:
            return
        messages = list(dict.fromkeys(m for _, m in sorted(self._found, key=lambda f: f[0])))
        if len(messages) == 1:
            raise UserError(messages[0])
        raise UserError(f"{len(messages)} problems, nothing was stored:\n" + "\n".join(messages))
