"""Prometheus metrics, one registry per running app (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
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

        self.rate_limited = Counter(
            "okrbot_slack_rate_limited_total",
            "Web API calls Slack answered with 429, by method.",
            ["method"],
            registry=self.registry,
        )
        self.lease_takeovers = Counter(
            "okrbot_outbox_lease_takeovers_total",
            "Outbox rows taken over from a sender whose lease had run out (it stopped).",
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "okrbot_outbox_backlog",
            "Outbox messages due and not yet sent (pending or being sent), by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.outbox_oldest_due = Gauge(
            "okrbot_outbox_oldest_due_seconds",
            "Age of the oldest outbox message that is due and not yet sent (0 when none).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
