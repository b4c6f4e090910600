"""The sandbox in a real browser: Playwright driving Debian's Chromium (no download).

A person opens the page, adds an objective, moves the clock to Monday, answers the
prompt in the modal (a bad value first), triggers the KPI incident and acknowledges it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.app import RunningSandbox, start_sandbox
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS

IN_CI = os.environ.get("CI", "").lower() == "true"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is not installed (`make browser` installs Debian's chromium)"
    if IN_CI:
        pytest.fail(f"the browser test must run in CI: {message}")
    pytest.skip(message)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(
        port=0, database_url=f"sqlite:///{tmp_path / 'sandbox.db'}", demo_data=True
    )
    try:
        yield running
    finally:
        await running.close()
    running.sandbox.standin.assert_no_invalid_payloads()


async def test_a_person_checks_in_and_acknowledges_an_alert_in_the_browser(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=20_000)  # two shared cores: be patient, never flaky
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        step = "open the page"
        try:
            await page.goto(sandbox.url)
            await expect(page.locator("#whoami")).to_have_value("U0ANA")

            step = "add an objective from the composer"
            await page.click("[data-conv=C0GENERAL]")
            await page.fill("#composer", '/okr objective add "Ship the sandbox"')
            await page.press("#composer", "Enter")
            reply = page.locator(".msg.ephemeral", has_text="Created O-3")
            await expect(reply).to_contain_text("Ship the sandbox")
            await expect(reply).to_contain_text("Only visible to you")

            step = "move the clock to Monday and open the prompt"
            await page.click("#clock-monday")
            await page.click("[data-conv=DU0ANA]")
            prompt = page.locator(".msg", has_text="Your weekly check-in")
            await expect(prompt).to_contain_text("KR-1")
            await prompt.locator("[data-action-id='checkin_open_one:1']").click()
            modal = page.locator(".modal")
            await expect(modal).to_contain_text("Weekly check-in")

            step = "submit a bad value, then a good one"
            value = modal.locator("[data-block-id=kr1_value] input")
            await value.fill("abc")
            await modal.locator(".submit").click()
            await expect(modal.locator(".bk-error")).to_contain_text("must be a number")
            await value.fill("150")
            await modal.locator(".submit").click()
            await expect(modal).to_contain_text("Check-in saved")  # the save is confirmed
            await modal.locator(".cancel").click()
            await expect(modal).to_have_count(0)
            await expect(prompt).to_contain_text("Recorded 150 teams")
            await expect(prompt).to_contain_text("(edited)")

            step = "trigger the KPI incident and acknowledge the alert"
            await page.click("#incident")
            await page.click("[data-conv=C0GROWTH]")
            alert = page.locator(".msg", has_text="below its normal range")
            await expect(alert.locator(".bk-image img")).to_have_count(1)
            await alert.locator("[data-action-id=alert_ack]").click()
            await expect(alert).to_contain_text("acknowledged by @ana")
            await expect(alert.locator("[data-action-id=alert_ack]")).to_have_count(0)
            assert errors == [], errors
        except BaseException:
            shots = tmp_path / "screenshots"
            shots.mkdir(exist_ok=True)
            await page.screenshot(path=str(shots / "failure.png"), full_page=True)
            for conv in ("home", "C0GENERAL", "DU0ANA", "C0GROWTH"):
                await page.click(f"[data-conv={conv}]")
                await page.wait_for_timeout(300)
                await page.screenshot(path=str(shots / f"{conv}.png"), full_page=True)
            print(f"browser step failed: {step}; screenshots in {shots}")
            raise
        finally:
            await browser.close()


RENDERED = [
    {"type": "header", "text": {"type": "plain_text", "text": "Renderer check"}},
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*bold* _italic_ ~struck~ `code` <@U0ANA> <#C0GROWTH> "
            "<!date^1796544000^{date_short} at {time}|a fallback> <https://example.com|a link>",
        },
        "fields": [
            {"type": "mrkdwn", "text": "*Value*\n3.4%"},
            {"type": "mrkdwn", "text": "*Range*\n2–5%"},
        ],
        "accessory": {
            "type": "overflow",
            "action_id": "more",
            "options": [
                {"text": {"type": "plain_text", "text": "Edit"}, "value": "edit"},
                {"text": {"type": "plain_text", "text": "Delete"}, "value": "delete"},
            ],
        },
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "a context line"}]},
    {"type": "divider"},
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "style": "primary",
                "action_id": "go",
                "text": {"type": "plain_text", "text": "Go"},
                "value": "1",
            },
            {
                "type": "button",
                "style": "danger",
                "action_id": "stop",
                "text": {"type": "plain_text", "text": "Stop"},
                "value": "2",
            },
            {
                "type": "static_select",
                "action_id": "pick",
                "placeholder": {"type": "plain_text", "text": "Pick one"},
                "options": [
                    {"text": {"type": "plain_text", "text": "First"}, "value": "1"},
                    {"text": {"type": "plain_text", "text": "Second"}, "value": "2"},
                ],
            },
        ],
    },
]


async def test_the_page_renders_block_kit_as_slack_does(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    _require_chromium()
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=20_000)
    client = await sandbox.sandbox.services.clients.for_team(sandbox.sandbox.team_id)
    posted = await client.chat_postMessage(
        channel="C0GENERAL", text="Renderer check", blocks=RENDERED
    )
    await client.chat_postMessage(channel="C0GENERAL", text="a reply", thread_ts=posted["ts"])
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        page = await browser.new_page()
        try:
            await page.goto(sandbox.url)
            await page.click("[data-conv=C0GENERAL]")
            message = page.locator(".msg", has_text="Renderer check").first
            await expect(message.locator(".bk-header")).to_have_text("Renderer check")
            text = message.locator(".bk-section .bk-text").first
            await expect(text.locator("b")).to_have_text("bold")
            await expect(text.locator("i")).to_have_text("italic")
            await expect(text.locator("s")).to_have_text("struck")
            await expect(text.locator("code")).to_have_text("code")
            await expect(text.locator(".mention").nth(0)).to_have_text("@ana")
            await expect(text.locator(".mention").nth(1)).to_have_text("#growth")
            date = text.locator(".date")
            await expect(date).to_contain_text(" at ")  # ana's zone, not the fallback
            await expect(date).not_to_contain_text("fallback")
            await expect(text.locator("a")).to_have_attribute("href", "https://example.com")
            await expect(message.locator(".bk-fields > div")).to_have_count(2)
            await message.locator(".bk-overflow > button").click()
            await expect(message.locator(".bk-overflow-menu button")).to_have_text(
                ["Edit", "Delete"]
            )
            await expect(message.locator(".bk-context")).to_have_text("a context line")
            await expect(message.locator("hr.bk-divider")).to_have_count(1)
            await expect(message.locator(".bk-button.primary")).to_have_text("Go")
            await expect(message.locator(".bk-button.danger")).to_have_text("Stop")
            await expect(message.locator("select option")).to_have_count(3)
            await expect(message.locator(".thread-count")).to_have_text("1 reply")
            await expect(message.locator(".thread .msg")).to_contain_text("a reply")
            await message.locator(".payload-toggle").first.click()
            await expect(message.locator("pre.payload").first).to_contain_text('"overflow"')
        except BaseException:
            await page.screenshot(path=str(tmp_path / "renderer.png"), full_page=True)
            print(f"screenshot in {tmp_path / 'renderer.png'}")
            raise
        finally:
            await browser.close()
