"""The real thing: Streamlit as a server, Debian's Chromium driven by Playwright.

Starts ``streamlit run app/streamlit_app.py`` on a free port of 127.0.0.1 (opening on the tiny
scenario through ``$FEDMARKET_APP_DEFAULT``), opens the Run page, clicks Run, waits for the
accuracy chart and saves a screenshot under the test's tmp dir. Needs ``/usr/bin/chromium``
(``apt-get install chromium``; never ``playwright install``).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.app.helpers import BROWSER, CHROMIUM, CHROMIUM_ARGS

pytestmark = BROWSER


def test_click_run_and_screenshot_the_accuracy_chart(server: str, shots: Path) -> None:
    from playwright.sync_api import sync_playwright

    screenshot = shots / "run_page.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            # Prepare: the Run page, opened on the tiny scenario
            page.goto(f"{server}/run", timeout=60_000)
            run_button = page.locator(".st-key-run button")
            run_button.wait_for(timeout=60_000)
            assert "tiny" in page.locator("[data-testid='stCaptionContainer']").first.inner_text()

            # Execute
            run_button.click()
            chart = page.locator(".js-plotly-plot").filter(has_text="Accuracy per round")
            chart.wait_for(timeout=120_000)
            page.wait_for_timeout(1_000)  # let plotly finish drawing
            page.screenshot(path=str(screenshot), full_page=True)

            # Assert: the run finished in the page, with its metrics
            assert page.get_by_text("Final test accuracy").count() >= 1
            assert page.locator("[data-testid='stException']").count() == 0

            # The Results page of that run (the sidebar link keeps the session)
            page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Results").click()
            page.get_by_text("Why these payoffs").wait_for(timeout=60_000)
            page.wait_for_timeout(2_000)
            page.screenshot(path=str(shots / "results_page.png"), full_page=True)
            assert page.locator("[data-testid='stException']").count() == 0
        finally:
            browser.close()

    assert screenshot.is_file() and screenshot.stat().st_size > 20_000
    with Image.open(screenshot) as image:
        assert image.width >= 1000 and image.height >= 600
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colors is not None and len(colors) > 50, "the screenshot is (nearly) blank"
