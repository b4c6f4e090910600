"""A Slack message as okrbot posts it: fallback text, blocks, and the thread it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Block = dict[str, Any]


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[Block]
    thread_ts: str | None = None  # set for replies in a thread

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}
