"""bot.core.schedule: weekly slots in a person's own zone, across DST and far-off offsets."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.schedule import (
    DEFAULT_SCHEDULE,
    HALF_WEEK,
    WeeklySlot,
    digest_end_for,
    last_closed_week,
    next_slot,
    owner_week_for,
    previous_slot,
    week_closes_at,
)

MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14
PAGO_PAGO = ZoneInfo("Pacific/Pago_Pago")  # UTC−11
MONDAY_9 = WeeklySlot(0, "09:00")
WEEK = timedelta(weeks=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_slot_basics() -> None:
    assert DEFAULT_SCHEDULE == MONDAY_9
    assert MONDAY_9.describe() == "Monday 09:00"
    assert WeeklySlot(4, "17:30").describe() == "Friday 17:30"
    assert WeeklySlot(6, "00:05").clock == time(0, 5)


def test_utc_slot_exactly_at_now() -> None:
    now = utc(2026, 11, 30, 9)  # a Monday
    assert previous_slot(MONDAY_9, now, ZoneInfo("UTC")) == now
    assert next_slot(MONDAY_9, now, ZoneInfo("UTC")) == now + WEEK
    just_before = now - timedelta(microseconds=1)
    assert previous_slot(MONDAY_9, just_before, ZoneInfo("UTC")) == now - WEEK
    assert next_slot(MONDAY_9, just_before, ZoneInfo("UTC")) == now


def test_results_are_utc_whatever_the_zone_of_now() -> None:
    now_in_madrid = datetime(2026, 11, 30, 10, tzinfo=MADRID)
    previous = previous_slot(MONDAY_9, now_in_madrid, MADRID)
    assert previous == utc(2026, 11, 30, 8)
    assert previous.utcoffset() == timedelta(0)
    assert next_slot(MONDAY_9, now_in_madrid, MADRID).utcoffset() == timedelta(0)


# --- Europe/Madrid: CET (+1) ↔ CEST (+2); 2026 changes on 29 March and 25 October -----


def test_madrid_spring_forward() -> None:
    before, after = utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)  # both Monday 09:00 local
    assert next_slot(MONDAY_9, utc(2026, 3, 25), MADRID) == after
    assert previous_slot(MONDAY_9, utc(2026, 3, 30, 6, 59), MADRID) == before
    assert previous_slot(MONDAY_9, after, MADRID) == after
    assert next_slot(MONDAY_9, before, MADRID) == after
    assert after - before == WEEK - timedelta(hours=1)


def test_madrid_fall_back() -> None:
    before, after = utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)
    # 07:30 UTC on the 26th is 08:30 local: the Monday slot has not come yet.
    assert previous_slot(MONDAY_9, utc(2026, 10, 26, 7, 30), MADRID) == before
    assert next_slot(MONDAY_9, utc(2026, 10, 26, 7, 30), MADRID) == after
    assert next_slot(MONDAY_9, before, MADRID) == after
    assert after - before == WEEK + timedelta(hours=1)


def test_madrid_slot_inside_the_skipped_hour_moves_an_hour_later() -> None:
    slot = WeeklySlot(6, "02:30")  # Sunday 02:30 does not exist on 29 March 2026
    expected = utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert next_slot(slot, utc(2026, 3, 28, 12), MADRID) == expected
    assert previous_slot(slot, expected, MADRID) == expected
    assert previous_slot(slot, utc(2026, 3, 29, 1, 29), MADRID) == utc(2026, 3, 22, 1, 30)
    assert next_slot(slot, expected, MADRID) == utc(2026, 4, 5, 0, 30)  # 02:30 CEST


def test_madrid_slot_inside_the_repeated_hour_happens_once() -> None:
    slot = WeeklySlot(6, "02:30")  # Sunday 02:30 happens twice on 25 October 2026
    first = utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert next_slot(slot, utc(2026, 10, 24, 12), MADRID) == first
    # the second 02:30 (CET, 01:30 UTC) is not another slot
    assert previous_slot(slot, utc(2026, 10, 25, 1, 45), MADRID) == first
    assert next_slot(slot, first, MADRID) == utc(2026, 11, 1, 1, 30)


# --- America/New_York: EST (−5) ↔ EDT (−4); 2026 changes on 8 March and 1 November ----


def test_new_york_spring_forward() -> None:
    before, after = utc(2026, 3, 2, 14), utc(2026, 3, 9, 13)
    assert next_slot(MONDAY_9, utc(2026, 3, 5), NEW_YORK) == after
    assert previous_slot(MONDAY_9, utc(2026, 3, 9, 12, 59), NEW_YORK) == before
    assert previous_slot(MONDAY_9, utc(2026, 3, 9, 13), NEW_YORK) == after


def test_new_york_fall_back() -> None:
    before, after = utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)
    assert next_slot(MONDAY_9, utc(2026, 10, 30), NEW_YORK) == after
    assert previous_slot(MONDAY_9, utc(2026, 11, 2, 13, 30), NEW_YORK) == before
    assert previous_slot(MONDAY_9, after, NEW_YORK) == after


def test_new_york_gap_and_repeated_hour() -> None:
    gap = WeeklySlot(6, "02:30")  # skipped on 8 March 2026
    assert next_slot(gap, utc(2026, 3, 7), NEW_YORK) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    repeated = WeeklySlot(6, "01:30")  # twice on 1 November 2026
    first = utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert next_slot(repeated, utc(2026, 10, 31), NEW_YORK) == first
    assert previous_slot(repeated, utc(2026, 11, 1, 6, 45), NEW_YORK) == first
    assert next_slot(repeated, first, NEW_YORK) == utc(2026, 11, 8, 6, 30)


def test_new_york_evening_slot_is_the_next_utc_day() -> None:
    slot = WeeklySlot(4, "21:00")  # Friday 21:00 EST is Saturday 02:00 UTC
    assert next_slot(slot, utc(2026, 12, 2), NEW_YORK) == utc(2026, 12, 5, 2)


# --- far-off offsets: the local date is not the UTC date ----------------------------------


def test_kiritimati_utc_plus_14() -> None:
    # Monday 30 November 09:00 in Kiritimati is Sunday 29 November 19:00 UTC.
    slot_at = utc(2026, 11, 29, 19)
    assert previous_slot(MONDAY_9, slot_at, KIRITIMATI) == slot_at
    assert next_slot(MONDAY_9, slot_at, KIRITIMATI) == slot_at + WEEK
    assert previous_slot(MONDAY_9, slot_at - timedelta(seconds=1), KIRITIMATI) == slot_at - WEEK
    # Monday 09:00 UTC is already Monday 23:00 there: that day's slot has passed.
    assert previous_slot(MONDAY_9, utc(2026, 11, 30, 9), KIRITIMATI) == slot_at
    assert next_slot(MONDAY_9, utc(2026, 11, 30, 9), KIRITIMATI) == slot_at + WEEK


def test_kiritimati_late_sunday_slot() -> None:
    slot = WeeklySlot(6, "23:30")  # Sunday 23:30 local = Sunday 09:30 UTC
    assert next_slot(slot, utc(2026, 11, 28), KIRITIMATI) == utc(2026, 11, 29, 9, 30)


def test_pago_pago_utc_minus_11() -> None:
    # Monday 30 November 09:00 in Pago Pago is Monday 30 November 20:00 UTC.
    slot_at = utc(2026, 11, 30, 20)
    assert previous_slot(MONDAY_9, slot_at, PAGO_PAGO) == slot_at
    assert next_slot(MONDAY_9, slot_at, PAGO_PAGO) == slot_at + WEEK
    # Monday 10:00 UTC is still Sunday 23:00 there.
    assert previous_slot(MONDAY_9, utc(2026, 11, 30, 10), PAGO_PAGO) == slot_at - WEEK
    assert next_slot(MONDAY_9, utc(2026, 11, 30, 10), PAGO_PAGO) == slot_at
    # Tuesday 05:00 UTC is Monday 18:00 there: today's slot has passed.
    assert previous_slot(MONDAY_9, utc(2026, 12, 1, 5), PAGO_PAGO) == slot_at


def test_pago_pago_friday_evening_is_saturday_utc() -> None:
    slot = WeeklySlot(4, "23:00")  # Friday 23:00 local = Saturday 10:00 UTC
    assert next_slot(slot, utc(2026, 12, 1), PAGO_PAGO) == utc(2026, 12, 5, 10)


def test_the_same_slot_is_a_different_instant_in_each_zone() -> None:
    now = utc(2026, 11, 30, 12)
    instants = {
        zone.key: previous_slot(MONDAY_9, now, zone)
        for zone in (KIRITIMATI, MADRID, NEW_YORK, PAGO_PAGO)
    }
    assert instants == {
        "Pacific/Kiritimati": utc(2026, 11, 29, 19),
        "Europe/Madrid": utc(2026, 11, 30, 8),
        "America/New_York": utc(2026, 11, 23, 14),
        "Pacific/Pago_Pago": utc(2026, 11, 23, 20),
    }


# --- properties -----------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Madrid",
    "America/New_York",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Australia/Lord_Howe",  # half-hour DST
    "Asia/Kathmandu",  # +05:45
]
slots = st.builds(
    WeeklySlot,
    st.integers(0, 6),
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59)),
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


@given(slots, instants, st.sampled_from(ZONES))
def test_previous_and_next_bracket_now(slot: WeeklySlot, now: datetime, key: str) -> None:
    zone = ZoneInfo(key)
    previous, following = previous_slot(slot, now, zone), next_slot(slot, now, zone)
    assert previous <= now < following
    assert WEEK - timedelta(hours=1) <= following - previous <= WEEK + timedelta(hours=1)
    # nothing in between: the next one is a slot, and just before it the previous still holds
    assert previous_slot(slot, following, zone) == following
    assert previous_slot(slot, following - timedelta(microseconds=1), zone) == previous
    assert next_slot(slot, previous, zone) == following


@given(slots, instants, st.sampled_from(ZONES))
def test_slot_falls_on_its_local_weekday_and_clock(
    slot: WeeklySlot, now: datetime, key: str
) -> None:
    zone = ZoneInfo(key)
    local = previous_slot(slot, now, zone).astimezone(zone)
    assert local.weekday() == slot.weekday
    wall = datetime.combine(local.date(), slot.clock)
    # exactly the clock time, or later by the DST jump when that time was skipped
    shift = local.replace(tzinfo=None) - wall
    assert timedelta(0) <= shift <= timedelta(hours=1)
    if shift:
        skipped = datetime.combine(local.date(), slot.clock, tzinfo=zone)
        assert skipped.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall


@pytest.mark.parametrize("key", ZONES)
def test_a_year_of_slots_has_one_per_week(key: str) -> None:
    zone = ZoneInfo(key)
    slot = WeeklySlot(6, "02:30")  # Sunday, inside the DST change in many zones
    at = utc(2026, 1, 1)
    seen = []
    while at < utc(2027, 1, 1):
        at = next_slot(slot, at, zone)
        seen.append(at)
    assert len(seen) == 53  # 2026 has 52 Sundays, plus the one on 3 January 2027
    assert len({s.astimezone(zone).date() for s in seen}) == len(seen)
    assert all(s.astimezone(zone).weekday() == 6 for s in seen)


# Weeks across zones ------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
EDGE_ZONES = [BERLIN, NEW_YORK, TOKYO, KIRITIMATI, PAGO_PAGO, MADRID]


def test_each_owner_has_their_own_week_and_the_last_one_closes_it() -> None:
    slot = WeeklySlot(0, "09:30")
    reference = utc(2026, 11, 2, 8, 30)  # Monday 09:30 in Berlin
    assert owner_week_for(slot, reference, TOKYO) == utc(2026, 11, 2, 0, 30)
    assert owner_week_for(slot, reference, NEW_YORK) == utc(2026, 11, 2, 14, 30)
    names = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"]
    assert week_closes_at(slot, reference, names, BERLIN) == utc(2026, 11, 9, 14, 30)
    assert week_closes_at(slot, reference, ["", "Asia/Tokyo"], BERLIN) == utc(2026, 11, 9, 8, 30)
    # Tokyo's answer at 01:10Z on Monday counts for the week of Nov 2, not Oct 26.
    tokyo_period = previous_slot(slot, utc(2026, 11, 2, 1, 10), TOKYO)
    assert digest_end_for(slot, tokyo_period, BERLIN) == reference + WEEK
    # At 08:35Z on Nov 16 New York is still in its week of Nov 9: the last closed is Nov 2.
    assert last_closed_week(slot, utc(2026, 11, 16, 8, 35), names, BERLIN) == reference
    assert last_closed_week(slot, utc(2026, 11, 16, 14, 30), names, BERLIN) == reference + WEEK


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
    st.sampled_from(EDGE_ZONES),
    st.sampled_from([BERLIN, NEW_YORK, TOKYO, ZoneInfo("UTC")]),
    st.integers(min_value=0, max_value=6),
)
def test_an_owner_period_maps_back_to_its_week(
    moment: datetime, zone: ZoneInfo, server: ZoneInfo, weekday: int
) -> None:
    slot = WeeklySlot(weekday, "09:30")
    reference = previous_slot(slot, moment.replace(tzinfo=UTC), server)
    start = owner_week_for(slot, reference, zone)
    assert abs(start - reference) <= HALF_WEEK
    assert digest_end_for(slot, start, server) == reference + WEEK
