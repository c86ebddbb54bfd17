"""The explorer offers a registered plug-in like a built-in part (issue 28, part 4).

A fresh interpreter runs the app (Streamlit's AppTest) with ``FEDMARKET_PLUGINS`` naming
``examples/plugins/effort_share.py``; the scenario page's mechanism and strategy choices
must then include the plug-in's, and picking its mechanism must give a valid scenario.
Without the variable they must not (the broken variant: a page that reads a fixed list).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugins" / "effort_share.py"

SCRIPT = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not at.exception, at.exception
mechanisms = list(at.selectbox(key="mechanism").options)
chosen = None
if "effort_share" in mechanisms:
    at.selectbox(key="mechanism").set_value("effort_share").run()
    assert not at.exception, at.exception
    chosen = at.session_state["scenario"].market.mechanism
from agents.scenario.catalog import choices
print(json.dumps({"mechanisms": mechanisms, "chosen": chosen,
                  "strategies": list(choices("participants.any.strategy") or ())}))
"""


def _options(tiny_toml: Path, plugins: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "FEDMARKET_PLUGINS"}
    env.update(HF_HUB_OFFLINE="1", FEDMARKET_APP_DEFAULT=str(tiny_toml))
    if plugins is not None:
        env["FEDMARKET_PLUGINS"] = plugins
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "app" / "streamlit_app.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_explorer_offers_a_registered_plugin(tiny_toml: Path) -> None:
    loaded = _options(tiny_toml, str(PLUGIN))
    assert "effort_share" in loaded["mechanisms"]  # type: ignore[operator]
    assert loaded["chosen"] == "effort_share"
    assert "noise_adder" in loaded["strategies"]  # type: ignore[operator]
    plain = _options(tiny_toml, None)
    assert "effort_share" not in plain["mechanisms"]  # type: ignore[operator]
    assert "noise_adder" not in plain["strategies"]  # type: ignore[operator]
