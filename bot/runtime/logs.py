"""Structured logging: one JSON object per line, with team/request/job ids when known.

No secret reaches a line: fields named like one are replaced, and every text (the
message, string fields, tracebacks) goes through `bot.core.secrets.redact`."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from bot.core.secrets import redact

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_SECRET_HINTS = ("token", "secret", "password", "authorization")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(hint in key.lower() for hint in _SECRET_HINTS):
                value = "[redacted]"
            if not isinstance(value, int | float | bool | None):
                value = redact(str(value))
            entry[key] = value
        if record.exc_info:
            # Exceptions quote what they choke on: a header, a URL, a token.
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "apscheduler", "slack_bolt", "slack_sdk"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
