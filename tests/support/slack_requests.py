"""Signed Slack requests for tests: the product's builders (bot/sandbox/payloads.py)."""

from __future__ import annotations

from bot.sandbox.payloads import (
    FORM,
    JSON,
    BotResponse,
    SlackPayload,
    SlackRequestSender,
    block_actions,
    event_callback,
    shortcut,
    sign,
    slash_command,
    url_verification,
    view_submission,
)

__all__ = [
    "FORM",
    "JSON",
    "BotResponse",
    "SlackPayload",
    "SlackRequestSender",
    "block_actions",
    "event_callback",
    "shortcut",
    "sign",
    "slash_command",
    "url_verification",
    "view_submission",
]
