"""Words people read (pure): titles in the prompt push text, the recipient's own key
result in the reply hint, no "last no value yet"; /kpi list's marker before any data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.blocks.checkins import KeyResultLine, PromptView, render_prompt
from bot.blocks.kpis import render_kpi_list, render_kpi_show

MONDAY = datetime(2026, 11, 30, 8, tzinfo=UTC)


def line(number: int, title: str, **kw: object) -> KeyResultLine:
    values: dict[str, object] = {
        "number": number,
        "title": title,
        "kind": "increase",
        "current": 150.0,
        "target": 200.0,
        "low": None,
        "high": None,
        "unit": "teams",
        "progress": 0.375,
    }
    values.update(kw)
    return KeyResultLine(**values)  # type: ignore[arg-type]


def test_push_text_names_titles() -> None:
    one = render_prompt(PromptView(1, MONDAY, [line(2, "Signups")]))
    assert one.text == "Your weekly check-in: where does KR-2 Signups stand?"
    krs = [line(2, "Signups"), line(5, "Churn & <b>"), line(7, "NPS"), line(9, "Hires")]
    many = render_prompt(PromptView(1, MONDAY, krs), reminder=True)
    assert many.text == (
        "Reminder: your weekly check-in: where do KR-2 Signups, KR-5 Churn &amp; &lt;b&gt;, "
        "KR-7 NPS and 1 more stand?"
    )


def test_hint_uses_one_of_the_recipients_key_results() -> None:
    message = render_prompt(PromptView(1, MONDAY, [line(7, "Signups"), line(9, "Hires")]))
    body = json.dumps(message.blocks, ensure_ascii=False)
    assert "e.g. `KR-7 150` or `KR-7 150 at risk: what changed`" in body
    assert "KR-4" not in body
    boolean = line(3, "Launched", kind="boolean", current=None, target=1.0, progress=0.0)
    body = json.dumps(render_prompt(PromptView(1, MONDAY, [boolean])).blocks)
    assert "e.g. `KR-3 done`" in body and "not done yet" in body


def test_no_value_yet_reads_as_such() -> None:
    empty_range = line(4, "Load", kind="range", current=None, low=0.0, high=1.5, unit="s")
    empty_moving = line(5, "Teams", current=None, progress=0.0)
    body = json.dumps(
        render_prompt(PromptView(1, MONDAY, [empty_range, empty_moving])).blocks,
        ensure_ascii=False,
    )
    assert "no value yet · keep within 0–1.5 s" in body
    assert "no value yet → target 200 teams · 0%" in body
    assert "last no value yet" not in body and "last –" not in body


def summary(key: str, latest: dict[str, object] | None, state: str = "ok") -> dict[str, object]:
    return {
        "key": key,
        "name": key.title(),
        "unit": None,
        "latest": latest,
        "alert": {"state": state},
        "normal_range": {"learning": False, "min": 1, "max": 5, "source": "static"},
    }


def test_kpi_list_marks_no_data_yet_neutrally() -> None:
    message = render_kpi_list(
        [summary("fresh", None), summary("fine", {"value": 3.0, "at": "2026-11-25T10:00"})]
    )
    body = json.dumps(message.blocks)
    assert ":white_circle: *fresh* Fresh \\u00b7 no data yet" in body
    assert ":large_green_circle: *fine*" in body


def test_kpi_show_dates_in_the_readers_zone() -> None:
    shown = summary("fine", {"value": 3.0, "at": "2026-11-25T10:00:00Z"})
    shown["recent"] = [
        {"value": 2.0, "at": "2026-11-24T10:00:00Z"},
        {"value": 3.0, "at": "2026-11-25T10:00:00Z"},
    ]
    shown["measurements"] = 2
    body = json.dumps(render_kpi_show(shown).blocks)
    first = int(datetime(2026, 11, 24, 10, tzinfo=UTC).timestamp())
    assert f"<!date^{first}^{{date_short}} {{time}}|2026-11-24 10:00 UTC> \\u2192 <!date^" in body
    assert "2026-11-24T10:00 " not in body
