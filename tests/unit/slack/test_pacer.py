"""The shared Slack budget: what a 429 pauses, for whom, and how Retry-After is read."""

from __future__ import annotations

from slack_sdk.http_retry.response import HttpResponse

from bot.slack.clients import retry_after
from bot.slack.pacer import Pacer, is_channel


def test_a_429_pauses_the_teams_method_for_everyone_and_nothing_else() -> None:
    seen: list[str] = []
    pacer = Pacer(50, on_rate_limited=seen.append)
    pacer.pause("T1", "chat.postMessage", 30)
    assert pacer.paused_for("T1", "chat.postMessage") > 25
    assert pacer.paused_for("T2", "chat.postMessage") == 0  # another workspace
    assert pacer.paused_for("T1", "chat.update") == 0  # another method
    pacer.pause("T1", "chat.postMessage", 1)  # a shorter pause never shortens a longer one
    assert pacer.paused_for("T1", "chat.postMessage") > 25
    assert seen == ["chat.postMessage", "chat.postMessage"]


async def test_calls_within_the_budget_go_out_at_once() -> None:
    pacer = Pacer(50)
    await pacer.wait("T1", "chat.postMessage", "U1")
    await pacer.wait("T1", "auth.test")  # not tiered
    await pacer.wait("T1", "users.info")


def test_channels_are_paced_and_direct_messages_to_a_user_are_not() -> None:
    assert is_channel("C123") and is_channel("G123")
    assert not is_channel("U123") and not is_channel("D123") and not is_channel(None)


def test_retry_after_is_read_whatever_its_case_and_defaults_to_one_second() -> None:
    assert retry_after(HttpResponse(status_code=429, headers={"Retry-After": ["7"]})) == 7
    assert retry_after(HttpResponse(status_code=429, headers={"retry-after": ["2"]})) == 2
    assert retry_after(HttpResponse(status_code=429, headers={})) == 1
    assert retry_after(HttpResponse(status_code=429, headers={"Retry-After": ["soon"]})) == 1
