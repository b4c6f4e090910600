"""Demo data for the sandbox: three people in three time zones, objectives and key results
of every kind, and a KPI with a daily cycle that is fed as the bot's clock moves."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

TEAM_ID = "T0SANDBOX"
KPI_KEY = "signup_rate"
FEED_STEP = timedelta(minutes=15)
HISTORY = timedelta(days=14)
INCIDENT_LENGTH = timedelta(minutes=45)


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    real_name: str
    tz: str
    is_admin: bool = False


PEOPLE = (
    Person("U0ANA", "ana", "Ana García", "Europe/Madrid", is_admin=True),
    Person("U0BEN", "ben", "Ben Carter", "America/New_York"),
    Person("U0CLEO", "cleo", "Cleo Tanaka", "Asia/Tokyo"),
)
CHANNELS = (("C0GENERAL", "general"), ("C0GROWTH", "growth"), ("C0PLATFORM", "platform"))

# The same YAML `okrbot import` reads: increase, decrease, range and boolean key results,
# a child objective, and a KPI with a learned range that alerts in #growth.
DEMO_YAML = """\
schedule: {weekday: monday, time: "09:00"}
objectives:
  - key: grow-teams
    title: Grow weekly active teams
    owner: U0ANA
    channel: C0GROWTH
    key_results:
      - title: Weekly active teams
        owner: U0ANA
        from: 120
        to: 200
        unit: teams
      - title: Monthly churn
        owner: U0CLEO
        from: 5
        to: 3
        unit: "%"
      - title: Signup conversion stays healthy
        owner: U0ANA
        range: [2.5, 6]
        unit: "%"
        follows: signup_rate
  - key: partner-api
    title: Launch the partner API
    owner: U0BEN
    channel: C0PLATFORM
    parent: grow-teams
    key_results:
      - title: Public API launched
        owner: U0BEN
        boolean: true
      - title: Partner integrations live
        owner: U0BEN
        from: 0
        to: 6
        unit: partners
      - title: p95 page load under 1.5 s
        owner: U0CLEO
        range: [0, 1.5]
        unit: s
kpis:
  - key: signup_rate
    name: Signup conversion
    unit: "%"
    channel: C0GROWTH
"""


def signup_rate(at: datetime, rng: random.Random, *, incident: bool = False) -> float:
    """A realistic daily cycle: low at night, a peak in the European afternoon."""
    hour = at.hour + at.minute / 60
    value = 3.6 + 0.9 * math.sin(2 * math.pi * (hour - 9) / 24) + rng.gauss(0, 0.06)
    if incident:  # a broken signup form: conversion collapses
        value = 0.6 + rng.gauss(0, 0.05)
    return round(max(value, 0.0), 3)


def steps(after: datetime | None, until: datetime, *, start: datetime) -> list[datetime]:
    """Feed instants on the FEED_STEP grid after `after` (or from `start`) up to `until`."""
    first = start if after is None else after + FEED_STEP
    # Snap to the grid so restarts and clock jumps give the same instants.
    epoch = datetime(2000, 1, 1, tzinfo=until.tzinfo)
    first = epoch + math.ceil((first - epoch) / FEED_STEP) * FEED_STEP
    out: list[datetime] = []
    at = first
    while at <= until:
        out.append(at)
        at += FEED_STEP
    return out
