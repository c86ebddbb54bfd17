"""``fedmarket app``: the explorer as a Streamlit child process bound to loopback only.

Streamlit runs as a child of the command; SIGTERM, SIGINT and SIGHUP sent to the command are
passed on to it and the command waits until it has exited, so the port is free when
``fedmarket app`` returns (``tests/app/test_app_binding.py``).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent / "streamlit_app.py"
MAX_UPLOAD_MB = 1
"""A scenario file is at most 256 KiB (:data:`agents.scenario.limits.MAX_FILE_BYTES`)."""


def streamlit_command(port: int) -> list[str]:
    """``streamlit run`` of the explorer on ``127.0.0.1:port``, headless, no telemetry."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PAGE),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--server.maxUploadSize",
        str(MAX_UPLOAD_MB),
    ]


def run_forwarding_signals(command: list[str], grace_s: float = 10.0) -> int:
    """Run ``command`` as a child, pass SIGTERM, SIGINT and SIGHUP on to it, and wait.

    The exit status is the child's (``128 + N`` when signal ``N`` ended it). Should this
    process leave the wait early (an exception), the child is terminated, then killed after
    ``grace_s`` seconds: it never outlives the command holding a port.
    """
    child = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, forward) for sig in forwarded}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop(child, grace_s)
    return 128 - code if code < 0 else code


def stop(child: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """Terminate ``child`` if it still runs, and kill it after ``grace_s`` seconds."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def launch(port: int) -> int:
    """Serve the explorer on ``127.0.0.1:port`` until it exits; its exit status."""
    return run_forwarding_signals(streamlit_command(port))
