"""The habits of real teams, pure parts: the grammar of away/back/escalate, how an absence
and a new owner's DM read, and which missed periods make a streak."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.blocks.habits import (
    AssignedView,
    AwayOwner,
    Target,
    away_line,
    describe_target,
    render_assigned,
)
from bot.checkins.habits import missed_streak
from bot.checkins.planning import TeamContext
from bot.core.schedule import WEEK, Schedules, WeeklySlot
from bot.okrs.commands import Away, Back, Escalate, parse_okr_command
from storage.models import CheckIn, KeyResult, Prompt

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def test_away_back_and_escalate_parse() -> None:
    assert parse_okr_command("away until 2026-12-24") == Away(date(2026, 12, 24))
    assert parse_okr_command("away 2026-12-24") == Away(date(2026, 12, 24))
    assert parse_okr_command("AWAY UNTIL 2026-01-05") == Away(date(2026, 1, 5))
    assert parse_okr_command("back") == Back()
    assert parse_okr_command("schedule escalate 3") == Escalate(3)
    assert parse_okr_command("schedule escalate off") == Escalate(None)


def test_away_line_uses_names_not_mentions() -> None:
    line = away_line([AwayOwner("U2", "ben <b>", date(2026, 12, 24)), AwayOwner("U3", None, None)])
    assert line == ":palm_tree: ben &lt;b&gt; away until Dec 24, <@U3> away"


def test_targets_in_words() -> None:
    assert describe_target(Target("increase", 120, 200, None, None, "teams")) == (
        "from 120 to 200 teams"
    )
    assert describe_target(Target("range", None, None, 0, 1.5, "s")) == "stay within 0–1.5 s"
    assert describe_target(Target("boolean", 0, 1, None, None, None)) == "done or not"


def test_assigned_dm_says_when_in_the_readers_zone() -> None:
    monday = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    view = AssignedView(
        4, "Churn", 1, "Grow", Target("decrease", 5, 3, None, None, "%"), "U1",
        "Monday 09:00", monday, ZoneInfo("America/New_York"),
    )  # fmt: skip
    text = render_assigned(view).blocks[0]["text"]["text"]
    assert f"<!date^{int(monday.timestamp())}^" in text
    assert "|Mon Nov 30 at 09:00>" in text and "from 5 to 3%" in text


def _context() -> TeamContext:
    return TeamContext("T1", True, Schedules(WeeklySlot(0, "09:00"), T0 - WEEK), {1: None}, T0, 0)


def _kr() -> KeyResult:
    return KeyResult(id=7, objective_id=1, owner_id="U2", created_at=T0 - timedelta(days=1))


def _prompt(i: int, skipped: bool = False) -> Prompt:
    start = T0 + i * WEEK
    return Prompt(
        id=100 + i,
        user_id="U2",
        period_start=start,
        period_end=start + WEEK,
        slot="0@09:00",
        skipped_at=start if skipped else None,
    )


def test_a_streak_runs_back_to_the_last_answer_and_skips_do_not_break_it() -> None:
    prompts = [_prompt(i, skipped=i == 2) for i in range(5)]
    answered = CheckIn(key_result_id=7, prompt_id=100, created_at=T0 + timedelta(hours=2))
    streak = missed_streak(_kr(), prompts, [answered], _context(), T0 - WEEK, timedelta(0))
    assert streak is not None
    assert [p.id for p in streak] == [101, 103, 104]  # the skipped week neither counts nor breaks
    # A late answer (within the grace after its period) counts for that period.
    late = CheckIn(key_result_id=7, prompt_id=None, created_at=T0 + 4 * WEEK + WEEK)
    streak = missed_streak(_kr(), prompts, [answered, late], _context(), T0 - WEEK, timedelta(1))
    assert streak == []


def test_a_streak_that_may_begin_before_the_look_back_is_not_counted() -> None:
    prompts = [_prompt(i) for i in range(3)]
    assert missed_streak(_kr(), prompts, [], _context(), T0 + WEEK, timedelta(0)) is None
    assert len(missed_streak(_kr(), prompts, [], _context(), T0 - WEEK, timedelta(0)) or []) == 3
