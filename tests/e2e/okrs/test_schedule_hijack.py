"""Issue 11, finding 6: a member cannot move other owners' check-in slot with a decoy
objective of their own in the channel."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Schedule
from tests.support.harness import Bot


async def slots(bot: Bot) -> dict[str, tuple[int, str]]:
    async with bot.services.db.session() as session:
        rows = (await session.scalars(select(Schedule))).all()
        return {row.channel_id: (row.weekday, row.local_time) for row in rows}


async def test_finding_6_a_decoy_objective_does_not_win_the_channel_slot(bot: Bot) -> None:
    await bot.command('objective add "Real work" channel #growth', user="U1")
    assert "Friday 15:00" in (await bot.command("schedule friday 15:00 #growth", user="U1")).text

    refused = await bot.command("schedule sunday 03:00 #growth", user="U3")
    assert "only a workspace admin" in refused.text.lower()
    decoy = await bot.command('objective add "Decoy" channel #growth', user="U3")
    assert "O-2" in decoy.text
    again = await bot.command("schedule sunday 03:00 #growth", user="U3")
    assert "only a workspace admin" in again.text.lower()  # owning one of two is not enough
    await bot.command("objective delete O-2", user="U3")
    assert await slots(bot) == {"C2": (4, "15:00")}  # the owners' slot is untouched

    # Whoever owns every active objective there may; so may an admin.
    assert "Saturday" in (await bot.command("schedule saturday 10:00 #growth", user="U1")).text
    assert "Monday" in (await bot.command("schedule monday 08:00 #growth", user="UADMIN")).text
    assert await slots(bot) == {"C2": (0, "08:00")}


async def test_finding_6_an_empty_channel_is_the_admins_to_schedule(bot: Bot) -> None:
    refused = await bot.command("schedule friday 15:00 #platform", user="U1")
    assert "only a workspace admin" in refused.text.lower()
    assert await slots(bot) == {}
