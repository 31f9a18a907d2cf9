"""`tracker serve` as a real process on loopback (beside a writer, stopped by Ctrl-C and
SIGTERM), its host and port checks, its light import, and its systemd unit."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from tests.service_support import TrackerProcess
from tests.test_deploy import unit_keys

Run = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "tracker-web.service"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served(TrackerProcess):
    """`tracker serve --port PORT` in ``cwd`` on ``db``, its stderr in a file."""

    stop_timeout = 20

    def __init__(self, cwd: Path, db: str) -> None:
        self.port = free_port()
        env = {"PATH": "/usr/bin:/bin", "TRACKER_DATABASE_URL": db, "HOME": str(cwd)}
        super().__init__(cwd, "serve", "--port", str(self.port), name="serve", env=env)
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < end, self.text()
            if "Application startup complete" in self.text():
                try:
                    self.get("/api/openapi.json")
                    break
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        assert f"tracker: serving on {self.base}/" in self.text()

    def get(self, path: str, **kw: object) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, **kw)  # type: ignore[arg-type]


@pytest.fixture
def served(tmp_path: Path, db_url: str, run_cli: Run) -> Iterator[Served]:
    assert run_cli("db", "upgrade", db=db_url).exit_code == 0
    server = Served(tmp_path, db_url)
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


def test_serve_answers_beside_a_writer_and_ctrl_c_exits_130(
    served: Served, run_cli: Run, db_url: str
) -> None:
    r = served.get("/api/report?at=2025-04-14")
    assert r.status_code == 200 and r.json()["holders"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "server" not in r.headers  # no software banner
    assert served.get("/api/report", headers={"If-None-Match": r.headers["etag"]}).status_code in (
        200,
        304,
    )
    tag = served.get("/api/holders/el-salvador").headers["etag"]
    # a writer on the same database while it serves (as `tracker run` or `holdings add` are)
    added = run_cli(
        "holdings", "add", "el-salvador", "--as-of", "2025-04-10", "--basis", "official",
        "--btc", "6200", "--source", "test", db=db_url,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    end = time.monotonic() + 10
    while True:  # the store's version is read at most once a second
        now = served.get("/api/holders/el-salvador", headers={"If-None-Match": tag})
        if now.status_code == 200:
            break
        assert now.status_code == 304 and time.monotonic() < end
        time.sleep(0.2)
    assert "6200" in [o["btc"] for o in now.json()["observations"]]
    assert served.stop(signal.SIGINT) == 130
    text = served.text()
    assert "tracker: interrupted" in text and "Traceback" not in text


def test_sigterm_stops_it_with_0(served: Served) -> None:
    assert served.get("/api/status").status_code == 200
    assert served.stop(signal.SIGTERM) == 0
    assert "Traceback" not in served.text()


def test_a_port_in_use_is_one_line_and_exit_1(run_cli: Run) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"tracker: error: cannot serve on 127.0.0.1:{port}:")
    assert len(result.stderr.splitlines()) == 1


def test_only_loopback_is_quiet(run_cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    ran: list[object] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: ran.append(sockets))
    quiet = run_cli("serve", "--port", str(free_port()))
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
    loud = run_cli("serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert loud.exit_code == 0
    assert "tracker: warning: serving on 0.0.0.0:" in loud.stderr
    assert "reachable from other machines" in loud.stderr
    assert len(ran) == 2


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
     ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    from tracker.cli.serve import is_loopback

    assert is_loopback(host) is loopback


def test_the_cli_does_not_import_the_web_stack() -> None:
    code = (
        "import sys, tracker.cli; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2', 'tracker.web') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- deploy/tracker-web.service -----------------------------------------------------------------


def test_the_web_unit_serves_on_loopback_and_restarts_within_limits() -> None:
    sections = unit_keys(UNIT.read_text())
    unit, service = dict(sections["Unit"]), dict(sections["Service"])
    assert re.fullmatch(
        r"/opt/tracker/venv/bin/tracker serve --host 127\.0\.0\.1 --port \d+", service["ExecStart"]
    )
    assert service["Restart"] == "on-failure" and "TimeoutStopSec" in service
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= set(unit)
    assert unit["Documentation"].endswith("docs/web.md")
    assert service["User"] == "tracker" and service["NoNewPrivileges"] == "yes"
    # the same database as deploy/tracker.service, whose directory SQLite's WAL needs
    run_unit = dict(unit_keys((ROOT / "deploy" / "tracker.service").read_text())["Service"])
    env = [v for k, v in sections["Service"] if k == "Environment"]
    assert any("TRACKER_DATABASE_URL" in v for v in env)
    assert service["ReadWritePaths"] == run_unit["ReadWritePaths"]
    assert "tracker-web.service" in (ROOT / "docs" / "web.md").read_text()


def test_systemd_analyze_accepts_the_web_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable} -m tracker", UNIT.read_text(),
                  flags=re.M)  # fmt: skip
    unit = tmp_path / "tracker-web.service"
    unit.write_text(text)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    said = (result.stdout + result.stderr).splitlines()
    complaints = [
        s for s in said if "tracker-web.service" in s or "Unknown" in s or "ignoring" in s
    ]
    assert result.returncode == 0 and complaints == [], said
