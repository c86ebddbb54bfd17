"""The explorer listens on 127.0.0.1 however it is started, and stops cleanly on SIGTERM.

Issue 27, part 5 (M3). Real Streamlit servers on free local ports (each stopped afterwards):
``streamlit run app/streamlit_app.py`` from the repository root (``.streamlit/config.toml``)
and from another folder (``app/.streamlit/config.toml``, read next to the page) must listen
on loopback only, and not answer on the machine's other addresses; ``fedmarket app`` must
pass SIGTERM on to its Streamlit child and wait for it, so that the port is free when it
exits. Each check also runs against a broken variant (a page without the config; the old
``subprocess.call`` launcher) to show that it catches the fault.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tests.app.helpers import free_port, stop

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "app" / "streamlit_app.py"
STARTUP_S = 90.0


def _listening(port: int) -> list[tuple[str, int]]:
    """(address, pid) of every socket listening on ``port``, on any address."""
    return [
        (c.laddr.ip, c.pid or 0)
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> list[str]:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{log.read_text()}")
        if found := _listening(port):
            time.sleep(0.3)  # an IPv6 socket may follow the IPv4 one
            return sorted({address for address, _ in _listening(port)} or {a for a, _ in found})
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} within {STARTUP_S} s:\n{log.read_text()}")


def _other_addresses() -> list[str]:
    """The machine's IPv4 addresses other than loopback."""
    return [
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]


def _answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server restarting
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextmanager
def _streamlit(page: Path, cwd: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``streamlit run PAGE --server.port PORT`` from ``cwd``, no address given; stopped."""
    command = [sys.executable, "-m", "streamlit", "run", str(page), "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.fileWatcherType", "none"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(cwd)}  # no ~/.streamlit config
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            stop(process)


def _assert_loopback_only(addresses: list[str], port: int) -> None:
    assert addresses and set(addresses) <= {"127.0.0.1"}, addresses
    for other in _other_addresses():
        assert not _answers(other, port), f"answers on {other}:{port}"


@pytest.mark.parametrize("where", ["repository root", "another folder"])
def test_streamlit_run_listens_on_loopback_only(where: str, tmp_path: Path) -> None:
    # Prepare
    cwd = ROOT if where == "repository root" else tmp_path
    port = free_port()
    # Execute
    with _streamlit(PAGE, cwd, port, tmp_path / "streamlit.log") as process:
        addresses = _wait_listening(port, process, tmp_path / "streamlit.log")
        # Assert
        _assert_loopback_only(addresses, port)


def test_the_binding_check_catches_a_page_without_the_config(tmp_path: Path) -> None:
    # broken variant: a page with no .streamlit config listens on every interface
    page = tmp_path / "page.py"
    page.write_text("import streamlit as st\nst.write('hi')\n")
    port = free_port()
    with _streamlit(page, tmp_path, port, tmp_path / "streamlit.log") as process:
        addresses = _wait_listening(port, process, tmp_path / "streamlit.log")
        with pytest.raises(AssertionError):
            _assert_loopback_only(addresses, port)


def _launch(command: list[str], tmp_path: Path, port: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start a launcher; wait until its Streamlit child listens; (launcher, child pid)."""
    log = tmp_path / "launcher.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as out:
        launcher = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=out)
    _wait_listening(port, launcher, log)
    owners = {pid for _, pid in _listening(port)}
    children = {c.pid for c in psutil.Process(launcher.pid).children(recursive=True)}
    assert owners and owners <= children, (owners, children)
    return launcher, owners.pop()


def _gone(pid: int, timeout: float) -> bool:
    try:
        psutil.Process(pid).wait(timeout=timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


def _kill(pid: int) -> None:
    try:
        psutil.Process(pid).kill()
    except psutil.NoSuchProcess:
        pass


def test_fedmarket_app_stops_streamlit_on_sigterm(tmp_path: Path) -> None:
    # Prepare
    port = free_port()
    command = [sys.executable, "-m", "agents.cli", "app", "--port", str(port)]
    launcher, child = _launch(command, tmp_path, port)
    try:
        _assert_loopback_only(sorted({a for a, _ in _listening(port)}), port)
        # Execute
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=20)
        # Assert: the child went with it and the port is free at once
        assert _gone(child, timeout=0.5), "streamlit outlived fedmarket app"
        assert _port_free(port)
        assert launcher.returncode in (0, 128 + signal.SIGTERM), launcher.returncode
    finally:
        stop(launcher)
        _kill(child)


def test_the_sigterm_check_catches_a_launcher_that_does_not_forward(tmp_path: Path) -> None:
    # broken variant: the old ``subprocess.call`` launcher dies alone and leaves the port held
    port = free_port()
    streamlit = [sys.executable, "-m", "streamlit", "run", str(PAGE), "--server.port", str(port)]
    streamlit += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    command = [sys.executable, "-c", f"import subprocess; subprocess.call({streamlit!r})"]
    launcher, child = _launch(command, tmp_path, port)
    try:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=20)
        assert not _gone(child, timeout=2.0)
        assert not _port_free(port)
    finally:
        stop(launcher)
        _kill(child)
        _gone(child, timeout=10)
