"""Standing protection (issue 11): every parser that takes user text answers with a value
or a clear error — never another exception — and within a CPU budget linear in the
input's length, for random text and for the pathological families that make
backtracking patterns explode (long runs of spaces, quotes, digits, nesting).

The budget is CPU time of this process (`time.process_time`, with the garbage collector
paused), so other work on the machine does not count, and it is generous (a quarter
second plus 50 µs a character): linear parsers use a small fraction of it, exponential
ones blow far past it. The DM grammar (`bot.checkins.dm`) has its own tests.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.api.routes import ApiError, parse_measurements
from bot.core import grammar, numbers, secrets, times
from bot.core.errors import UserError
from bot.kpis.commands import parse_kpi_command
from bot.kpis.detection.history import parse_history_csv
from bot.okrs.commands import parse_local_time, parse_okr_command, parse_weekday
from bot.runtime.slack_gate import Refusal, parse_slack_body
from bot.transfer.yaml_io import load_document, validate

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATHOLOGICAL_LENGTH = 20_000
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def cpu_budget(size: int, what: str) -> Iterator[None]:
    """The block must use less CPU than the linear budget for `size` characters. The
    garbage collector is paused meanwhile: a full collection of the test process's heap
    says nothing about the parser."""
    gc.disable()
    started = time.process_time()
    try:
        yield
    finally:
        spent = time.process_time() - started
        gc.enable()
    budget = 0.25 + 50e-6 * size
    assert spent < budget, f"{spent:.3f}s CPU for {size} characters: {what}…"


def within_budget(parse: Callable[[str], Any], text: str, errors: tuple[type, ...]) -> None:
    """`parse(text)` returns or raises one of `errors`, inside the linear CPU budget."""
    with cpu_budget(len(text), repr(text[:80])):
        try:
            parse(text)
        except errors as exc:
            assert str(exc), f"an error without a message for {text[:80]!r}"


# Text that looks like what each grammar expects, mixed with noise ------------------------

NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000"])
SHARED = [
    '"',
    "\u201c",
    "\u201d",
    '"quoted title"',
    "\u201ccurly\u201d",
    "<@U123|ana>",
    "<@W9>",
    "@ana",
    "<#C1|growth>",
    "#growth",
    "<!channel>",
    "<https://evil.example|x>",
    "nan",
    "inf",
    "-0",
    "1e400",
    "9" * 400,
    "1,200",
    "3,5",
    "1_000",
    "\u0661\u0662",  # Arabic-Indic digits
    "\u00b2",
    "2..5",
    "..",
    "5..2",
]
OKR_WORDS = [
    "objective",
    "obj",
    "add",
    "edit",
    "close",
    "delete",
    "kr",
    "O-1",
    "O-999999999",
    "O-9999999999",
    "KR-4",
    "from",
    "to",
    "range",
    "boolean",
    "unit",
    "owner",
    "cycle",
    "2026-Q4",
    "9999-H1",
    "parent",
    "follows",
    "status",
    "all",
    "schedule",
    "monday",
    "fri",
    "09:00",
    "24:00",
    "9" * 50 + ":00",
    "checkin",
    "skip",
    "help",
]
KPI_WORDS = [
    "add",
    "edit",
    "delete",
    "list",
    "show",
    "record",
    "signup_rate",
    "Bad-Key",
    "min",
    "max",
    "none",
    "channel",
    "owner",
    "every",
    "1h",
    "200000000w",
    "9" * 40 + "m",
    "after",
    "history",
    "9" * 5000,
    "at",
    "2026-11-25T10:00Z",
    "9999-12-31T23:30-01:00",
    "0001-01-01T00:30+01:00",
    "unit",
    "%",
]


def sentences(words: list[str]) -> st.SearchStrategy[str]:
    word = st.sampled_from(words + SHARED) | NOISE
    return st.lists(st.tuples(word, SPACES), max_size=25).map(
        lambda pairs: "".join(w + s for w, s in pairs)
    )


def pathological() -> list[str]:
    n = PATHOLOGICAL_LENGTH
    return [
        " " * n,
        "\u00a0" * n,
        "KR-1" + " " * n + "x",
        '"' * n,
        '"' + " " * n,
        "\u201c" * n,
        "9" * n,
        "1," * (n // 2),
        "." * n,
        "<" * n,
        "<@" * (n // 2),
        "@" * n,
        "#" * n,
        "a" * n + "://",
        "x://u:" * (n // 6),
        "bearer " * (n // 7),
        "add " * (n // 4),
        'add k "n" min 1 ' * (n // 16),
        "O-" + "1" * n,
        "record k 1 at " + "9" * n,
        "-" * n,
        "e" * n,
    ]


OKR_ERRORS = (UserError,)
TIME_ERRORS = (ValueError,)


# Slash grammars ---------------------------------------------------------------------------


@SETTINGS
@given(sentences(OKR_WORDS))
def test_okr_grammar_answers_a_command_or_a_clear_error(text: str) -> None:
    within_budget(parse_okr_command, text, OKR_ERRORS)


@SETTINGS
@given(sentences(KPI_WORDS))
def test_kpi_grammar_answers_a_command_or_a_clear_error(text: str) -> None:
    within_budget(parse_kpi_command, text, OKR_ERRORS)


@pytest.mark.parametrize("text", pathological(), ids=lambda t: repr(t[:12]))
def test_slash_grammars_are_linear_on_pathological_text(text: str) -> None:
    for prefix in ("", "objective add ", "kr add O-1 ", "schedule ", "status "):
        within_budget(parse_okr_command, prefix + text, OKR_ERRORS)
    for prefix in ("", "add k ", "record k ", "edit k every "):
        within_budget(parse_kpi_command, prefix + text, OKR_ERRORS)


# Shared tokens: numbers, durations, times, ids ---------------------------------------------


@SETTINGS
@given(sentences([]) | NOISE)
def test_numbers_ranges_and_ids(text: str) -> None:
    within_budget(lambda t: numbers.parse_number(t, "the value"), text, OKR_ERRORS)
    within_budget(grammar.parse_range, text, OKR_ERRORS)
    within_budget(grammar.parse_cycle, text, OKR_ERRORS)
    within_budget(grammar.tokenize, text, OKR_ERRORS)
    for parse in (
        grammar.parse_user,
        grammar.parse_channel,
        grammar.parse_objective_id,
        grammar.parse_key_result_id,
        parse_local_time,
        parse_weekday,
    ):
        within_budget(parse, text, ())


@SETTINGS
@given(st.from_regex(r"\A[0-9]{1,30}\s*(m|min|h|d|w|s|y)?\Z") | sentences(KPI_WORDS) | NOISE)
def test_durations_are_bounded_to_a_year(text: str) -> None:
    def parse(value: str) -> None:
        seconds = times.parse_duration(value)
        assert 0 < seconds <= times.MAX_DURATION

    within_budget(parse, text, TIME_ERRORS)


@SETTINGS
@given(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    | st.from_regex(r"\A[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9:]{1,8}(Z|[+-][0-9:]{1,6})?\Z")
    | NOISE
)
def test_times_parse_to_aware_utc_or_a_clear_error(text: str) -> None:
    def parse(value: str) -> None:
        at = times.parse_instant(value)
        assert at.tzinfo is not None and at.utcoffset() == UTC.utcoffset(None)
        times.implausible(at, NOW)  # comparing never overflows

    within_budget(parse, text, TIME_ERRORS)


@pytest.mark.parametrize("text", pathological(), ids=lambda t: repr(t[:12]))
def test_token_parsers_are_linear_on_pathological_text(text: str) -> None:
    within_budget(lambda t: numbers.parse_number(t, "x"), text, OKR_ERRORS)
    within_budget(grammar.parse_range, text, OKR_ERRORS)
    within_budget(grammar.parse_cycle, text, OKR_ERRORS)
    within_budget(grammar.tokenize, text, OKR_ERRORS)
    within_budget(times.parse_duration, text, TIME_ERRORS)
    within_budget(times.parse_instant, text, TIME_ERRORS)
    within_budget(grammar.parse_user, text, ())
    within_budget(grammar.parse_channel, text, ())
    within_budget(parse_local_time, text, ())
    within_budget(secrets.redact, text, ())


# CSV histories ----------------------------------------------------------------------------

CSV_CELLS = (
    st.sampled_from(
        [
            "2026-11-25T10:00:00Z",
            "2026-11-25 10:00:00",
            "9999-12-31T23:30-01:00",
            "3.4",
            "nan",
            "1e400",
            '"',
            '""',
            "x,y",
            "\ufeff",
            "",
        ]
    )
    | NOISE
)


@SETTINGS
@given(
    st.lists(st.lists(CSV_CELLS, max_size=4).map(",".join), max_size=20).map(
        lambda rows: "\n".join(["timestamp,value", *rows])
    )
    | NOISE
)
def test_history_csv_rows_or_a_line_numbered_error(text: str) -> None:
    within_budget(parse_history_csv, text, (ValueError,))


@pytest.mark.parametrize(
    "text",
    [
        "timestamp,value\n" + "2026-11-25T10:00:00Z,1\n" * 2000,
        "timestamp,value\n" + '"' * PATHOLOGICAL_LENGTH,
        "timestamp,value\n" + "," * PATHOLOGICAL_LENGTH,
        "timestamp,value\n" + "9" * PATHOLOGICAL_LENGTH + ",1",
        "\n" * PATHOLOGICAL_LENGTH,
    ],
    ids=["many-rows", "quotes", "commas", "long-time", "blank-lines"],
)
def test_history_csv_is_linear_on_pathological_files(text: str) -> None:
    within_budget(parse_history_csv, text, (ValueError,))


# YAML imports -----------------------------------------------------------------------------

YAML_SCALARS = (
    st.sampled_from(
        [
            "O-1",
            "U0123ABCD",
            "C0999ZZZZ",
            "2026-Q4",
            "monday",
            "09:00",
            "1e400",
            ".nan",
            "~",
            "200000000w",
            "[0, 1.5]",
            "{}",
            "*a",
            "&a x",
            "!!python/object:os.system ls",
            "'",
        ]
    )
    | NOISE
)
YAML_KEYS = st.sampled_from(
    [
        "schedule",
        "objectives",
        "kpis",
        "key",
        "title",
        "owner",
        "channel",
        "cycle",
        "key_results",
        "from",
        "to",
        "range",
        "unit",
        "min",
        "max",
        "every",
        "weekday",
        "time",
        "after",
        "history",
        "name",
    ]
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(YAML_KEYS, children, max_size=5)
    ),
    max_leaves=25,
)


def _import(text: str) -> None:
    validate(load_document(text))


@SETTINGS
@given(st.dictionaries(YAML_KEYS, YAML_VALUES, max_size=4).map(json.dumps) | NOISE)
def test_yaml_documents_validate_or_name_the_bad_line(text: str) -> None:
    within_budget(_import, text, OKR_ERRORS)


def _laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5_000 + "]" * 5_000,
        "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 400)),
        "- " * 5_000 + "x",
        _laughs(9),  # "billion laughs": aliases that expand exponentially
        "objectives:\n" + "  - title: x\n    owner: U1\n" * 2000,
        "'" + "x" * PATHOLOGICAL_LENGTH,
    ],
    ids=["deep-flow", "deep-block", "deep-list", "alias-bomb", "many", "open-quote"],
)
def test_yaml_is_linear_on_pathological_documents(text: str) -> None:
    within_budget(_import, text, OKR_ERRORS)


# The KPI API's JSON body --------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["2026-11-25T10:00:00Z", "9999-12-31T23:30-01:00", "yesterday"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["value", "at", "measurements", "x"]) | st.text(max_size=5),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@SETTINGS
@given(JSON_VALUES)
def test_api_bodies_are_points_or_a_422_naming_the_field(body: Any) -> None:
    with cpu_budget(len(repr(body)), repr(body)[:80]):
        try:
            points = parse_measurements(body, NOW)
        except ApiError as exc:
            assert exc.status == 422 and exc.message and exc.field is not None
        else:
            assert all(times.implausible(p.at, NOW) is None for p in points)


# Slack request bodies (after the signature holds) -------------------------------------------

SLACK_BODIES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | JSON_VALUES.map(lambda v: b"payload=" + json.dumps(v).encode())
    | st.sampled_from(
        [b"payload=notjson", b"payload=", b"payload=%7B", b"&&&", b"=", b"{", b"\xff\xfe"]
    )
)


@SETTINGS
@given(SLACK_BODIES, st.sampled_from(["application/json", "application/x-www-form-urlencoded"]))
def test_slack_bodies_become_requests_or_a_400(body: bytes, content_type: str) -> None:
    with cpu_budget(len(body), repr(body[:80])):
        parsed = parse_slack_body(body, {"Content-Type": content_type})
    if isinstance(parsed, Refusal):
        assert parsed.status == 400
    else:
        assert isinstance(parsed.body, dict)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * PATHOLOGICAL_LENGTH,
        b"payload=" + b"%5B" * PATHOLOGICAL_LENGTH,
        b"a=b&" * (PATHOLOGICAL_LENGTH // 4),
        b"payload=" + b"x" * PATHOLOGICAL_LENGTH,
    ],
    ids=["deep-json", "deep-payload", "many-fields", "long-payload"],
)
def test_slack_bodies_are_linear_on_pathological_input(body: bytes) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        with cpu_budget(len(body), repr(body[:40])):
            parsed = parse_slack_body(body, {"Content-Type": content_type})
        assert isinstance(parsed, Refusal) or isinstance(parsed.body, dict)
