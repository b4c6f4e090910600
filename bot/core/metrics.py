"""Prometheus metrics, one registry per running app (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.slack_requests = Counter(
            "okrbot_slack_requests_total",
            "Requests received on /slack/events, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.commands = Counter(
            "okrbot_commands_total",
            "Slash commands handled, by command and outcome (ok, user_error, error).",
            ["command", "outcome"],
            registry=self.registry,
        )
        self.duplicate_events = Counter(
            "okrbot_duplicate_events_total",
            "Event deliveries ignored because their event_id was already processed.",
            registry=self.registry,
        )
        self.ticks = Histogram(
            "okrbot_tick_seconds",
            "Time spent in one scheduler tick.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
