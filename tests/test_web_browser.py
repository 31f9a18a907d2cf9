"""The web view in a real browser: headless Chromium (the system's package, driven by Playwright)
against a live `tracker serve` on 127.0.0.1, over a fresh SQLite database holding the shipped
ledger and the bundled prices (what a fresh install shows offline).

What a reader would see: no console errors and no failed or off-host request; every sovereign of
`tracker report` in the table with its bound mark; a chart drawn; a holder page reached by its
link, whose ledger links each observation to its source; a 390-pixel-wide phone screen without
horizontal scrolling. The screenshots in docs/ (web-overview.png, web-holder.png, web-phone.png)
are taken here: `TRACKER_UPDATE_DOCS=1 python3 -m pytest tests/test_web_browser.py` rewrites
them; otherwise they go to a temporary directory.

Skipped, saying why, when Chromium or Playwright is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
MARKS = {"at_least": "≥", "approximate": "~", "exact": ""}
START_TIMEOUT_S = 60.0


def _chromium() -> str | None:
    """The system's Chromium (Debian's `chromium`), or $TRACKER_TEST_CHROMIUM."""
    named = os.environ.get("TRACKER_TEST_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(
        sync_playwright is None,
        reason="Playwright for Python is not installed (pip install -e '.[test]'; .ci/run does)",
    ),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no system Chromium (apt-get install chromium; .ci/run does)",
    ),
    pytest.mark.slow,
]


# --- the live server ---------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def cli_json(self, *args: str) -> Any:
        """`tracker ARGS --format json` on the server's database, in a new process."""
        done = subprocess.run(
            [sys.executable, "-m", "tracker", *args, "--format", "json"],
            env=self.env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        return json.loads(done.stdout)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"tracker serve exited with {process.returncode}: {err.decode()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/status", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"tracker serve did not answer at {base} within {START_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`tracker serve` on a free loopback port over a fresh database (ledger + bundled prices)."""
    home = tmp_path_factory.mktemp("web")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env |= {
        "TRACKER_DATABASE_URL": f"sqlite:///{home / 'tracker.db'}",
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "COLUMNS": "80",
    }
    created = subprocess.run(
        [sys.executable, "-m", "tracker", "db", "upgrade"],
        env=env,
        cwd=home,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr.decode()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield Server(base=base, env=env, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="module")
def report(server: Server) -> dict[str, Any]:
    """What `tracker report --offline --format json` says on the same database."""
    data: dict[str, Any] = server.cli_json("report", "--offline")
    return data


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page and everything that went wrong while it was open."""

    page: Page
    problems: list[str] = field(default_factory=list)

    def goto(self, url: str) -> None:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, (url, response and response.status)

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def _watch(page: Page, base: str) -> Watched:
    watched = Watched(page)
    problems = watched.problems
    host = urlsplit(base).netloc

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == host or r.request.url.startswith(("data:", "about:")):
            r.continue_()
        else:  # nothing is loaded from another host
            problems.append(f"off-host request: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "requestfailed",
        lambda r: problems.append(f"failed request: {r.url} ({r.failure})"),
    )
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    return watched


@pytest.fixture
def desktop(browser: Browser, server: Server) -> Iterator[Watched]:
    context = browser.new_context(viewport=DESKTOP, base_url=server.base)
    try:
        yield _watch(context.new_page(), server.base)
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser, server: Server) -> Iterator[Watched]:
    context = browser.new_context(
        viewport=PHONE, base_url=server.base, is_mobile=True, has_touch=True,
        device_scale_factor=2,
    )  # fmt: skip
    try:
        yield _watch(context.new_page(), server.base)
    finally:
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/ when regenerating the docs, else a temporary directory."""
    return DOCS if os.environ.get("TRACKER_UPDATE_DOCS") == "1" else tmp_path


# --- helpers over the page ---------------------------------------------------------------------


def _compact(text: str) -> str:
    """Text with every kind of space removed: '≥ 6,100' and '≥6,100' read the same."""
    return "".join(text.split()).replace("\u202f", "").replace("\u2009", "")


def _grouped(btc: str) -> str:
    """The integer part of an amount, grouped as the report prints it: '328000.5' -> '328,000'."""
    return f"{int(btc.split('.')[0]):,}"


def _row_text(page: Page, name: str) -> str:
    """The text of the first table row naming this holder (its name, exactly, in a cell)."""
    texts: list[str] = page.eval_on_selector_all(
        "table tr",
        """(rows, name) => rows
            .filter(r => [...r.querySelectorAll('th, td')].some(c => c.innerText.trim() === name
                || [...c.querySelectorAll('a')].some(a => a.innerText.trim() === name)))
            .map(r => r.innerText)""",
        name,
    )
    assert texts, f"no table row names {name!r}"
    return texts[0]


def _drawn_charts(page: Page) -> list[dict[str, float]]:
    """The size of every <svg> that holds a non-empty line (path or polyline)."""
    sizes: list[dict[str, float]] = page.eval_on_selector_all(
        "svg",
        """svgs => svgs
            .filter(s => [...s.querySelectorAll('path, polyline')].some(e => {
                const b = e.getBBox();
                return (b.width > 0 || b.height > 0)
                    && ((e.getAttribute('d') || '').length > 2
                        || (e.getAttribute('points') || '').trim().length > 0);
            }))
            .map(s => { const r = s.getBoundingClientRect();
                        return {width: r.width, height: r.height}; })""",
    )
    return [s for s in sizes if s["width"] > 0 and s["height"] > 0]


def _no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert widths[0] <= PHONE["width"] and widths[1] <= PHONE["width"], (
        f"scrollWidth {widths[0]} (body {widths[1]}) on a {widths[2]}-pixel viewport"
    )


# --- the tests ---------------------------------------------------------------------------------


def test_overview_shows_every_sovereign_with_its_bound(
    desktop: Watched, report: dict[str, Any], shots: Path
) -> None:
    desktop.goto("/")
    page = desktop.page
    holders = report["holders"]
    assert len(holders) >= 10  # the shipped ledger, not an empty database
    for holder in holders:
        row = _compact(_row_text(page, holder["name"]))
        if holder["btc"] is None:
            assert "undisclosed" in row.lower() or "nodata" in row.lower(), (holder["slug"], row)
            continue
        shown = f"{MARKS[holder['bound']]}{_grouped(holder['btc'])}"
        assert shown in row, (holder["slug"], shown, row)
    marks = _compact(page.inner_text("body"))
    assert "≥" in marks and "~" in marks
    for excluded in report["excluded"]:  # "not counted", apart from the sovereigns
        assert excluded["name"] in page.inner_text("body")
    page.screenshot(path=str(shots / "web-overview.png"))
    desktop.assert_clean()


def test_overview_draws_its_chart(desktop: Watched) -> None:
    desktop.goto("/")
    charts = _drawn_charts(desktop.page)
    assert charts, "no <svg> with a drawn path or polyline on /"
    assert max(c["width"] for c in charts) >= 200, charts  # a chart, not an icon
    desktop.assert_clean()


def test_holder_page_is_linked_and_cites_its_sources(
    desktop: Watched, server: Server, report: dict[str, Any], shots: Path
) -> None:
    desktop.goto("/")
    page = desktop.page
    holder = next(h for h in report["holders"] if h["slug"] == "germany")  # parts and links
    link = page.locator(f'a[href$="/holders/{holder["slug"]}"]').first
    link.click()
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == f"/holders/{holder['slug']}"
    assert holder["name"] in page.inner_text("h1")
    ledger = server.cli_json("holdings", "list", "--holder", holder["slug"])
    observations = ledger["holders"][0]["observations"]
    assert len(observations) >= 2
    hrefs = set(page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"))
    for obs in observations:
        if obs["url"]:
            assert obs["url"] in hrefs, f"observation {obs['id']} does not link to {obs['url']}"
    in_rows: list[str] = page.eval_on_selector_all(
        "table tr a[href]", "as => as.map(a => a.getAttribute('href'))"
    )
    outward = [h for h in in_rows if not h.startswith(("/", "#", "?"))]
    assert outward, "no row of the holder's tables links to a source"
    assert all(h.startswith(("https://", "http://")) for h in outward), outward
    assert _drawn_charts(page), "no history chart on the holder page"
    page.screenshot(path=str(shots / "web-holder.png"))
    desktop.assert_clean()


def test_overview_fits_a_phone(phone: Watched, shots: Path) -> None:
    phone.goto("/")
    _no_horizontal_scroll(phone.page)
    assert _drawn_charts(phone.page), "no chart on a phone"
    phone.page.screenshot(path=str(shots / "web-phone.png"))
    phone.goto("/holders/united-states")
    _no_horizontal_scroll(phone.page)
    phone.assert_clean()
