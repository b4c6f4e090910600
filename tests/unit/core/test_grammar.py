"""bot.core.grammar: tokens, mentions, ids, numbers, ranges and cycles (pure, no Slack)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import UserError
from bot.core.grammar import (
    ChannelRef,
    Token,
    UserRef,
    parse_channel,
    parse_cycle,
    parse_key_result_id,
    parse_number,
    parse_objective_id,
    parse_range,
    parse_user,
    tokenize,
)
from bot.core.numbers import format_number

# --- tokenize ---------------------------------------------------------------------------


def texts(tokens: list[Token]) -> list[str]:
    return [t.text for t in tokens]


def test_tokenize_empty_and_blank() -> None:
    assert tokenize("") == []
    assert tokenize("   \t \n ") == []


def test_tokenize_splits_on_any_whitespace() -> None:
    assert texts(tokenize("  status \t all\n")) == ["status", "all"]
    assert all(not t.quoted for t in tokenize("a b c"))


@pytest.mark.parametrize(
    "text",
    [
        'objective add "Grow weekly active teams" cycle 2026-Q4',
        "objective add \u201cGrow weekly active teams\u201d cycle 2026-Q4",  # “…”
        "objective add \u201eGrow weekly active teams\u201d cycle 2026-Q4",  # „…”
        "objective add \u201eGrow weekly active teams\u201c cycle 2026-Q4",  # „…“
        "objective add \u201dGrow weekly active teams\u201d cycle 2026-Q4",  # ”…”
    ],
)
def test_tokenize_straight_and_curly_quotes_group_a_title(text: str) -> None:
    tokens = tokenize(text)
    assert tokens == [
        Token("objective"),
        Token("add"),
        Token("Grow weekly active teams", quoted=True),
        Token("cycle"),
        Token("2026-Q4"),
    ]


def test_tokenize_quoted_title_is_stripped_and_may_be_empty() -> None:
    assert tokenize('"  padded title  "') == [Token("padded title", quoted=True)]
    assert tokenize('""') == [Token("", quoted=True)]
    assert tokenize("\u201c\u201d") == [Token("", quoted=True)]


def test_tokenize_quote_glued_to_a_word_starts_a_new_token() -> None:
    assert tokenize('O-1"Title"unit') == [
        Token("O-1"),
        Token("Title", quoted=True),
        Token("unit"),
    ]


def test_tokenize_keeps_inner_apostrophes_and_symbols() -> None:
    tokens = tokenize("\u201cIt\u2019s <fast> & cheap\u201d")
    assert tokens == [Token("It\u2019s <fast> & cheap", quoted=True)]


def test_tokenize_two_titles() -> None:
    assert tokenize('"a b" "c d"') == [Token("a b", True), Token("c d", True)]


@pytest.mark.parametrize("text", ['add "unterminated', "add \u201cunterminated", 'x "', '"'])
def test_tokenize_unclosed_quote_is_a_user_error(text: str) -> None:
    with pytest.raises(UserError, match="quote"):
        tokenize(text)


def test_tokenize_keeps_escaped_mentions_whole() -> None:
    assert texts(tokenize("owner <@U123ABC|ana> channel <#C123|growth>")) == [
        "owner",
        "<@U123ABC|ana>",
        "channel",
        "<#C123|growth>",
    ]


_word = st.text(
    alphabet=st.characters(
        blacklist_categories=("Zs", "Cc", "Zl", "Zp", "Cs"),
        blacklist_characters='"\u201c\u201d\u201e',
    ),
    min_size=1,
    max_size=12,
).filter(lambda w: not any(c.isspace() for c in w))


@given(st.lists(_word, max_size=8))
def test_tokenize_unquoted_words_round_trip(words: list[str]) -> None:
    assert tokenize(" ".join(words)) == [Token(w) for w in words]


@given(st.lists(_word, min_size=1, max_size=5), st.sampled_from([('"', '"'), ("“", "”")]))
def test_tokenize_quoted_words_become_one_token(words: list[str], quotes: tuple[str, str]) -> None:
    title = " ".join(words)
    tokens = tokenize(f"add {quotes[0]}{title}{quotes[1]} tail")
    assert tokens == [Token("add"), Token(title, quoted=True), Token("tail")]


@given(st.text(max_size=60))
def test_tokenize_never_crashes_and_tokens_have_no_outer_space(text: str) -> None:
    try:
        tokens = tokenize(text)
    except UserError:
        return
    for token in tokens:
        assert token.text == token.text.strip()
        if not token.quoted:
            assert token.text
            assert not any(c.isspace() for c in token.text)


# --- mentions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U123ABC|ana>", UserRef(user_id="U123ABC")),
        ("<@U123ABC>", UserRef(user_id="U123ABC")),
        ("<@W0123ABCD|ana.smith>", UserRef(user_id="W0123ABCD")),
        ("@ana", UserRef(name="ana")),
        ("@Ana.Smith", UserRef(name="ana.smith")),
        ("@ana-b_c", UserRef(name="ana-b_c")),
        ("U0123ABCD", UserRef(user_id="U0123ABCD")),
    ],
)
def test_parse_user(text: str, expected: UserRef) -> None:
    assert parse_user(text) == expected


@pytest.mark.parametrize(
    "text", ["ana", "@", "<@u123|ana>", "<@C123|x>", "<#C123|growth>", "#growth", "@ana smith", ""]
)
def test_parse_user_rejects(text: str) -> None:
    assert parse_user(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<#C123|growth>", ChannelRef(channel_id="C123")),
        ("<#C0123ABCD>", ChannelRef(channel_id="C0123ABCD")),
        ("<#G0123ABCD|private>", ChannelRef(channel_id="G0123ABCD")),
        ("<#C0123ABCD|>", ChannelRef(channel_id="C0123ABCD")),
        ("#growth", ChannelRef(name="growth")),
        ("#Growth-Team_2", ChannelRef(name="growth-team_2")),
        ("C0123ABCD", ChannelRef(channel_id="C0123ABCD")),
    ],
)
def test_parse_channel(text: str, expected: ChannelRef) -> None:
    assert parse_channel(text) == expected


@pytest.mark.parametrize("text", ["growth", "#", "<@U123|ana>", "@ana", "<#c123|x>", "#a.b", ""])
def test_parse_channel_rejects(text: str) -> None:
    assert parse_channel(text) is None


def test_reference_labels() -> None:
    assert UserRef(user_id="U1").label() == "<@U1>"
    assert UserRef(name="ana").label() == "@ana"
    assert ChannelRef(channel_id="C1").label() == "<#C1>"
    assert ChannelRef(name="growth").label() == "#growth"


# --- ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [("O-1", 1), ("o-42", 42), ("O-007", 7)])
def test_parse_objective_id(text: str, number: int) -> None:
    assert parse_objective_id(text) == number


@pytest.mark.parametrize(("text", "number"), [("KR-4", 4), ("kr-10", 10), ("Kr-3", 3)])
def test_parse_key_result_id(text: str, number: int) -> None:
    assert parse_key_result_id(text) == number


@pytest.mark.parametrize("text", ["O-", "O1", "KR-1", "O-1a", "O--1", "O-x", " O-1", ""])
def test_parse_objective_id_rejects(text: str) -> None:
    assert parse_objective_id(text) is None


@pytest.mark.parametrize("text", ["KR-", "KR4", "O-4", "KR-4.5", "K-4", ""])
def test_parse_key_result_id_rejects(text: str) -> None:
    assert parse_key_result_id(text) is None


def test_absurdly_long_ids_are_not_ids_rather_than_crashing() -> None:
    """A number of thousands of digits cannot be an id (and must not raise ValueError)."""
    assert parse_objective_id("O-" + "9" * 5000) is None
    assert parse_key_result_id("KR-" + "9" * 5000) is None
    # ids beyond a 32-bit database integer cannot exist either
    assert parse_objective_id("O-99999999999") is None


@given(st.integers(min_value=0, max_value=999_999_999))
def test_ids_round_trip(number: int) -> None:
    assert parse_objective_id(f"O-{number}") == number
    assert parse_key_result_id(f"KR-{number}") == number


# --- numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42.0),
        ("-3.5", -3.5),
        ("+7", 7.0),
        ("0", 0.0),
        ("1e3", 1000.0),
        ("3.4%", 3.4),
        ("1,200", 1200.0),
        ("1,200,000.5", 1_200_000.5),
        ("1_000", 1000.0),
        (" 12 ", 12.0),
        (".5", 0.5),
    ],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text, "value") == value


@pytest.mark.parametrize(
    "text",
    [
        "nan",
        "NaN",
        "-nan",
        "inf",
        "-inf",
        "+inf",
        "Infinity",
        "-infinity",
        "INF",
        "1e999",
        "-1e999",
    ],
)
def test_parse_number_rejects_non_finite(text: str) -> None:
    with pytest.raises(UserError, match="finite") as info:
        parse_number(text, "`to`")
    assert "`to`" in info.value.message
    assert text in info.value.message


@pytest.mark.parametrize("text", ["", "abc", "%", "1.2.3", "12abc", "1..2", "--1", "0x10"])
def test_parse_number_rejects_non_numbers(text: str) -> None:
    with pytest.raises(UserError, match="must be a number"):
        parse_number(text, "value")


@pytest.mark.parametrize("text", ["1,2,3", "1,23.4", "1,2345,678", ",5", "1,", "1.234,5"])
def test_parse_number_rejects_commas_that_are_not_thousands_separators(text: str) -> None:
    """A comma that could mean two things is refused: silently guessing would be wrong."""
    with pytest.raises(UserError):
        parse_number(text, "value")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3,5", 3.5),  # a decimal comma: never 35
        ("12,34", 12.34),
        ("1,8", 1.8),
        ("1,2345", 1.2345),
        ("50,000", 50_000.0),  # three digits after the comma: thousands
        ("$0", 0.0),
        ("$50,000", 50_000.0),
        ("-$5", -5.0),
        ("$-5", -5.0),
        ("€12.5", 12.5),
        ("12€", 12.0),
        ("1.2M", 1_200_000.0),
        ("3k", 3000.0),
        ("2.5K", 2500.0),
        ("2bn", 2e9),
        ("45%", 45.0),
        ("\u22123", -3.0),
        ("1.23e+15", 1.23e15),
        ("1e-05", 1e-05),
    ],
)
def test_parse_number_reads_how_people_write(text: str, value: float) -> None:
    assert parse_number(text, "value") == value


@given(st.floats(min_value=-1e300, max_value=1e300))
def test_parse_number_reads_what_format_number_prints(value: float) -> None:
    """Any number the bot shows, typed back, is the number it showed (near the float
    limit the three digits shown round past it, so that end is left out)."""
    shown = format_number(value)
    assert parse_number(shown, "value") == float(shown.replace(",", ""))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_number_round_trips_finite_floats(value: float) -> None:
    assert parse_number(repr(value), "value") == value


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_parse_number_accepts_thousands_separators(value: int) -> None:
    assert parse_number(f"{value:,}", "value") == float(value)


@given(st.text(max_size=20))
def test_parse_number_returns_finite_or_raises_user_error(text: str) -> None:
    try:
        value = parse_number(text, "value")
    except UserError:
        return
    assert math.isfinite(value)


# --- ranges -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2..5", (2.0, 5.0)),
        ("-5..-2", (-5.0, -2.0)),
        ("0..1.5", (0.0, 1.5)),
        ("3..3", (3.0, 3.0)),
        ("1,000..2,000", (1000.0, 2000.0)),
        ("2%..5%", (2.0, 5.0)),
    ],
)
def test_parse_range(text: str, expected: tuple[float, float]) -> None:
    assert parse_range(text) == expected


def test_parse_range_low_above_high() -> None:
    with pytest.raises(UserError, match="above its high end"):
        parse_range("5..2")


@pytest.mark.parametrize("text", ["2-5", "2", "", "2.5"])
def test_parse_range_needs_two_dots(text: str) -> None:
    with pytest.raises(UserError, match="low..high"):
        parse_range(text)


@pytest.mark.parametrize("text", ["..5", "2..", "a..b", "nan..5", "1..inf", "-inf..0"])
def test_parse_range_bad_ends(text: str) -> None:
    with pytest.raises(UserError):
        parse_range(text)


@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
)
def test_parse_range_property(a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    assert parse_range(f"{low!r}..{high!r}") == (low, high)
    if low < high:
        with pytest.raises(UserError):
            parse_range(f"{high!r}..{low!r}")


# --- cycles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026", "2026"),
        ("2026-Q4", "2026-Q4"),
        ("2026-q1", "2026-Q1"),
        ("2026-h1", "2026-H1"),
        ("2026-H2", "2026-H2"),
        (" 2027-Q2 ", "2027-Q2"),
    ],
)
def test_parse_cycle(text: str, expected: str) -> None:
    assert parse_cycle(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-Q5",
        "2026-Q0",
        "2026-H3",
        "26",
        "2026Q4",
        "Q4-2026",
        "2026-Q4-x",
        "2026-",
        "",
        "20266",
        "2026-W01",
        "0000",
        "0000-Q1",
        "9999-Q4",
        "\u0662\u0660\u0662\u0666",  # Arabic-Indic digits for 2026
    ],
)
def test_parse_cycle_rejects(text: str) -> None:
    with pytest.raises(UserError, match="unknown cycle") as info:
        parse_cycle(text)
    assert "2026-Q4" in info.value.message  # shows the correct forms


@given(st.integers(min_value=2000, max_value=2999), st.sampled_from(["", "-Q1", "-q4", "-h2"]))
def test_parse_cycle_is_idempotent(year: int, part: str) -> None:
    normalized = parse_cycle(f"{year}{part}")
    assert normalized == f"{year}{part.upper()}"
    assert parse_cycle(normalized) == normalized
