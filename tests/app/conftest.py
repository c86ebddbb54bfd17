"""Shared setup of the app tests: a tiny scenario the app opens on, and an AppTest factory.

The scenario is small enough that a run takes seconds on 2 cores: the tiny random BERT in
head mode, 3 participants, 2 rounds, exact Shapley values, secure aggregation on (so the
neighbour graph and the secure-aggregation charts have something to show).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import free_port, stop

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "app" / "streamlit_app.py"
PAGES = {
    "scenario": "app_pages/scenario.py",
    "run": "app_pages/run.py",
    "results": "app_pages/results.py",
    "compare": "app_pages/compare.py",
    "sweep": "app_pages/sweep.py",
    "attacks": "app_pages/attacks.py",
}
#: Set to a folder to keep the browser tests' screenshots (to look at them).
SCREENSHOT_ENV = "FEDMARKET_SCREENSHOTS"
RUN_TIMEOUT = 180.0  # seconds for a script run that simulates (generous for a busy CI box)

TINY_TOML = """\
name = "tiny"
rounds = 2
seed = 0

[model]
mode = "head"
backbone = "tiny"

[data]
val_size = 100
utility_subset = 50

[train]
lr = 0.05

[market]
scoring = "exact"
mechanism = "shapley_fair"
utility_metric = "neg_loss"
round_budget = 100.0

[privacy]
secure_aggregation = true
access = "secure_coalitions"

[participants.honest]
count = 2
data_size = 60

[participants.free_rider]
count = 1
data_size = 60
strategy = "free_rider"
"""


@pytest.fixture(scope="session")
def tiny_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny scenario as a TOML file."""
    path = tmp_path_factory.mktemp("app-scenario") / "tiny.toml"
    path.write_text(TINY_TOML, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _tiny_default(tiny_toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every app under test opens on the tiny scenario (``$FEDMARKET_APP_DEFAULT``)."""
    monkeypatch.setenv("FEDMARKET_APP_DEFAULT", str(tiny_toml))


@pytest.fixture
def app() -> Callable[[str], AppTest]:
    """Start the app from its entry point and switch to a page (by short name)."""

    def start(page: str = "scenario") -> AppTest:
        at = AppTest.from_file(str(ENTRY), default_timeout=RUN_TIMEOUT).run()
        assert not at.exception, at.exception
        if page != "scenario":
            at.switch_page(PAGES[page]).run()
            assert not at.exception, at.exception
        return at

    return start


def _errors(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.error]


def _decode(node: Any) -> Any:
    """Plotly's JSON with its typed arrays (``{"bdata": base64, "dtype": ...}``) as lists."""
    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            array = np.frombuffer(base64.b64decode(node["bdata"]), dtype=node["dtype"])
            if "shape" in node:
                array = array.reshape([int(n) for n in str(node["shape"]).split(",")])
            return array.tolist()
        return {key: _decode(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decode(value) for value in node]
    return node


def _charts(at: AppTest) -> dict[str, dict[str, Any]]:
    return {el.key: _decode(json.loads(el.proto.spec)) for el in at.get("plotly_chart") if el.key}


@pytest.fixture
def errors() -> Callable[[AppTest], list[str]]:
    """The text of every ``st.error`` on the page."""
    return _errors


@pytest.fixture
def charts() -> Callable[[AppTest], dict[str, dict[str, Any]]]:
    """Plotly charts on the page by key, as their figure JSON."""
    return _charts


# ----- the real server, for the browser tests -----
def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"streamlit did not answer within {timeout} s:\n{log.read_text()}")


@pytest.fixture
def server(tiny_toml: Path, tmp_path: Path) -> Iterator[str]:
    """The app served on a free local port; always stopped afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "FEDMARKET_APP_DEFAULT": str(tiny_toml), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "streamlit", "run", str(ENTRY),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(url, process, log, timeout=90)
            yield url
        finally:
            stop(process)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$FEDMARKET_SCREENSHOTS`` if set, else the test's tmp dir."""
    folder = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
