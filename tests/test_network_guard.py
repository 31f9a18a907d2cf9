"""The network guard: no test reaches beyond loopback, and one that tries fails loudly.

pytest-socket (``--allow-hosts`` in pyproject.toml) blocks a connection to any other host, but
its error is a RuntimeError, which tracker's HTTP client turns into an ordinary ``invalid``
source outcome: a test that went online by mistake would still pass. tests/conftest.py records
every blocked attempt (and refuses DNS lookups of non-loopback names, which pytest-socket lets
through) and fails the test, naming the host.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError

from tracker.config import FetchSettings, SourceSettings
from tracker.models import Outcome, SourceResult
from tracker.sources import SPOT
from tracker.sources.http import fetch_one, make_client

REPO = Path(__file__).resolve().parents[1]
ALLOW = "--allow-hosts=127.0.0.1,::1,localhost"


def test_connecting_to_a_public_address_is_blocked_and_recorded(
    blocked_network: list[str],
) -> None:
    with socket.socket() as s, pytest.warns(UserWarning), pytest.raises(SocketConnectBlockedError):
        s.connect(("192.0.2.1", 443))
    assert blocked_network == ["connect to 192.0.2.1"]
    blocked_network.clear()  # seen and expected: this test is about the block itself


def test_resolving_a_public_name_is_blocked_and_recorded(blocked_network: list[str]) -> None:
    with pytest.warns(UserWarning), pytest.raises(SocketBlockedError):
        socket.getaddrinfo("api.kraken.com", 443)
    assert blocked_network == ["resolve 'api.kraken.com'"]
    blocked_network.clear()


def test_loopback_stays_open(blocked_network: list[str]) -> None:
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert blocked_network == []


def ask(base_url: str) -> SourceResult:
    """Ask kraken at ``base_url`` through tracker's own client and fetch_one, no retries."""
    settings = SourceSettings(base_url=base_url, timeout_s=2.0)

    async def go() -> SourceResult:
        async with make_client() as client:
            return await fetch_one(
                client,
                SPOT["kraken"],
                settings,
                FetchSettings(retries=0),
                deadline=time.monotonic() + 5,
            )

    return asyncio.run(go())


def test_without_the_guard_a_blocked_fetch_is_just_an_invalid_outcome(
    blocked_network: list[str],
) -> None:
    # What pytest-socket alone gives: no exception reaches the test, so it would pass.
    with pytest.warns(UserWarning, match="192.0.2.1"):
        result = ask("https://192.0.2.1")
    assert result.outcome is Outcome.INVALID
    assert result.reason is not None and result.reason.startswith("unexpected ")
    assert blocked_network == ["connect to 192.0.2.1"]
    blocked_network.clear()


ONLINE_BY_MISTAKE = """
    from tracker.models import Outcome
    from tests.test_network_guard import ask


    def test_by_address():
        assert ask("https://192.0.2.1").outcome is Outcome.INVALID


    def test_by_name():
        ask("https://api.kraken.com")
"""


def test_a_test_that_goes_online_by_mistake_fails(tmp_path: Path) -> None:
    (tmp_path / "test_online.py").write_text(textwrap.dedent(ONLINE_BY_MISTAKE))
    # Only the plugins this needs (autoloading every installed one costs a second).
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env["COLUMNS"] = "300"  # the summary lines whole
    plugins = ["-p", "pytest_socket", "-p", "tests.conftest", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rf", *plugins, ALLOW, "test_online.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "2 failed" in out
    summary = [line for line in out.splitlines() if line.startswith("FAILED")]
    tried = "tried to reach the network:"
    assert sorted(summary) == [
        f"FAILED test_online.py::test_by_address - {tried} connect to 192.0.2.1",
        f"FAILED test_online.py::test_by_name - {tried} resolve 'api.kraken.com'",
    ]
