"""Standing protection (issue 11, finding 1): the bot keeps answering while strangers keep
four unsigned 8 MB bodies in flight. The goal is 1 s (`bench/hostile_load.py` prints the
numbers); the bound here is Slack's 3 s, so a busy machine cannot make it flake."""

from __future__ import annotations

import pytest

from tests.support.harness import Bot
from tests.support.hostile_load import hostile_load

# A load test: beside three other workers its strangers' process takes a core they need.
pytestmark = pytest.mark.serial


async def test_health_and_commands_answer_while_hostile_bodies_are_in_flight(bot: Bot) -> None:
    result = await hostile_load(bot.url, bot.sender, bot.slack.new_response_url(), seconds=3.0)
    assert result.healthz.seconds and result.help.seconds, result.lines()
    assert set(result.healthz.statuses) == {200} and set(result.help.statuses) == {200}
    assert result.healthz.worst < 3.0, result.lines()
    assert result.help.worst < 3.0, result.lines()
    # Every hostile body was refused, none parsed: 401 (unsigned, forged) or 413 (too big).
    assert result.hostile_bodies_started >= 4
    assert set(result.hostile_answers) <= {0, 401, 413}, result.hostile_answers
