"""The outcome of a change, as structured facts: only Block Kit turns it into mrkdwn.

`Done("Created ", Strong("O-1"), " ", title, …)`: plain strings are user-safe text
(escaped when rendered), the other parts say how to show what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class UserMention:
    user_id: str


@dataclass(frozen=True)
class ChannelMention:
    channel_id: str


@dataclass(frozen=True)
class Emoji:
    name: str


Part = str | Strong | Code | UserMention | ChannelMention | Emoji


class Done:
    """What a command did, for the person who asked."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Part) -> None:
        self.parts: tuple[Part, ...] = parts

    @property
    def plain(self) -> str:
        """The sentence without formatting (logs, the CLI)."""
        out = []
        for part in self.parts:
            match part:
                case str():
                    out.append(part)
                case Strong() | Code():
                    out.append(part.text)
                case UserMention():
                    out.append(f"@{part.user_id}")
                case ChannelMention():
                    out.append(f"#{part.channel_id}")
                case Emoji():
                    out.append(f":{part.name}:")
        return "".join(out)

    def __repr__(self) -> str:
        return f"Done({self.plain!r})"
