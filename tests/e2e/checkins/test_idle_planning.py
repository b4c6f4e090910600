"""The idle tick asks "who is due" only when the answer can have changed (issue 12): once
everyone due has a prompt, ticks skip the question until the next owner's slot, and any
write that can make someone due (a key result moved to another owner, an objective
reactivated, a time zone learned) makes the very next tick ask again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bot.runtime.jobs import tick
from tests.support.harness import Bot
from tests.support.seeding import prompts_to

# The fixtures' clock starts on Wednesday 25 Nov 2026 (U1 Madrid, U2 New York, U3 Tokyo).
MONDAY_9_NEW_YORK = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
TUESDAY = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class DueQueries:
    """Counts the "who is due" queries the database receives."""

    def __init__(self, bot: Bot) -> None:
        self.count = 0
        self._engine = bot.services.db.engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "krs.owner_id" in statement and "periods" in statement:
            self.count += 1

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


async def run_tick(bot: Bot, at: datetime) -> dict[str, int]:
    bot.clock.now = at
    return (await tick(bot.services, at)).done


async def test_a_key_result_moved_mid_week_prompts_its_new_owner_at_the_next_tick(
    bot: Bot,
) -> None:
    await bot.command('objective add "Grow"')
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 owner @ana')
    await bot.command('kr add O-1 "Churn" from 5 to 3 owner @ben')
    done = await run_tick(bot, MONDAY_9_NEW_YORK)
    assert done.get("prompts planned") == 2, done
    queries = DueQueries(bot)
    try:
        # Nothing changed and no owner's slot came: the question is not asked again.
        for minute in range(1, 4):
            assert "prompts planned" not in await run_tick(bot, TUESDAY + timedelta(minutes=minute))
        assert queries.count == 0
        # KR-1 (created before this week began) moves to Cleo: she is due this week now.
        moved = await bot.command("kr edit KR-1 owner @cleo")
        assert "KR-1" in moved.text, moved.text
        done = await run_tick(bot, TUESDAY + timedelta(minutes=5))
        assert done.get("prompts planned") == 1, done
        assert queries.count == 1
        assert len(prompts_to(bot.slack, "U3")) == 1
        # Asked once, answered: the following ticks skip it again.
        await run_tick(bot, TUESDAY + timedelta(minutes=6))
        assert queries.count == 1
    finally:
        queries.close()
    assert [len(prompts_to(bot.slack, u)) for u in ("U1", "U2", "U3")] == [1, 1, 1]


async def test_the_next_owners_slot_makes_the_tick_ask_again(bot: Bot) -> None:
    await bot.command('objective add "Grow"')
    await bot.command('kr add O-1 "Weekly active teams" from 120 to 200 owner @ana')
    await bot.command('kr add O-1 "Churn" from 5 to 3 owner @ben')
    monday_9_madrid = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert (await run_tick(bot, monday_9_madrid)).get("prompts planned") == 1
    assert (await run_tick(bot, monday_9_madrid + timedelta(minutes=1))) == {}
    assert (await run_tick(bot, MONDAY_9_NEW_YORK)).get("prompts planned") == 1
    assert [len(prompts_to(bot.slack, u)) for u in ("U1", "U2")] == [1, 1]
