"""The DM grammar on its own: examples from real replies, and properties (hypothesis)
that whatever the bot prints, typed back, reads as what it says."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.checkins.dm import Candidate, Entry, parse_dm_reply, parse_value, small_talk
from bot.core.numbers import format_number, format_value
from bot.core.progress import STATUSES

MINE = [
    Candidate(1, "Weekly active teams", "number", "teams"),
    Candidate(2, "Launch referral program", "boolean"),
    Candidate(3, "p95 latency", "number", "s"),
    Candidate(4, "Revenue", "number", "USD"),
    Candidate(5, "Weekly demos", "number"),
]


def one(text: str, owned: list[Candidate] = MINE) -> Entry:
    reply = parse_dm_reply(text, owned)
    assert reply.problems == [], (text, reply.problems)
    [parsed] = reply.entries
    return parsed.entry


def problem(text: str, owned: list[Candidate] = MINE) -> str:
    reply = parse_dm_reply(text, owned)
    assert reply.entries == [], (text, reply.entries)
    [found] = reply.problems
    return found.reason


def value_of(entry: Entry) -> float:
    assert entry.raw_value is not None and entry.key_result_number is not None
    return parse_value(entry.raw_value, MINE[entry.key_result_number - 1])


@pytest.mark.parametrize(
    ("text", "number", "value"),
    [
        ("KR-5 = 1", 5, 1.0),
        ("KR-5: 1", 5, 1.0),
        ("KR-5=1", 5, 1.0),
        ("kr5 1", 5, 1.0),
        ("KR 5 1", 5, 1.0),
        ("kr-5 1", 5, 1.0),
        ("#KR-5 1", 5, 1.0),
        ("KR-5 - 1", 5, 1.0),
        ("KR-5 -1", 5, -1.0),
        ("KR-3 1.6 s", 3, 1.6),
        ("KR-3 1.6s", 3, 1.6),
        ("KR-1 45%", 1, 45.0),
        ("KR-4 $50,000", 4, 50_000.0),
        ("KR-4 50,000 USD", 4, 50_000.0),
        ("KR-4 1.2M", 4, 1_200_000.0),
        ("KR-4 3k", 4, 3000.0),
        ("KR-3 1,8", 3, 1.8),
        ("KR-2 done", 2, 1.0),
        ("KR-2 yes", 2, 1.0),
        ("KR-2 not done", 2, 0.0),
        ("KR-2 not done yet", 2, 0.0),
        ("KR-2 no", 2, 0.0),
        ("launch done", 2, 1.0),
        ("Weekly act 130", 1, 130.0),
        ("weekly active teams 130 teams", 1, 130.0),
        ("P95 1.7", 3, 1.7),
    ],
)
def test_values_as_people_write_them(text: str, number: int, value: float) -> None:
    entry = one(text)
    assert entry.key_result_number == number
    assert value_of(entry) == value


@pytest.mark.parametrize("text", ["KR-1 1 team", "KR-1 1 Team · at risk", "KR-1 -1 team"])
def test_one_of_a_plural_unit_is_written_singular_and_is_not_a_note(text: str) -> None:
    """`1 team` is how okrbot itself shows one of a `teams` key result."""
    entry = one(text)
    assert abs(value_of(entry)) == 1.0
    assert entry.note is None


@pytest.mark.parametrize(
    ("text", "status", "confidence", "note"),
    [
        ("KR-5 24, going well", None, None, "going well"),
        ("KR-5 24 going well", None, None, "going well"),
        ("KR-5 24 - going well", None, None, "going well"),
        ("KR-5 24 — going well", None, None, "going well"),
        ("KR-2 done, going well", None, None, "going well"),
        ("KR-3 1.6 s off track: db is slow", "off_track", None, "db is slow"),
        ("KR-5 24 at-risk conf 6", "at_risk", 6, None),
        ("KR-5 24 confidence: 6/10 on track", "on_track", 6, None),
        ("KR-5 24 · at risk · confidence 7/10 — “hiring slipped”", "at_risk", 7, "hiring slipped"),
        ("KR-5 off track", "off_track", None, None),
        ("KR-5 24: notes on track", None, None, "notes on track"),
    ],
)
def test_status_confidence_and_note(
    text: str, status: str | None, confidence: int | None, note: str | None
) -> None:
    entry = one(text)
    assert (entry.status, entry.confidence, entry.note) == (status, confidence, note)


@pytest.mark.parametrize("text", ["KR-5 same", "KR-5 no change", "kr5 unchanged, quiet week"])
def test_same_is_an_explicit_no_change(text: str) -> None:
    entry = one(text)
    assert entry.no_change and entry.raw_value is None and entry.key_result_number == 5


def test_same_alone_is_no_change_for_every_pending_key_result() -> None:
    reply = parse_dm_reply("Same, quiet week", MINE, pending=MINE[:2])
    assert [p.entry for p in reply.entries] == [
        Entry(1, note="quiet week", no_change=True),
        Entry(2, note="quiet week", no_change=True),
    ]
    assert [p.entry for p in parse_dm_reply("same", MINE, pending=MINE[4:]).entries] == [
        Entry(5, no_change=True)
    ]
    assert parse_dm_reply("same\nKR-1 4", MINE, pending=MINE[:2]).problems[0].line == 1


def test_a_bare_value_goes_to_the_one_pending_key_result() -> None:
    reply = parse_dm_reply("42", MINE, pending=[MINE[4]])
    assert [p.entry for p in reply.entries] == [Entry(5, "42")]
    assert "which key result" in problem("42")
    two_lines = parse_dm_reply("42\nKR-1 5", MINE, pending=[MINE[4]])
    assert [p.line for p in two_lines.problems] == [1]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Weekly 5", "more than one of yours (KR-1, KR-5)"),
        ("KR-2 5", "KR-2 is done or not"),
        ("KR-2 maybe", "KR-2 is done or not"),
        ("KR-1 done", "KR-1 takes a number"),
        ("KR-1 lots", "KR-1 needs a number"),
        ("KR-1 1,2,3", "must be a number"),
        ("KR-1", "KR-1 needs a number"),
        ("nothing to see", "which key result"),
    ],
)
def test_bad_lines_say_why(text: str, reason: str) -> None:
    assert reason in problem(text)


def test_each_line_on_its_own() -> None:
    reply = parse_dm_reply("KR-1 5\nKR-2 maybe\n\nthanks!\nKR-3 1.2\nKR-9 4", MINE)
    assert [p.line for p in reply.entries] == [1, 5, 6]
    assert [p.line for p in reply.problems] == [2]
    assert reply.entries[2].entry.key_result_number == 9  # whose it is: the service says


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("thanks!", "thanks"),
        ("Thank you", "thanks"),
        ("ok", "thanks"),
        ("👍", "thanks"),
        (":+1:", "thanks"),
        ("thx :pray:", "thanks"),
        ("hi", "greeting"),
        ("Hello!", "greeting"),
        ("hey there", "greeting"),
        ("help", "help"),
        ("?", "help"),
        ("42", None),
        ("no", None),
        ("yes", None),
        ("hi 42", None),
        ("KR-1 ok", None),
    ],
)
def test_small_talk(text: str, kind: str | None) -> None:
    assert small_talk(text) == kind


units = st.sampled_from([None, "teams", "%", "s", "ms", "USD", "€", "NPS points", "k users"])
values = st.floats(min_value=-1e300, max_value=1e300)


@given(values, units)
def test_a_printed_value_typed_back_is_the_value_shown(value: float, unit: str | None) -> None:
    """`format_value` is how prompts, confirmations and status lines show a value."""
    number = Candidate(1, "Weekly active teams", "number", unit)
    shown = format_value(value, unit)
    entry = one(f"KR-1 {shown}", [number])
    assert entry.raw_value is not None
    assert parse_value(entry.raw_value, number) == float(format_number(value).replace(",", ""))
    if value == int(value) and abs(value) < 1e15:
        assert parse_value(entry.raw_value, number) == value


@given(
    values,
    units,
    st.sampled_from([None, *STATUSES]),
    st.none() | st.integers(min_value=0, max_value=10),
    st.none() | st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1),
)
def test_a_printed_confirmation_typed_back_reads_the_same(
    value: float, unit: str | None, status: str | None, confidence: int | None, note: str | None
) -> None:
    """The confirmation line `150 teams · at risk · confidence 7/10 — “note”`."""
    note = note.strip() if note and note.strip() else None
    parts = [format_value(value, unit)]
    if status:
        parts.append(STATUSES[status])
    if confidence is not None:
        parts.append(f"confidence {confidence}/10")
    line = " · ".join(parts) + (f" — “{note}”" if note else "")
    kr = Candidate(1, "Weekly active teams", "number", unit)
    entry = one(f"KR-1 {line}", [kr])
    assert entry.raw_value is not None
    assert parse_value(entry.raw_value, kr) == float(format_number(value).replace(",", ""))
    assert (entry.status, entry.confidence, entry.note) == (status, confidence, note)


@given(st.sampled_from(["done", "not done", "not done yet", "yes", "no", "1", "0"]))
def test_boolean_words_read_back(word: str) -> None:
    kr = MINE[1]
    entry = one(f"KR-2 {word}")
    assert entry.raw_value is not None
    assert parse_value(entry.raw_value, kr) == (1.0 if word in {"done", "yes", "1"} else 0.0)


@given(st.text(max_size=300))
def test_any_text_is_entries_or_reasons_never_a_crash(text: str) -> None:
    reply = parse_dm_reply(text, MINE, pending=[MINE[0]])
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(reply.entries) + len(reply.problems) <= len(lines)
    for found in reply.problems:
        assert found.reason
