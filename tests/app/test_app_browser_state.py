"""Widget state in a real browser: every widget follows the scenario after a load or upload.

AppTest does not keep the browser's copy of widget state, so the bug it misses (issue 17:
loading an example left Name, Rounds, Mode, Scoring and Mechanism on the previous scenario,
and the next edit wrote them into the new one) is only visible here. The app opens on the
tiny scenario; the test loads the ``free_riders`` example, edits the seed, and checks every
widget of ``app.state.WIDGETS`` and the TOML the page shows; then uploads a TOML of another
example and checks again.

Mutation tried: ``state.reset_widgets`` that leaves the widget keys as they are (only the
scenario changes, as in the old page) fails after the load: ``name`` still reads "tiny".
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from agents import Scenario
from agents.scenario import load_example
from app import state
from tests.app.helpers import BROWSER, CHROMIUM, CHROMIUM_ARGS

pytestmark = BROWSER
SELECTS = {k for k, p in state.WIDGETS.items() if p in state.CHOICES}
TOGGLES = {"secure_aggregation", "data_replace", "dp_enabled"}


def _shown(page: Any, key: str) -> Any:
    """What the browser shows in widget ``key`` (text, number, bool or ``None``: empty)."""
    box = page.locator(f".st-key-{key}")
    if key in TOGGLES:
        return box.locator("input").is_checked()
    if key in SELECTS:
        return box.locator("input[role='combobox']").input_value()
    text = box.locator("input").input_value()
    if key == "name":
        return text
    return float(text) if text.strip() else None


def _check_widgets(page: Any, expected: Scenario, timeout: float = 30.0) -> None:
    """Every widget shows ``expected``'s value (retried while a rerun may be in flight)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _compare_widgets(page, expected)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.wait_for_timeout(500)


def _compare_widgets(page: Any, expected: Scenario) -> None:
    for key, want in state.widget_values(expected).items():
        got = _shown(page, key)
        if key in TOGGLES or key == "name":
            assert got == want, (key, got, want)
        elif key in SELECTS:
            assert got == str(want), (key, got, want)
        elif want is None:
            assert got is None, (key, got, want)
        else:
            assert got is not None and math.isclose(got, want, abs_tol=0.006), (key, got, want)


def _shown_toml(page: Any) -> Scenario:
    page.locator("[data-testid='stExpander']").filter(has_text="TOML").last.locator(
        "summary"
    ).click()
    code = page.locator("[data-testid='stCode']").last
    code.wait_for()
    text = code.text_content()
    page.locator("[data-testid='stExpander']").filter(has_text="TOML").last.locator(
        "summary"
    ).click()
    return Scenario.from_toml_string(text)


def _settle(page: Any) -> None:
    """Wait until the rerun is over (Streamlit's status widget gone)."""
    page.wait_for_timeout(500)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=60_000)
    page.wait_for_timeout(300)


def test_load_edit_upload_keeps_every_widget_on_the_scenario(
    server: str, shots: Path, tmp_path: Path, tiny_toml: Path
) -> None:
    from playwright.sync_api import sync_playwright

    # Prepare: what the page must show after each step
    loaded = load_example("free_riders")
    edited = loaded.replace("seed", 1)
    uploaded = load_example("adversaries").replace("name", "uploaded_adversaries")
    upload_file = tmp_path / "uploaded.toml"
    upload_file.write_text(uploaded.to_toml(), encoding="utf-8")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(server, timeout=60_000)
            page.get_by_role("button", name="Load '").wait_for(timeout=60_000)
            _check_widgets(page, Scenario.from_toml(tiny_toml))

            # Execute 1: pick another example and load it
            page.locator(".st-key-example button[aria-label='Open']").click()
            page.get_by_role("option", name="free_riders", exact=True).click()
            _settle(page)
            page.get_by_role("button", name="Load '").click()
            _settle(page)

            # Assert 1: every widget reads the example, and so does the TOML and the sidebar
            _check_widgets(page, loaded)
            assert _shown_toml(page) == loaded
            assert "free_riders" in page.locator("[data-testid='stSidebar']").inner_text()

            # Execute 2: edit one field (the seed)
            seed = page.locator(".st-key-seed input")
            seed.fill("1")
            seed.press("Enter")
            _settle(page)

            # Assert 2: only the seed changed; nothing of the old scenario came back
            _check_widgets(page, edited)
            assert _shown_toml(page) == edited
            page.screenshot(path=str(shots / "scenario_page.png"), full_page=True)

            # Execute 3: upload another scenario as a TOML file
            page.get_by_text("Upload TOML").click()
            _settle(page)
            page.locator(".st-key-upload input[type='file']").set_input_files(str(upload_file))
            _settle(page)
            page.screenshot(path=str(shots / "scenario_uploaded.png"), full_page=True)

            # Assert 3: every widget reads the uploaded file
            _check_widgets(page, uploaded)
            assert _shown_toml(page) == uploaded
            assert page.locator("[data-testid='stException']").count() == 0
        finally:
            browser.close()
