"""Block Kit building blocks shared by every view: limits, escaping, text, outcomes.

The only place (with its sibling modules) that writes mrkdwn: user text is escaped
here, so a title or a KPI name can never inject a mention or a link.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from bot.core.errors import UserError
from bot.core.message import Block, Message
from bot.core.numbers import format_number, format_value
from bot.core.outcome import ChannelMention, Code, Done, Emoji, Strong, UserMention

__all__ = [
    "Block",
    "Message",
    "MAX_BLOCKS",
    "SECTION_LIMIT",
    "HEADER_LIMIT",
    "clip",
    "clip_mrkdwn",
    "context",
    "escape",
    "header",
    "pack_lines",
    "group_lines",
    "percent",
    "plain",
    "progress_bar",
    "render_done",
    "render_error",
    "section",
    "slack_time",
    "value_with_unit",
    "number",
    "person",
    "plural",
    "slack_date",
    "slack_datetime",
]

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150


def escape(text: str) -> str:
    """Escape user text for mrkdwn so it cannot inject mentions, links or formatting codes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_time(at: datetime, now: datetime) -> str:
    """A moment as Slack shows it in each reader's own time zone: the time alone
    within the last 20 hours, else the day and the time; UTC where a client cannot."""
    token = "{time}" if now - at < timedelta(hours=20) else "{date_short_pretty} {time}"
    fallback = f"{at:%H:%M} UTC" if token == "{time}" else f"{at:%b} {at.day} {at:%H:%M} UTC"
    return f"<!date^{int(at.timestamp())}^{token}|{fallback}>"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_mrkdwn(text: str, limit: int) -> str:
    """Clip mrkdwn without ending inside an escape (`&amp;`) or a mention (`<@U…>`)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    if cut.rfind("&") > cut.rfind(";"):
        cut = cut[: cut.rfind("&")]
    return cut + "…"


def section(text: str) -> Block:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip_mrkdwn(text, SECTION_LIMIT)},
    }


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip_mrkdwn(text, 3000)}]}


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_LIMIT)}}


def plain(text: str) -> str:
    """Plain text (headers, fallbacks) from mrkdwn: references spelt out, escapes kept."""
    return re.sub(r"<[@#]([A-Z0-9]+)(?:\|([^>]*))?>", lambda m: m.group(2) or m.group(1), text)


def progress_bar(fraction: float, width: int = 10) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def percent(fraction: float) -> str:
    return f"{round(fraction * 100)}%"


def number(value: float | None) -> str:
    return format_number(value)


def value_with_unit(value: float | None, unit: str | None) -> str:
    """A value and its (escaped) unit, as mrkdwn."""
    return escape(format_value(value, unit))


def person(user_id: str, names: dict[str, str] | None) -> str:
    """A person in plain text: their display name, else their id — never a mention,
    which would notify them each time a status or a digest is posted in a channel
    (callers look names up first; DMs and alerts mention on purpose, with `<@…>`)."""
    name = (names or {}).get(user_id)
    return escape(name) if name else escape(user_id)


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 objective`, `2 objectives`, `1,200 key results`: the one way counts are written."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def slack_datetime(at: datetime) -> str:
    """A day and time as Slack shows them in each reader's own zone; UTC where it cannot."""
    return f"<!date^{int(at.timestamp())}^{{date_short}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def slack_date(at: datetime) -> str:
    """A day as Slack shows it in each reader's own zone (`Nov 24`), UTC where it cannot."""
    return f"<!date^{int(at.timestamp())}^{{date_short}}|{at:%b} {at.day}>"


def pack_lines(lines: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Group lines into chunks that each fit one section."""
    return ["\n".join(group) for group in group_lines(lines, limit)]


def group_lines(lines: list[str], limit: int = SECTION_LIMIT) -> list[list[str]]:
    """Group lines so that each group, joined by newlines, fits one section.

    Callers count what they show by group length: a line may itself contain newlines.
    """
    groups: list[list[str]] = []
    size = 0
    for line in lines:
        line = clip_mrkdwn(line, limit)
        if groups and size + 1 + len(line) <= limit:
            groups[-1].append(line)
            size += 1 + len(line)
        else:
            groups.append([line])
            size = len(line)
    return groups


def render_done(done: Done) -> str:
    """A command's outcome as mrkdwn, every piece of user text escaped."""
    out = []
    for part in done.parts:
        match part:
            case str():
                out.append(escape(part))
            case Strong():
                out.append(f"*{escape(part.text)}*")
            case Code():
                out.append(f"`{escape(part.text)}`")
            case UserMention():
                out.append(f"<@{part.user_id}>")
            case ChannelMention():
                out.append(f"<#{part.channel_id}>")
            case Emoji():
                out.append(f":{part.name}:")
    return "".join(out)


_REFERENCE = re.compile(r"(<@[UW][A-Z0-9]+>|<#[CG][A-Z0-9]+(?:\|[\w.-]*)?>)")


def escape_keeping_references(text: str) -> str:
    """Escape text but keep plain user and channel references (`<@U1>`, `<#C1>`).

    Errors name the person or channel they are about; everything else a user
    typed (`<!channel>`, links) is escaped.
    """
    pieces = _REFERENCE.split(text)
    return "".join(piece if i % 2 else escape(piece) for i, piece in enumerate(pieces))


def render_error(error: UserError) -> str:
    """A user error as an ephemeral line: what was wrong, then the correct form."""
    message = escape_keeping_references(error.message)
    text = f":warning: {message[:1].upper()}{message[1:]}"
    if error.usage:
        text += f"\nUsage: `{escape(error.usage)}`"
    return text


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}
