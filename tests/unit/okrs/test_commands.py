"""bot.okrs.commands: every `/okr` form in SPEC, and the usage shown for every mistake."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.blocks.common import render_error
from bot.core.errors import UserError
from bot.core.grammar import ChannelRef, UserRef
from bot.okrs.commands import (
    HELP_TEXT,
    USAGE,
    CheckIn,
    Help,
    KeyResultAdd,
    KeyResultDelete,
    KeyResultEdit,
    ObjectiveAdd,
    ObjectiveClose,
    ObjectiveDelete,
    ObjectiveEdit,
    ScheduleCommand,
    Skip,
    Status,
    Target,
    parse_local_time,
    parse_okr_command,
    parse_weekday,
    target_from,
)

ANA = UserRef(user_id="U0ANA")
GROWTH = ChannelRef(channel_id="C0GROWTH")
TOP_USAGE = "/okr [status | objective | kr | checkin | schedule | skip | away | back | help]"
OBJECTIVE_ACTIONS = "/okr objective add|edit|close|delete …"
KR_ACTIONS = "/okr kr add|edit|delete …"


def parse_error(text: str) -> UserError:
    with pytest.raises(UserError) as info:
        parse_okr_command(text)
    return info.value


# --- help -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "-h", "--help", "?", "help me"])
def test_help(text: str) -> None:
    assert parse_okr_command(text) == Help()


def test_help_text_lists_every_usage() -> None:
    for key in ("objective add", "objective edit", "kr add", "kr edit", "checkin", "schedule"):
        assert USAGE[key] in HELP_TEXT
    for fragment in ("/okr status", "/okr status O-3", "/okr kr delete KR-4"):
        assert fragment in HELP_TEXT


# --- status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status", Status("default")),
        ("STATUS", Status("default")),
        ("status all", Status("all")),
        ("status ALL", Status("all")),
        ("status #growth", Status("channel", channel=ChannelRef(name="growth"))),
        ("status <#C0GROWTH|growth>", Status("channel", channel=GROWTH)),
        ("status <#C0GROWTH>", Status("channel", channel=GROWTH)),
        ("status @ana", Status("user", user=UserRef(name="ana"))),
        ("status <@U0ANA|ana>", Status("user", user=ANA)),
        ("status O-3", Status("objective", objective_number=3)),
        ("status o-12", Status("objective", objective_number=12)),
    ],
)
def test_status(text: str, expected: Status) -> None:
    assert parse_okr_command(text) == expected


# --- objectives -------------------------------------------------------------------


def test_objective_add_minimal() -> None:
    assert parse_okr_command('objective add "Grow weekly active teams"') == ObjectiveAdd(
        "Grow weekly active teams"
    )


def test_objective_add_all_options_with_escaped_mentions() -> None:
    text = (
        "objective add \u201cGrow weekly active teams\u201d owner <@U0ANA|ana> "
        "cycle 2026-q4 channel <#C0GROWTH|growth> parent O-1"
    )
    assert parse_okr_command(text) == ObjectiveAdd(
        title="Grow weekly active teams",
        owner=ANA,
        cycle="2026-Q4",
        channel=GROWTH,
        parent_number=1,
    )


def test_objective_add_options_in_any_order_with_plain_mentions() -> None:
    text = 'obj add "X" parent o-2 channel #growth cycle 2026-h1 owner @Ana'
    assert parse_okr_command(text) == ObjectiveAdd(
        title="X",
        owner=UserRef(name="ana"),
        cycle="2026-H1",
        channel=ChannelRef(name="growth"),
        parent_number=2,
    )


@pytest.mark.parametrize("head", ["objective", "objectives", "obj", "Objective"])
def test_objective_aliases(head: str) -> None:
    assert parse_okr_command(f'{head} add "T" cycle 2026') == ObjectiveAdd("T", cycle="2026")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('objective edit O-1 "New title"', ObjectiveEdit(1, title="New title")),
        ("objective edit O-1 owner @ana", ObjectiveEdit(1, owner=UserRef(name="ana"))),
        ("objective edit O-1 owner <@U0ANA|ana>", ObjectiveEdit(1, owner=ANA)),
        ("objective edit O-1 cycle 2027-Q1", ObjectiveEdit(1, cycle="2027-Q1")),
        ("objective edit O-1 channel <#C0GROWTH|growth>", ObjectiveEdit(1, channel=GROWTH)),
        ("objective edit O-1 parent O-2", ObjectiveEdit(1, parent_number=2)),
        (
            "objective edit o-7 \u201cBoth\u201d cycle 2026 parent O-3",
            ObjectiveEdit(7, title="Both", cycle="2026", parent_number=3),
        ),
    ],
)
def test_objective_edit_names_only_what_changes(text: str, expected: ObjectiveEdit) -> None:
    assert parse_okr_command(text) == expected


def test_objective_close_and_delete() -> None:
    assert parse_okr_command("objective close O-1") == ObjectiveClose(1)
    assert parse_okr_command("objective delete o-5") == ObjectiveDelete(5)
    assert parse_okr_command("OBJ CLOSE O-2") == ObjectiveClose(2)


# --- key results ------------------------------------------------------------------


def test_kr_add_increase_with_unit_and_owner() -> None:
    text = 'kr add O-1 "Weekly active teams" from 120 to 200 unit teams owner <@U0ANA|ana>'
    assert parse_okr_command(text) == KeyResultAdd(
        objective_number=1,
        title="Weekly active teams",
        target=Target("increase", start=120.0, target=200.0),
        unit="teams",
        owner=ANA,
    )


def test_kr_add_decrease_is_inferred() -> None:
    command = parse_okr_command('kr add O-2 "p95 latency" from 2,500 to 1,500 unit ms')
    assert isinstance(command, KeyResultAdd)
    assert command.target == Target("decrease", start=2500.0, target=1500.0)
    assert command.unit == "ms"


def test_kr_add_to_before_from_and_percent_values() -> None:
    command = parse_okr_command('kr add O-1 "Conversion" to 5% from 2% unit %')
    assert isinstance(command, KeyResultAdd)
    assert command.target == Target("increase", start=2.0, target=5.0)
    assert command.unit == "%"


def test_kr_add_currency_multipliers_and_decimal_commas() -> None:
    command = parse_okr_command('kr add O-1 "Revenue" from $0 to $50,000 unit USD')
    assert isinstance(command, KeyResultAdd)
    assert command.target == Target("increase", start=0.0, target=50_000.0)
    command = parse_okr_command('kr add O-1 "ARR" from 800k to 1.2M')
    assert isinstance(command, KeyResultAdd)
    assert command.target == Target("increase", start=800_000.0, target=1_200_000.0)
    command = parse_okr_command('kr add O-1 "Latency" from 2,4 to 1,8 unit s')
    assert isinstance(command, KeyResultAdd)
    assert command.target == Target("decrease", start=2.4, target=1.8)


def test_kr_add_range() -> None:
    command = parse_okr_command('kr add O-1 "p95 page load under 1.5 s" range 0..1.5 unit s')
    assert command == KeyResultAdd(
        1, "p95 page load under 1.5 s", Target("range", low=0.0, high=1.5), "s"
    )


def test_kr_add_boolean() -> None:
    command = parse_okr_command("kr add O-3 \u201cLaunch the API\u201d boolean owner @bo")
    assert command == KeyResultAdd(
        3, "Launch the API", Target("boolean", start=0.0, target=1.0), owner=UserRef(name="bo")
    )


@pytest.mark.parametrize("head", ["kr", "KR", "keyresult", "key-result"])
def test_kr_aliases(head: str) -> None:
    command = parse_okr_command(f'{head} add O-1 "T" boolean')
    assert isinstance(command, KeyResultAdd)
    assert command.target.kind == "boolean"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('kr edit KR-4 "New title"', KeyResultEdit(4, title="New title")),
        ("kr edit KR-4 from 10", KeyResultEdit(4, start=10.0)),
        ("kr edit KR-4 to 1,000", KeyResultEdit(4, target=1000.0)),
        ("kr edit KR-4 from 1 to 2", KeyResultEdit(4, start=1.0, target=2.0)),
        ("kr edit KR-4 range 2..5", KeyResultEdit(4, range=(2.0, 5.0))),
        ("kr edit KR-4 unit teams", KeyResultEdit(4, unit="teams")),
        ("kr edit kr-4 owner @ana", KeyResultEdit(4, owner=UserRef(name="ana"))),
        (
            "kr edit KR-9 \u201cT\u201d unit % owner <@U0ANA|ana>",
            KeyResultEdit(9, title="T", unit="%", owner=ANA),
        ),
    ],
)
def test_kr_edit_names_only_what_changes(text: str, expected: KeyResultEdit) -> None:
    assert parse_okr_command(text) == expected


def test_kr_delete() -> None:
    assert parse_okr_command("kr delete KR-4") == KeyResultDelete(4)


# --- check-in and schedule --------------------------------------------------------


def test_skip() -> None:
    assert parse_okr_command("skip") == Skip()
    assert parse_okr_command("SKIP") == Skip()


def test_checkin() -> None:
    assert parse_okr_command("checkin") == CheckIn()
    assert parse_okr_command("checkin KR-4") == CheckIn(4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schedule", ScheduleCommand()),
        ("schedule monday 09:00", ScheduleCommand(0, "09:00")),
        ("schedule Mon 9:00", ScheduleCommand(0, "09:00")),
        ("schedule tue 14:30", ScheduleCommand(1, "14:30")),
        ("schedule THURSDAY 00:00", ScheduleCommand(3, "00:00")),
        ("schedule sunday 23:59", ScheduleCommand(6, "23:59")),
        ("schedule monday 9am", ScheduleCommand(0, "09:00")),
        ("schedule monday 9:30am", ScheduleCommand(0, "09:30")),
        ("schedule fri 9 pm", ScheduleCommand(4, "21:00")),
        ("schedule monday 21:00", ScheduleCommand(0, "21:00")),
        ("schedule #growth", ScheduleCommand(channel=ChannelRef(name="growth"))),
        ("schedule mon 9:00 <#C0GROWTH|growth>", ScheduleCommand(0, "09:00", GROWTH)),
    ],
)
def test_schedule(text: str, expected: ScheduleCommand) -> None:
    assert parse_okr_command(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("mon", 0), ("monday", 0), ("Wed", 2), ("fri", 4), ("sat", 5), ("su", None), ("mo", None)],
)
def test_parse_weekday(text: str, expected: int | None) -> None:
    assert parse_weekday(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", "09:00"),
        ("9:05", "09:05"),
        ("23:59", "23:59"),
        ("24:00", None),
        ("12:60", None),
        ("9:5", None),
        ("0900", None),
        ("9", None),
        ("9:00:00", None),
        ("-1:00", None),
        ("ab:cd", None),
        ("\u00b2:00", None),  # a superscript two is a digit to str.isdigit, not to int()
        ("1\u00b9:00", None),
        ("9am", "09:00"),
        ("9:30am", "09:30"),
        ("9:30 AM", "09:30"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("1pm", "13:00"),
        ("9p.m.", "21:00"),
        ("13pm", None),
        ("0am", None),
        ("9:60am", None),
        ("am", None),
    ],
)
def test_parse_local_time(text: str, expected: str | None) -> None:
    assert parse_local_time(text) == expected


@given(st.integers(0, 23), st.integers(0, 59))
def test_parse_local_time_accepts_every_clock_time(hour: int, minute: int) -> None:
    assert parse_local_time(f"{hour}:{minute:02d}") == f"{hour:02d}:{minute:02d}"


# --- target_from ------------------------------------------------------------------


@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
)
def test_increase_or_decrease_is_inferred_from_the_numbers(start: float, target: float) -> None:
    if start == target:
        with pytest.raises(UserError, match="must differ"):
            target_from(start, target, None, False, "u")
        return
    result = target_from(start, target, None, False, "u")
    assert result.kind == ("increase" if target > start else "decrease")
    assert (result.start, result.target) == (start, target)
    command = parse_okr_command(f'kr add O-1 "T" from {start!r} to {target!r}')
    assert isinstance(command, KeyResultAdd)
    assert command.target == result


def test_target_from_errors_carry_usage() -> None:
    for args in [
        (None, None, None, False),
        (1.0, 2.0, (1.0, 2.0), False),
        (1.0, 2.0, None, True),
        (None, None, (1.0, 2.0), True),
        (1.0, None, None, False),
        (None, 2.0, None, False),
    ]:
        with pytest.raises(UserError) as info:
            target_from(*args, "the usage")  # type: ignore[arg-type]
        assert info.value.usage == "the usage"


# --- malformed input: a UserError whose rendering shows the right usage -------------

MALFORMED = [
    # (text, usage, fragment of the message)
    ("frobnicate", TOP_USAGE, "unknown command `frobnicate`"),
    ("status all mine", USAGE["status"], "at most one scope"),
    ("status everything", USAGE["status"], "unknown scope `everything`"),
    ("status O-x", USAGE["status"], "unknown scope"),
    ("objective", OBJECTIVE_ACTIONS, "which objective action"),
    ("objective rename O-1", OBJECTIVE_ACTIONS, "unknown objective action `rename`"),
    ("objective add", USAGE["objective add"], "missing title"),
    ("objective add Grow teams", USAGE["objective add"], "missing title"),
    ('objective add ""', USAGE["objective add"], "the title is empty"),
    ('objective add "   "', USAGE["objective add"], "the title is empty"),
    ('objective add "' + "x" * 201 + '"', USAGE["objective add"], "too long"),
    ('objective add "unterminated', USAGE["objective add"], "quote"),
    ("objective add \u201cunterminated", USAGE["objective add"], "quote"),
    ('obj add "unterminated', USAGE["objective add"], "quote"),
    ('objective add "X" cycle 2026-Q5', USAGE["objective add"], "unknown cycle `2026-Q5`"),
    ('objective add "X" cycle next', USAGE["objective add"], "unknown cycle"),
    ('objective add "X" cycle', USAGE["objective add"], "`cycle` needs a value"),
    ('objective add "X" owner ana', USAGE["objective add"], "`ana` is not a user"),
    ('objective add "X" owner #growth', USAGE["objective add"], "is not a user"),
    ('objective add "X" channel growth', USAGE["objective add"], "`growth` is not a channel"),
    ('objective add "X" channel @ana', USAGE["objective add"], "is not a channel"),
    ('objective add "X" parent 1', USAGE["objective add"], "`1` is not an objective id"),
    ('objective add "X" parent KR-1', USAGE["objective add"], "is not an objective id"),
    ('objective add "X" owner @a owner @b', USAGE["objective add"], "`owner` is given twice"),
    ('objective add "X" "Y"', USAGE["objective add"], "unexpected quoted text"),
    ('objective add "X" colour red', USAGE["objective add"], "unexpected `colour`"),
    ('objective add "X" from 1 to 2', USAGE["objective add"], "unexpected `from`"),
    ("objective edit", USAGE["objective edit"], "missing an objective id"),
    ('objective edit "T"', USAGE["objective edit"], "`T` is not an objective id"),
    ("objective edit KR-1 owner @a", USAGE["objective edit"], "is not an objective id"),
    ("objective edit O-1", USAGE["objective edit"], "nothing to change"),
    ('objective edit O-1 ""', USAGE["objective edit"], "the title is empty"),
    ("objective edit O-1 cycle 2026-H3", USAGE["objective edit"], "unknown cycle"),
    ("objective edit O-1 parent", USAGE["objective edit"], "`parent` needs a value"),
    ('objective edit O-1 owner @a "T"', USAGE["objective edit"], "unexpected quoted text"),
    ("objective close", USAGE["objective close"], "exactly one objective id"),
    ("objective close O-1 O-2", USAGE["objective close"], "exactly one objective id"),
    ("objective close KR-1", USAGE["objective close"], "is not an objective id"),
    ("objective delete", USAGE["objective delete"], "exactly one objective id"),
    ("objective delete one", USAGE["objective delete"], "`one` is not an objective id"),
    ("kr", KR_ACTIONS, "which key result action"),
    ("kr move KR-1", KR_ACTIONS, "unknown key result action `move`"),
    ("kr add", USAGE["kr add"], "missing an objective id"),
    ('kr add "T" from 1 to 2', USAGE["kr add"], "`T` is not an objective id"),
    ("kr add O-1", USAGE["kr add"], "missing title"),
    ("kr add O-1 from 1 to 2", USAGE["kr add"], "missing title"),
    ('kr add O-1 "unterminated from 1 to 2', USAGE["kr add"], "quote"),
    ('key-result add O-1 "unterminated', USAGE["kr add"], "quote"),
    ('kr add O-1 "T"', USAGE["kr add"], "say how it is measured"),
    ('kr add O-1 "T" unit teams', USAGE["kr add"], "say how it is measured"),
    ('kr add O-1 "T" from 1', USAGE["kr add"], "`from` and `to` go together"),
    ('kr add O-1 "T" to 5', USAGE["kr add"], "`from` and `to` go together"),
    ('kr add O-1 "T" from 5 to 5', USAGE["kr add"], "they must differ"),
    ('kr add O-1 "T" from nan to 5', USAGE["kr add"], "finite"),
    ('kr add O-1 "T" from 1 to inf', USAGE["kr add"], "finite"),
    ('kr add O-1 "T" from 1 to Infinity', USAGE["kr add"], "finite"),
    ('kr add O-1 "T" from -inf to 1', USAGE["kr add"], "finite"),
    ('kr add O-1 "T" from one to 5', USAGE["kr add"], "`from` must be a number"),
    ('kr add O-1 "T" from 1,2,3 to 4,5', USAGE["kr add"], "must be a number"),
    ('kr add O-1 "T" range 5..2', USAGE["kr add"], "above its high end"),
    ('kr add O-1 "T" range 2-5', USAGE["kr add"], "`low..high`"),
    ('kr add O-1 "T" range nan..5', USAGE["kr add"], "finite"),
    ('kr add O-1 "T" range 1..2 boolean', USAGE["kr add"], "only one of"),
    ('kr add O-1 "T" from 1 to 2 range 1..2', USAGE["kr add"], "only one of"),
    ('kr add O-1 "T" from 1 to 2 boolean', USAGE["kr add"], "only one of"),
    ('kr add O-1 "T" boolean unit ' + "u" * 33, USAGE["kr add"], "unit is too long"),
    ('kr add O-1 "T" boolean owner ana', USAGE["kr add"], "is not a user"),
    ('kr add O-1 "T" boolean to', USAGE["kr add"], "`to` needs a value"),
    ('kr add O-1 "T" from 1 from 2 to 3', USAGE["kr add"], "`from` is given twice"),
    ('kr add O-1 "T" boolean cycle 2026', USAGE["kr add"], "unexpected `cycle`"),
    ("kr edit", USAGE["kr edit"], "missing a key result id"),
    ("kr edit O-1 unit x", USAGE["kr edit"], "`O-1` is not a key result id"),
    ("kr edit KR-4", USAGE["kr edit"], "nothing to change"),
    ("kr edit KR-4 range 1..2 from 0", USAGE["kr edit"], "not both"),
    ("kr edit KR-4 range 1..2 to 3", USAGE["kr edit"], "not both"),
    ("kr edit KR-4 from nan", USAGE["kr edit"], "finite"),
    ("kr edit KR-4 to inf", USAGE["kr edit"], "finite"),
    ("kr edit KR-4 range 3..1", USAGE["kr edit"], "above its high end"),
    ("kr edit KR-4 boolean", USAGE["kr edit"], "unexpected `boolean`"),
    ("kr edit KR-4 owner nobody", USAGE["kr edit"], "is not a user"),
    ("kr edit KR-4 unit " + "u" * 33, USAGE["kr edit"], "unit is too long"),
    ("kr delete", USAGE["kr delete"], "exactly one key result id"),
    ("kr delete KR-1 KR-2", USAGE["kr delete"], "exactly one key result id"),
    ("kr delete O-1", USAGE["kr delete"], "`O-1` is not a key result id"),
    ("checkin O-1", USAGE["checkin"], "is not a key result id"),
    ("checkin KR-1 KR-2", USAGE["checkin"], "at most one key result id"),
    ("schedule monday", USAGE["schedule"], "give a weekday and a time"),
    ("schedule monday 09:00 utc", USAGE["schedule"], "give a weekday and a time"),
    ("schedule funday 09:00", USAGE["schedule"], "`funday` is not a weekday"),
    ("schedule 09:00 monday", USAGE["schedule"], "is not a weekday"),
    ("schedule monday 25:00", USAGE["schedule"], "`25:00` is not a time"),
    ("schedule monday \u00b2:00", USAGE["schedule"], "is not a time"),
    ("schedule monday #growth", USAGE["schedule"], "give a weekday and a time"),
    ("skip this week", USAGE["skip"], "skip takes no arguments"),
    ("away", USAGE["away"], "give the last day you are away"),
    ("away until", USAGE["away"], "give the last day you are away"),
    ("away until 24/12/2026", USAGE["away"], "is not a date like `2026-12-24`"),
    ("away 2026-02-30", USAGE["away"], "is not a date"),
    ("away 2026-12-24 2026-12-25", USAGE["away"], "give the last day you are away"),
    ("back soon", USAGE["back"], "back takes no arguments"),
    ("schedule escalate", USAGE["escalate"], "give a number of missed periods"),
    ("schedule escalate 0.5", USAGE["escalate"], "from 1 to 12"),
    ("schedule escalate 13", USAGE["escalate"], "from 1 to 12"),
    ("status O-99999999999", USAGE["status"], "unknown scope"),
]


@pytest.mark.parametrize(("text", "usage", "fragment"), MALFORMED)
def test_malformed_input_says_what_and_shows_usage(text: str, usage: str, fragment: str) -> None:
    error = parse_error(text)
    assert fragment in error.message, error.message
    assert error.usage == usage
    rendered = render_error(error)
    assert rendered.startswith(":warning: ")
    assert f"\nUsage: `{usage}`" in rendered
    assert rendered.splitlines()[-1] == f"Usage: `{usage}`"


def test_render_capitalizes_the_message() -> None:
    assert render_error(parse_error("frobnicate")).startswith(":warning: Unknown command")


# --- properties -------------------------------------------------------------------

_title_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='"“”„'),
    min_size=1,
    max_size=200,
).filter(lambda t: t.strip() == t and t != "")


@given(_title_text, st.sampled_from([('"', '"'), ("\u201c", "\u201d")]))
def test_objective_add_keeps_any_title(title: str, quotes: tuple[str, str]) -> None:
    command = parse_okr_command(f"objective add {quotes[0]}{title}{quotes[1]}")
    assert command == ObjectiveAdd(title)


@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
def test_kr_add_range_property(a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    command = parse_okr_command(f'kr add O-1 "T" range {low!r}..{high!r}')
    assert isinstance(command, KeyResultAdd)
    assert command.target == Target("range", low=low, high=high)


_command_words = st.sampled_from(
    [
        "status",
        "objective",
        "obj",
        "kr",
        "add",
        "edit",
        "close",
        "delete",
        "checkin",
        "schedule",
        "O-1",
        "KR-4",
        '"Title"',
        "\u201cTitle\u201d",
        '"',
        "from",
        "to",
        "range",
        "2..5",
        "boolean",
        "unit",
        "owner",
        "@ana",
        "<@U1|ana>",
        "channel",
        "#growth",
        "<#C1|growth>",
        "cycle",
        "2026-Q4",
        "parent",
        "monday",
        "09:00",
        "nan",
        "inf",
        "12",
        "-3.5",
        "all",
    ]
)


@given(st.lists(_command_words, max_size=10))
def test_any_word_salad_parses_or_fails_with_usage(words: list[str]) -> None:
    try:
        command = parse_okr_command(" ".join(words))
    except UserError as error:
        assert error.usage, error.message
        assert "Usage: `/okr" in render_error(error)
        return
    assert command is not None


@given(st.text(max_size=80))
def test_arbitrary_text_parses_or_fails_with_usage(text: str) -> None:
    try:
        parse_okr_command(text)
    except UserError as error:
        assert error.usage
        assert "\nUsage: `" in render_error(error)
