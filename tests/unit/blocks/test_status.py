"""bot.render (and bot.status.assemble): Block Kit payloads that Slack accepts at any size."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.common import (
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    Message,
    escape,
    percent,
    person,
    plural,
    progress_bar,
    value_with_unit,
)
from bot.blocks.status import (
    CheckInView,
    KeyResultView,
    ObjectiveView,
    Scope,
    StatusReport,
    key_result_line,
    key_result_value,
    render_home,
    render_status,
)
from bot.okrs.status import assemble
from storage.models import KeyResult, Objective
from storage.rows import CheckInRow

NOW = datetime(2026, 11, 25, 10, tzinfo=UTC)
NASTY = "<script>alert('x')</script> & <!channel> <@U999> & Tom & Jerry > all"
EMPTY_ALL = 'No objectives yet. Create one with `/okr objective add "Title"`.'

# --- builders ---------------------------------------------------------------------------


def kr_view(number: int, **overrides: Any) -> KeyResultView:
    values: dict[str, Any] = {
        "number": number,
        "title": f"Key result {number}",
        "owner_id": "U0ANA",
        "kind": "increase",
        "start": 120.0,
        "target": 200.0,
        "low": None,
        "high": None,
        "current": 160.0,
        "unit": "teams",
        "progress": 0.5,
        "expected": 0.6,
        "behind_pace": False,
        "status": "on_track",
        "confidence": 7,
        "stale": False,
        "last_check_in_at": NOW - timedelta(days=2),
        "recent": [],
    }
    values.update(overrides)
    return KeyResultView(**values)


def objective_view(
    number: int, key_results: list[KeyResultView], **overrides: Any
) -> ObjectiveView:
    values: dict[str, Any] = {
        "number": number,
        "title": f"Objective number {number}",
        "owner_id": "U0BOB",
        "channel_id": "C0GROWTH",
        "cycle": "2026-Q4",
        "status": "active",
        "progress": sum(kr.progress for kr in key_results) / len(key_results)
        if key_results
        else 0.0,
        "parent_number": None,
        "key_results": key_results,
    }
    values.update(overrides)
    return ObjectiveView(**values)


def check_ins(count: int, note: str = "Hiring slipped") -> list[CheckInView]:
    return [
        CheckInView(
            value=150.0 + i,
            status=["on_track", "at_risk", "off_track", None][i % 4],
            confidence=i % 11,
            note=f"{note} {i}",
            author_id="U0ANA" if i % 2 else None,
            at=NOW - timedelta(weeks=i),
        )
        for i in range(count)
    ]


def many_objectives(count: int, krs_each: int, title: str | None = None) -> list[ObjectiveView]:
    objectives = []
    for n in range(1, count + 1):
        krs = [
            kr_view(
                (n - 1) * krs_each + k + 1,
                title=title or f"Key result {k} of objective {n}",
                status=["on_track", "at_risk", "off_track", None][k % 4],
                behind_pace=k % 3 == 0,
                stale=k % 5 == 0,
            )
            for k in range(krs_each)
        ]
        objectives.append(objective_view(n, krs, title=title or f"Objective number {n}"))
    return objectives


def report(objectives: list[ObjectiveView], detail: bool = False, **kw: Any) -> StatusReport:
    """A report of one objective (`detail`), of all objectives, or of #C0GROWTH (default)."""
    if detail:
        scope = Scope("objective")
    elif kw.get("all"):
        scope = Scope("all")
    else:
        scope = Scope("channel", channel_id="C0GROWTH")
    return StatusReport(scope=scope, objectives=objectives)


# --- validation -------------------------------------------------------------------------

_ENTITY = re.compile(r"&(amp|lt|gt);")
# What may legitimately look like markup in our mrkdwn: mentions, channels, special mentions.
_SLACK_REF = re.compile(r"<[@#][A-Z0-9]+(\|[^<>]*)?>|<!date\^\d+\^[^|<>]+\|[^<>]+>")


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts = []
    for block in blocks:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"] if e["type"] == "mrkdwn")
    return texts


def assert_safe_mrkdwn(text: str) -> None:
    """No raw `<`, `>` or `&` from user text: only our mentions, entities and quote marks."""
    stripped = _SLACK_REF.sub("", re.sub(r"(?m)^> ", "", text))
    assert "<" not in stripped and ">" not in stripped, text
    assert "&" not in _ENTITY.sub("", stripped), text


def assert_valid_blocks(blocks: list[dict[str, Any]]) -> None:
    json.dumps(blocks)
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None, raw
        parsed.validate_json()
        assert parsed.to_dict() == raw  # nothing misspelled or dropped
        if raw["type"] == "section":
            text = raw["text"]["text"]
            assert 0 < len(text) <= SECTION_LIMIT
            assert raw["text"]["type"] == "mrkdwn"
        elif raw["type"] == "header":
            assert 0 < len(raw["text"]["text"]) <= HEADER_LIMIT
            assert raw["text"]["type"] == "plain_text"
        elif raw["type"] == "context":
            assert 1 <= len(raw["elements"]) <= 10
            for element in raw["elements"]:
                assert 0 < len(element["text"]) <= 3000
    for text in mrkdwn_texts(blocks):
        assert_safe_mrkdwn(text)


def assert_valid_message(message: Message) -> None:
    assert isinstance(message.text, str) and message.text.strip()
    assert 1 <= len(message.blocks) <= MAX_BLOCKS
    assert_valid_blocks(message.blocks)
    kwargs = message.as_kwargs()
    assert kwargs == {"text": message.text, "blocks": message.blocks}
    assert message.blocks[0]["type"] == "header"


def assert_valid_home(view: dict[str, Any]) -> None:
    assert view["type"] == "home"
    assert 1 <= len(view["blocks"]) <= 100
    View(**view).validate_json()
    assert_valid_blocks(view["blocks"])


def listed_objectives(message: Message) -> set[int]:
    return {int(n) for t in mrkdwn_texts(message.blocks) for n in re.findall(r"\*O-(\d+)", t)}


def listed_key_results(message: Message) -> set[int]:
    return {int(n) for t in mrkdwn_texts(message.blocks) for n in re.findall(r"\*KR-(\d+)\*", t)}


def all_text(message: Message) -> str:
    return "\n".join(mrkdwn_texts(message.blocks))


# --- small pieces -----------------------------------------------------------------------


def test_progress_bar_and_percent() -> None:
    assert progress_bar(0) == "░" * 10
    assert progress_bar(1) == "█" * 10
    assert progress_bar(0.5) == "█" * 5 + "░" * 5
    assert progress_bar(-1) == "░" * 10 and progress_bar(7) == "█" * 10
    assert len(progress_bar(0.33, width=20)) == 20
    assert percent(0) == "0%" and percent(0.5) == "50%" and percent(1) == "100%"
    assert percent(0.126) == "13%"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_progress_bar_is_always_ten_cells(fraction: float) -> None:
    assert len(progress_bar(fraction)) == 10


def test_escape() -> None:
    assert escape("a < b > c & d") == "a &lt; b &gt; c &amp; d"
    assert escape("&lt;") == "&amp;lt;"


@given(st.text(max_size=100))
def test_escape_leaves_no_markup(text: str) -> None:
    assert_safe_mrkdwn(escape(text))


def test_value_with_unit() -> None:
    assert value_with_unit(3.4, "%") == "3.4%"
    assert value_with_unit(200, "teams") == "200 teams"
    assert value_with_unit(1200, None) == "1,200"
    assert value_with_unit(None, "teams") == "–"
    assert value_with_unit(1, "<b>") == "1 &lt;b&gt;"


def test_key_result_value_per_kind() -> None:
    assert key_result_value(kr_view(1)) == "160 → 200 teams"
    assert key_result_value(kr_view(1, kind="boolean", progress=1.0)) == "done"
    assert key_result_value(kr_view(1, kind="boolean", progress=0.0)) == "not done yet"
    inside = kr_view(1, kind="range", low=0.0, high=1.5, current=1.2, unit="s", progress=1.0)
    assert key_result_value(inside) == "1.2 s (inside 0–1.5 s)"
    outside = kr_view(1, kind="range", low=2.0, high=5.0, current=6.0, unit="%", progress=0.0)
    assert key_result_value(outside) == "6% (outside 2–5%)"
    empty = kr_view(1, kind="range", low=2.0, high=5.0, current=None, unit=None, progress=0.0)
    assert key_result_value(empty) == "no value yet (keep within 2–5)"


def test_key_result_line_flags() -> None:
    line = key_result_line(
        kr_view(4, progress=0.2, expected=0.6, behind_pace=True, status="on_track", stale=True)
    )
    assert line.startswith(":large_green_circle: *KR-4* Key result 4")
    assert "40 pts behind pace though marked on track (expected 60% by now)" in line
    assert ":hourglass: no check-in last period" in line
    assert "confidence 7/10" in line and "U0ANA" in line and "<@" not in line
    plain = key_result_line(kr_view(5, status=None, confidence=None))
    assert plain.startswith(":white_circle: *KR-5*")
    assert "confidence" not in plain and "behind pace" not in plain and "\n" not in plain
    off = key_result_line(kr_view(6, status="off_track", progress=0.1, behind_pace=True))
    assert off.startswith(":red_circle:") and "behind pace" in off
    assert "though marked on track" not in off


# --- render_status ----------------------------------------------------------------------


def test_empty_report() -> None:
    message = render_status(report([], all=True))
    assert_valid_message(message)
    assert message.text == EMPTY_ALL
    assert [b["type"] for b in message.blocks] == ["header", "section"]
    assert message.blocks[0]["text"]["text"] == "OKR status · all objectives"


def test_empty_scope_says_so_with_mentions_made_plain_in_text() -> None:
    empty = "No objectives report to <#C0GROWTH> yet."
    message = render_status(report([]))
    assert_valid_message(message)
    assert message.blocks[1]["text"]["text"] == empty
    # Header blocks are plain text: the channel is named where Slack renders mentions.
    assert message.blocks[0]["text"]["text"] == "OKR status"
    assert "<#" not in message.text and "C0GROWTH" in message.text


def test_one_objective() -> None:
    krs = [
        kr_view(1),
        kr_view(2, kind="decrease", start=2500.0, target=1500.0, current=2000.0, unit="ms"),
        kr_view(3, kind="range", low=0.0, high=1.5, current=1.2, unit="s", progress=1.0),
        kr_view(4, kind="boolean", progress=0.0, status="at_risk", behind_pace=False),
        kr_view(5, progress=0.1, expected=0.6, behind_pace=True, stale=True),
    ]
    message = render_status(report([objective_view(1, krs, parent_number=7)]))
    assert_valid_message(message)
    assert listed_objectives(message) == {1}
    assert listed_key_results(message) == {1, 2, 3, 4, 5}
    text = all_text(message)
    assert "under O-7" in text and "2026-Q4" in text
    assert "2,000 → 1,500 ms" in text
    assert "1 objective · 5 key results" in text
    assert "1 at risk or off track" in text and "1 behind pace" in text
    assert "1 without a check-in last period" in text
    assert "/okr status O-&lt;n&gt;" in text
    assert "OKR status" in message.text and "1 objective" in message.text


def test_objective_without_key_results_suggests_adding_one() -> None:
    message = render_status(report([objective_view(3, [], status="done")]))
    assert_valid_message(message)
    text = all_text(message)
    assert "/okr kr add O-3" in text and "_done_" in text and "0%" in text


def test_twelve_objectives_are_all_shown_in_full() -> None:
    message = render_status(report(many_objectives(12, 5)))
    assert_valid_message(message)
    assert listed_objectives(message) == set(range(1, 13))
    assert listed_key_results(message) == set(range(1, 61))
    assert "12 objectives · 60 key results" in message.text


def test_twelve_objectives_with_many_long_key_results_stay_within_limits() -> None:
    long = "A rather long key result title " * 6
    objectives = many_objectives(12, 40, title=long[:190])
    message = render_status(report(objectives))
    assert_valid_message(message)
    assert listed_objectives(message) == set(range(1, 13))
    text = all_text(message)
    for objective in objectives:
        shown = {kr.number for kr in objective.key_results if f"*KR-{kr.number}*" in text}
        if len(shown) < 40:
            assert (
                f"… and {40 - len(shown)} more key results — see `/okr status O-{objective.number}`"
                in text
            )


def test_thirteen_objectives_turn_compact() -> None:
    message = render_status(report(many_objectives(13, 3)))
    assert_valid_message(message)
    assert listed_objectives(message) == set(range(1, 14))
    assert listed_key_results(message) == set()  # compact: one line per objective
    assert "3 KRs" in all_text(message)


def assert_left_out_is_counted(message: Message, total: int) -> None:
    listed = listed_objectives(message)
    text = all_text(message)
    if len(listed) == total:
        assert "more objectives not shown" not in text
    else:
        assert listed == set(range(1, len(listed) + 1))
        assert f"{total - len(listed)} more objectives not shown" in text
        assert "/okr status #channel" in text


def test_two_hundred_objectives_with_a_thousand_key_results() -> None:
    objectives = many_objectives(200, 5)
    assert sum(len(o.key_results) for o in objectives) == 1000
    message = render_status(report(objectives))
    assert_valid_message(message)
    assert_left_out_is_counted(message, 200)
    assert "200 objectives · 1,000 key results" in message.text


def test_two_hundred_objectives_with_long_markup_titles() -> None:
    objectives = many_objectives(200, 5, title=(NASTY * 4)[:200])
    message = render_status(report(objectives))
    assert_valid_message(message)
    assert_left_out_is_counted(message, 200)


def test_objectives_that_do_not_fit_are_counted() -> None:
    objectives = many_objectives(400, 1, title="&" * 200)  # 5 characters each once escaped
    message = render_status(report(objectives))
    assert_valid_message(message)
    assert_left_out_is_counted(message, 400)
    assert len(listed_objectives(message)) < 400


def test_compact_count_survives_titles_with_newlines_and_stars() -> None:
    title = "Line one\nline two *KR-1* *O-5*\n\n" + "x" * 60
    objectives = many_objectives(1500, 1, title=title)
    message = render_status(report(objectives))
    assert_valid_message(message)
    text = all_text(message)
    shown = sum(len(re.findall(r"`[█░]{10}`", t)) for t in mrkdwn_texts(message.blocks))
    hidden = re.search(r"(\d+) more objectives not shown", text)
    assert hidden is not None
    assert shown + int(hidden.group(1)) == 1500


def test_full_mode_hidden_key_results_count_survives_stars_in_titles() -> None:
    krs = [kr_view(k, title=("*KR-99* " * 20) + "x" * 40) for k in range(1, 41)]
    message = render_status(report([objective_view(1, krs)]))
    assert_valid_message(message)
    text = all_text(message)
    match = re.search(r"… and (\d+) more key results", text)
    assert match is not None
    shown = len(re.findall(r":\w+: \*KR-\d+\* ", text))
    assert shown + int(match.group(1)) == 40


def test_long_titles_with_markup_are_escaped_and_clipped() -> None:
    title = (NASTY * 10)[:500]  # the database allows 500 characters
    krs = [kr_view(k, title=title, unit="<u>&") for k in range(1, 4)]
    objectives = [objective_view(n, krs, title=title, parent_number=1) for n in range(1, 4)]
    message = render_status(report(objectives))
    assert_valid_message(message)
    text = all_text(message)
    assert "&lt;script&gt;" in text and "Tom &amp; Jerry" in text
    assert "<!channel>" not in text and "<script>" not in text
    assert "<!channel>" not in message.text


# --- detail -----------------------------------------------------------------------------


def detail_report(objective: ObjectiveView) -> StatusReport:
    return report([objective], detail=True)


def test_detail_shows_values_and_recent_check_ins() -> None:
    krs = [kr_view(1, recent=check_ins(5)), kr_view(2, recent=[])]
    message = render_status(detail_report(objective_view(3, krs)))
    assert_valid_message(message)
    text = all_text(message)
    assert "Reports to <#C0GROWTH>" in text
    assert (
        "> <!date^1795600800^{date_short}|Nov 25> · 150 teams · on track — “Hiring slipped 0”"
        in text
    )
    assert (
        "> <!date^1794996000^{date_short}|Nov 18> · 151 teams · at risk · U0ANA"
        " — “Hiring slipped 1”" in text
    )
    assert "<@" not in text  # posted in a channel: names, never pings
    assert "off track" in text and "no status" in text
    assert "_No check-ins yet._" in text
    assert message.text.startswith("O-3 Objective number 3: 50% across 2 key results")


def test_detail_with_sixty_key_results() -> None:
    krs = [kr_view(k, recent=check_ins(5, note="n" * 300)) for k in range(1, 61)]
    message = render_status(detail_report(objective_view(1, krs)))
    assert_valid_message(message)
    shown = listed_key_results(message)
    assert shown == set(range(1, len(shown) + 1))
    assert 0 < len(shown) < 60
    assert f"… and {60 - len(shown)} more key results not shown" in all_text(message)


def test_detail_without_channel_or_key_results() -> None:
    message = render_status(detail_report(objective_view(2, [], channel_id=None)))
    assert_valid_message(message)
    text = all_text(message)
    assert "Reports to" not in text and "/okr kr add O-2" in text
    assert "more key results" not in text


def test_detail_escapes_titles_notes_and_fallback() -> None:
    title = (NASTY * 5)[:200]
    krs = [
        kr_view(k, title=title, recent=check_ins(5, note=NASTY * 20), unit="&")
        for k in range(1, 30)
    ]
    message = render_status(detail_report(objective_view(1, krs, title=title)))
    assert_valid_message(message)
    assert len(message.blocks[0]["text"]["text"]) <= HEADER_LIMIT
    assert "&lt;!channel&gt;" in all_text(message)
    # the plain-text fallback is mrkdwn too (notifications): no live mentions or markup
    assert "<!channel>" not in message.text and "<script>" not in message.text


# --- property: any report renders to a valid payload --------------------------------------

_titles = st.lists(
    st.sampled_from(list("ab <>&*_~`\n\"'“”😀") + ["KR-", "O-", "<@U1>", "x" * 40]),
    min_size=1,
    max_size=60,
).map("".join)


@st.composite
def reports(draw: st.DrawFn) -> StatusReport:
    count = draw(st.integers(0, 16))
    objectives = []
    number = 0
    for n in range(1, count + 1):
        krs = []
        for _ in range(draw(st.integers(0, 6))):
            number += 1
            krs.append(
                kr_view(
                    number,
                    title=draw(_titles),
                    kind=draw(st.sampled_from(["increase", "decrease", "range", "boolean"])),
                    progress=draw(st.floats(0, 1)),
                    status=draw(st.sampled_from(["on_track", "at_risk", "off_track", None])),
                    behind_pace=draw(st.booleans()),
                    stale=draw(st.booleans()),
                    unit=draw(st.sampled_from([None, "%", "teams", "<&>"])),
                    recent=check_ins(draw(st.integers(0, 5)), note=draw(_titles)),
                )
            )
        objectives.append(objective_view(n, krs, title=draw(_titles)))
    detail = bool(objectives) and draw(st.booleans())
    return report(objectives[:1] if detail else objectives, detail=detail)


def _mrkdwn_texts(node: object) -> list[str]:
    """Every mrkdwn text object's text in a Block Kit structure."""
    if isinstance(node, list):
        return [text for item in node for text in _mrkdwn_texts(item)]
    if not isinstance(node, dict):
        return []
    own = [str(node["text"])] if node.get("type") == "mrkdwn" and "text" in node else []
    return own + [text for value in node.values() for text in _mrkdwn_texts(value)]


@settings(max_examples=20, deadline=None)
@given(reports())
def test_any_report_renders_valid_message_and_home(status: StatusReport) -> None:
    message = render_status(status)
    assert_valid_message(message)
    # posted in channels: nobody is ever mentioned (titles and notes are escaped too);
    # plain_text (headers) is never parsed for mentions, so only mrkdwn and the fallback
    assert not [text for text in _mrkdwn_texts(message.blocks) if "<@" in text]
    assert "<@" not in message.text
    if not status.detail:
        assert_left_out_is_counted(message, len(status.objectives)) if status.objectives else None
    assert_valid_home(render_home(status))


# --- App Home ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "objectives",
    [[], many_objectives(1, 3), many_objectives(12, 5), many_objectives(200, 5)],
    ids=["empty", "one", "twelve", "two-hundred"],
)
def test_home_view_validates(objectives: list[ObjectiveView]) -> None:
    status = StatusReport(scope=Scope("user", user_id="U0ANA"), objectives=objectives)
    view = render_home(status)
    assert_valid_home(view)
    assert view["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Your OKRs"},
    }
    assert "/okr help" in view["blocks"][-1]["elements"][0]["text"]


# --- StatusReport / ObjectiveView properties -------------------------------------------------


def test_report_and_objective_aggregates() -> None:
    krs = [
        kr_view(1, status="at_risk", behind_pace=True),
        kr_view(2, status="off_track"),
        kr_view(3, status="on_track", behind_pace=True),
        kr_view(4, status=None),
    ]
    objective = objective_view(1, krs)
    assert objective.at_risk == 2 and objective.behind == 2
    status = report([objective_view(1, [], progress=0.2), objective_view(2, [], progress=0.6)])
    assert status.average_progress == pytest.approx(0.4)
    assert report([]).average_progress == 0.0


# --- bot.status.assemble with unsaved rows ----------------------------------------------------


def objective_row(id: int, number: int, **kw: Any) -> Objective:
    values: dict[str, Any] = {
        "id": id,
        "team_id": "T1",
        "number": number,
        "title": f"Objective {number}",
        "owner_id": "U0BOB",
        "channel_id": "C0GROWTH",
        "cycle": "2026-Q4",
        "parent_id": None,
        "status": "active",
        "created_at": NOW - timedelta(days=60),
        "updated_at": NOW - timedelta(days=60),
    }
    values.update(kw)
    return Objective(**values)


def key_result_row(id: int, objective_id: int, number: int, **kw: Any) -> KeyResult:
    values: dict[str, Any] = {
        "id": id,
        "team_id": "T1",
        "number": number,
        "objective_id": objective_id,
        "title": f"KR {number}",
        "owner_id": "U0ANA",
        "kind": "increase",
        "start_value": 120.0,
        "target_value": 200.0,
        "range_low": None,
        "range_high": None,
        "current_value": 160.0,
        "unit": "teams",
        "confidence": 5,
        "created_at": NOW - timedelta(days=60),
        "updated_at": NOW - timedelta(days=1),
    }
    values.update(kw)
    return KeyResult(**values)


def check_in_row(key_result_id: int, at: datetime, **kw: Any) -> CheckInRow:
    values: dict[str, Any] = {
        "id": 0,
        "key_result_id": key_result_id,
        "value": 160.0,
        "status": "on_track",
        "confidence": 8,
        "note": "fine",
        "author_id": "U0ANA",
        "entered_by": None,
        "created_at": at,
        "period_start": None,
    }
    values.update(kw)
    return CheckInRow(**values)


def test_assemble_joins_rows_into_views() -> None:
    stale_before = NOW - timedelta(days=9)
    objectives = [objective_row(1, 1), objective_row(2, 2, parent_id=1), objective_row(3, 3)]
    key_results = [
        key_result_row(10, 1, 1),  # 50%, checked in recently
        key_result_row(11, 1, 2, kind="range", range_low=2.0, range_high=5.0, current_value=3.0),
        key_result_row(12, 2, 3, current_value=125.0, confidence=None),  # far behind, stale
        key_result_row(
            13,
            2,
            4,
            kind="boolean",
            start_value=0.0,
            target_value=1.0,
            current_value=1.0,
            created_at=NOW - timedelta(days=2),
        ),  # new: not stale
    ]
    recent = [
        check_in_row(10, NOW - timedelta(days=1), status="at_risk", confidence=None),
        check_in_row(10, NOW - timedelta(days=8)),
        check_in_row(11, NOW - timedelta(days=3), status="off_track", confidence=2),
        check_in_row(12, NOW - timedelta(days=20)),
    ]
    views = assemble(objectives, key_results, recent, {1: 1}, NOW, stale_before)
    assert [v.number for v in views] == [1, 2, 3]
    first, second, third = views
    assert [kr.number for kr in first.key_results] == [1, 2]
    assert first.progress == pytest.approx(0.75)
    kr1, kr2 = first.key_results
    assert kr1.progress == pytest.approx(0.5)
    assert kr1.status == "at_risk" and kr1.confidence == 5  # no confidence given: the KR's own
    assert [c.at for c in kr1.recent] == [NOW - timedelta(days=1), NOW - timedelta(days=8)]
    assert kr1.expected == pytest.approx(expected_q4(NOW)) and not kr1.behind_pace
    assert not kr1.stale and kr1.last_check_in_at == NOW - timedelta(days=1)
    assert kr2.kind == "range" and kr2.progress == 1.0 and kr2.expected is None
    assert kr2.status == "off_track" and kr2.confidence == 2 and not kr2.behind_pace
    assert second.parent_number == 1 and first.parent_number is None
    kr3, kr4 = second.key_results
    assert kr3.progress == pytest.approx(5 / 80) and kr3.behind_pace and kr3.stale
    assert kr3.confidence == 8  # from its latest check-in
    assert kr4.progress == 1.0 and not kr4.stale and kr4.status is None and kr4.recent == []
    assert kr4.confidence == 5  # no check-in: the key result's own confidence
    assert third.key_results == [] and third.progress == 0.0
    message = render_status(report(views))
    assert_valid_message(message)
    assert listed_key_results(message) == {1, 2, 3, 4}


def expected_q4(now: datetime) -> float:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    return (now - start) / (end - start)


@pytest.mark.parametrize("shift", range(0, 12))
def test_clipped_sections_never_end_inside_an_escape_or_a_mention(shift: int) -> None:
    """A section clipped at 3000 characters must not leave `&am…` or `<@U0A…` behind."""
    krs = [kr_view(1, title="&" * (500 - shift), recent=check_ins(5, note="&" * 200))]
    assert_valid_message(render_status(detail_report(objective_view(1, krs))))
    line_krs = [kr_view(2, title="x" * (2990 - shift * 3) + "&" * 10)]
    assert_valid_message(render_status(report([objective_view(2, line_krs)])))
    # a title long enough that the cut falls inside the first history line's `<!date^…>`
    short = render_status(detail_report(objective_view(3, [kr_view(3, recent=check_ins(1))])))
    date_at = short.blocks[-1]["text"]["text"].index("<!date^") - len("Key result 3")
    title = "y" * (SECTION_LIMIT - 2 - date_at - shift % 7)
    krs = [kr_view(3, title=title, recent=check_ins(1))]
    message = render_status(detail_report(objective_view(3, krs)))
    assert_valid_message(message)
    clipped = message.blocks[-1]["text"]["text"]
    assert clipped.endswith("\n> …") and "<!date" not in clipped


def test_assemble_for_one_person_keeps_their_key_results_and_whole_objective_progress() -> None:
    objectives = [
        objective_row(1, 1),  # ana's key result and cleo's
        objective_row(2, 2, owner_id="U0CAT"),  # owned by cleo, others' key results only
        objective_row(3, 3, owner_id="U0CAT"),  # owned by cleo, no key results yet
    ]
    key_results = [
        key_result_row(10, 1, 1, current_value=200.0),  # ana's, done
        key_result_row(11, 1, 2, owner_id="U0CAT", current_value=120.0),
        key_result_row(12, 2, 3),
    ]
    recent = [check_in_row(11, NOW - timedelta(days=1), status="at_risk", author_id="U0CAT")]
    views = assemble(
        objectives, key_results, recent, {}, NOW, NOW - timedelta(days=9), only_owner="U0CAT"
    )
    assert [v.number for v in views] == [1, 3]
    first, third = views
    assert [kr.number for kr in first.key_results] == [2]
    assert first.progress == pytest.approx(0.5)  # the objective's, as context
    assert third.key_results == []
    message = render_status(
        StatusReport(Scope("user", user_id="U0CAT"), views, names={"U0CAT": "cleo"})
    )
    assert_valid_message(message)
    summary = message.blocks[1]["elements"][0]["text"]
    assert summary.startswith("cleo · 2 objectives · 1 key result · average progress 0%")
    assert "1 at risk or off track" in summary
    assert "<@" not in json.dumps(message.blocks) + message.text


def test_pace_starts_when_the_key_result_was_made_and_detail_says_both_dates() -> None:
    made = datetime(2026, 11, 24, 9, tzinfo=UTC)
    objectives = [objective_row(1, 1)]
    key_results = [
        key_result_row(10, 1, 1, current_value=120.0, created_at=made),
        key_result_row(11, 1, 2, current_value=120.0, created_at=datetime(2026, 9, 1, tzinfo=UTC)),
    ]
    [view] = assemble(objectives, key_results, [], {}, made + timedelta(hours=1), made)
    late, early = view.key_results
    assert late.pace_from == made and late.expected == pytest.approx(1 / (38 * 24 - 9), abs=1e-3)
    assert not late.behind_pace  # added today: not "53 pts behind"
    assert early.pace_from == datetime(2026, 10, 1, tzinfo=UTC) and early.behind_pace
    detail = all_text(render_status(detail_report(view)))
    stamp = int(made.timestamp())
    assert (
        f"added <!date^{stamp}^{{date_short}}|Nov 24> · pace counted from "
        f"<!date^{stamp}^{{date_short}}|Nov 24>" in detail
    )
    assert "2026-Q4 began <!date^" in detail


def test_boolean_history_reads_done_or_not_done() -> None:
    history = [
        CheckInView(1.0, None, None, None, "U0ANA", NOW),
        CheckInView(0.0, "at_risk", None, None, "U0BEN", NOW - timedelta(days=7)),
    ]
    kr = kr_view(1, kind="boolean", start=0.0, target=1.0, current=1.0, progress=1.0, unit=None)
    report = detail_report(objective_view(1, [replace(kr, recent=history)]))
    message = render_status(replace(report, names={"U0BEN": "ben"}))
    text = all_text(message)
    assert "· done · no status · U0ANA" in text
    assert "· not done · at risk · ben" in text
    assert "· 1 ·" not in text and "· 0 ·" not in text and "<@" not in text


def test_counts_are_written_with_one_helper() -> None:
    assert plural(1, "objective") == "1 objective"
    assert plural(2, "objective") == "2 objectives"
    assert plural(2138, "team") == "2,138 teams"
    assert plural(1, "more key result", "more key results") == "1 more key result"
    assert person("U0ANA", {}) == "U0ANA" and person("U0ANA", {"U0ANA": "a<b"}) == "a&lt;b"
