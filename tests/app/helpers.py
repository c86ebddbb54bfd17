"""What the app's server, binding and browser tests share: ports, children, Chromium."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.launch import stop

__all__ = ["BROWSER", "CHROMIUM", "CHROMIUM_ARGS", "free_port", "stop"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not at /usr/bin/chromium (CI installs it with apt-get)",
    ),
]
"""The marks of a test that drives a real Chromium (``pytestmark = BROWSER``)."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
