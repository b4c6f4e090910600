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
