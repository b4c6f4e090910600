"""The Home tab's rendering: limits for any size, Show more, the trend, the note."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.blocks.home import (
    MAX_HOME_BLOCKS,
    HomeAlert,
    HomeKeyResult,
    HomeObjective,
    HomeSettings,
    HomeView,
    note_from_message,
    render_home_tab,
    settings_modal,
    sparkline,
    with_note,
)
from bot.core.schedule import WeeklySlot
from bot.home.service import check_delays
from tests.support.slack_emulator import validate_view


def kr(number: int, **changes: object) -> HomeKeyResult:
    values: dict[str, object] = {
        "number": number,
        "title": f"Key result <{number}> & co",
        "objective_number": 1,
        "owner_id": "U1",
        "kind": "increase",
        "unit": "teams",
        "value": 12.0,
        "target_text": "→ 20 teams",
        "progress": 0.4,
        "behind_pace": number % 2 == 0,
        "expected": 0.7,
        "status": "at_risk",
        "confidence": 6,
        "trend": (1.0, 3.0, 2.0, 5.0),
    }
    values.update(changes)
    return HomeKeyResult(**values)  # type: ignore[arg-type]


def view(due: int, mine: int, owned: int, alerts: int, *, admin: bool = True) -> HomeView:
    objectives = tuple(
        HomeObjective(n, f"Objective {n}", "2026-Q4", 0.5, tuple(kr(k) for k in range(1, 12)))
        for n in range(1, owned + 1)
    )
    return HomeView(
        user_id="U1",
        period_text="week of Dec 7",
        skipped=False,
        due=tuple(kr(n) for n in range(1, due + 1)),
        mine=tuple(kr(n) for n in range(1, mine + 1)),
        owned=objectives,
        alerts=tuple(
            HomeAlert(n, "signup_rate", "Signup", "C2", 0.5, "%", "open", "09:30")
            for n in range(1, alerts + 1)
        ),
        names={"U1": "ana"},
        settings=HomeSettings(WeeklySlot(0, "09:00"), 24, 0, 24) if admin else None,
    )


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 300),
    st.integers(0, 300),
    st.integers(0, 80),
    st.integers(0, 60),
    st.dictionaries(st.sampled_from(["due", "mine", "owned", "alerts"]), st.integers(1, 400)),
)
def test_any_size_fits_slacks_home_tab(
    due: int, mine: int, owned: int, alerts: int, pages: dict[str, int]
) -> None:
    rendered = render_home_tab(view(due, mine, owned, alerts), pages)
    assert len(rendered["blocks"]) <= MAX_HOME_BLOCKS
    assert validate_view(rendered, expected_types=("home",)) == []


def test_long_sections_offer_show_more_and_user_text_is_escaped() -> None:
    rendered = render_home_tab(view(30, 30, 10, 10))
    ids = [
        element["action_id"]
        for block in rendered["blocks"]
        for element in block.get("elements", [])
    ]
    assert {"home_more:due", "home_more:mine", "home_more:owned", "home_more:alerts"} <= set(ids)
    text = str(rendered["blocks"])
    assert "&lt;3&gt; &amp; co" in text and "<3>" not in text


def test_sparkline_scales_between_the_values_own_bounds() -> None:
    assert sparkline(()) == "" and sparkline((4.0,)) == ""
    assert sparkline((1.0, 2.0, 3.0, 8.0)) == "▁▂▃█"
    assert sparkline((5.0, 5.0)) == "▄▄"


def test_settings_modal_and_note_prefill_are_valid_views() -> None:
    modal = settings_modal(HomeSettings(WeeklySlot(4, "15:30"), 2.5, 0, 48))
    assert validate_view(modal) == []
    initial = {b["block_id"]: b["element"].get("initial_value") for b in modal["blocks"]}
    assert initial["time"] == "15:30" and initial["reminder"] == "2.5"
    base = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Check-in"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "kr1_note",
                "label": {"type": "plain_text", "text": "Note"},
                "element": {"type": "plain_text_input", "action_id": "note", "multiline": True},
            }
        ],
    }
    note = note_from_message("We   shipped\nit", "https://t1.slack.com/archives/C1/p1")
    assert note == "We shipped it\nhttps://t1.slack.com/archives/C1/p1"
    filled = with_note(base, note)
    assert filled["blocks"][0]["element"]["initial_value"] == note
    assert validate_view(filled) == []


def test_delays_are_checked_like_the_environment_checks_them() -> None:
    delays, errors = check_delays({"reminder": "2", "digest": "0", "escalation": "720"})
    assert errors == {} and delays is not None and delays.digest_delay_hours == 0
    _, errors = check_delays({"reminder": "0", "digest": "-1", "escalation": "nan"})
    assert set(errors) == {"reminder", "digest", "escalation"}
    _, errors = check_delays({"reminder": "x", "digest": "145", "escalation": None})
    assert "number" in errors["reminder"] and "144" in errors["digest"]
