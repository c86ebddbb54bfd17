"""fedmarket's scenario explorer: ``streamlit run app/streamlit_app.py`` (or ``fedmarket app``).

Pages: Scenario (pick or upload, edit, download), Run (live progress), Results (plots and
tables), Compare (two mechanisms or access modes), Sweep (one or two parameters),
Exploitability (what each attack gains over honest play, per mechanism). The current
scenario lives in ``st.session_state``; ``$FEDMARKET_APP_DEFAULT`` (an example name or a TOML
path) picks the scenario the app opens on, ``quickstart`` by default.
"""

from __future__ import annotations

import os

# Offline before anything imports huggingface_hub (it reads these once, on import).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402  (after the environment above, on purpose)

import streamlit as st  # noqa: E402

from app import state  # noqa: E402

HERE = Path(__file__).resolve().parent
PAGES = HERE / "app_pages"
#: Each page's file (under ``app_pages/``, also its URL path), title and icon; the first opens.
PAGE_LIST = (
    ("scenario", "Scenario", ":material/tune:"),
    ("run", "Run", ":material/play_arrow:"),
    ("results", "Results", ":material/monitoring:"),
    ("compare", "Compare", ":material/compare:"),
    ("sweep", "Sweep", ":material/grid_on:"),
    ("attacks", "Exploitability", ":material/shield:"),
)


def main() -> None:
    """Lay out the navigation and run the selected page."""
    st.set_page_config(page_title="fedmarket explorer", layout="wide")

    navigation = st.navigation(
        [
            st.Page(
                PAGES / f"{name}.py",
                title=title,
                icon=icon,
                url_path=name if i else None,
                default=not i,
            )
            for i, (name, title, icon) in enumerate(PAGE_LIST)
        ]
    )
    state.current(st.session_state)
    navigation.run()
    # After the page: an edit or a load on this rerun is already in the session.
    scenario = state.current(st.session_state)
    st.sidebar.caption(f"Current scenario: **{scenario.name}**")


# Streamlit runs this file as ``__main__``; the Sweep page's spawned worker processes import
# it as ``__mp_main__``, and must not lay out an app there.
if __name__ == "__main__":
    main()
