"""The web view's HTML pages (`/`, `/holders/{slug}`, `/sources`, `/about`) through an in-process
ASGI client, on SQLite and PostgreSQL: each shows what the CLI shows for the same store (the
figures are compared with `tracker report --offline --format json`, the ledger with `tracker
holdings list`), parameters work as the CLI's options, a bad one is a 400 page naming it, an
unknown holder a 404 page, every text is escaped, and no page has an inline style or script
(the Content-Security-Policy has no 'unsafe-inline')."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import Result

XSS = "<script>alert(1)</script>"
XSS_SOURCE = '<img src=x onerror="alert(2)"> Evil Daily, 2025-01-02'
PAGES = ("/", "/holders/united-states", "/holders/xss", "/holders/ukraine", "/sources", "/about")


class Client:
    """GET requests to the app in-process (httpx's ASGI transport, no socket)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.get(path, headers=headers)

        return asyncio.run(go())


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


Site = tuple[Client, Callable[..., Any]]


@pytest.fixture
def site_any(db_url: str, run_cli: Callable[..., Result]) -> Iterator[Site]:
    """The site on SQLite and on PostgreSQL (for the pages that read the most)."""
    yield from _site(db_url, run_cli)


@pytest.fixture
def site(tmp_path: Path, run_cli: Callable[..., Result]) -> Iterator[Site]:
    """The site on SQLite."""
    yield from _site(f"sqlite:///{tmp_path / 'site.db'}", run_cli)


def _site(db_url: str, run_cli: Callable[..., Result]) -> Iterator[Site]:
    """The shipped ledger plus a holder whose name and source are markup, with a correction;
    the app over that database, and a function giving the CLI's JSON for the same store."""
    from tracker.config import load_settings
    from tracker.store.engine import make_engine
    from tracker.web.app import create_app

    _ok(run_cli("holders", "add", "xss", "--name", XSS, "--note", "<b>bold</b>", db=db_url))
    _ok(run_cli(
        "holdings", "add", "xss", "--btc", "12.5", "--bound", "at_least", "--as-of", "2025-01-02",
        "--basis", "reported", "--source", XSS_SOURCE, "--url", "https://example.org/a?b=1&c=2",
        db=db_url,
    ))  # fmt: skip
    first = json.loads(_ok(run_cli("holdings", "list", "--format", "json", db=db_url)).stdout)
    wrong = next(h for h in first["holders"] if h["slug"] == "xss")["observations"][0]["id"]
    _ok(run_cli(
        "holdings", "add", "xss", "--btc", "13", "--bound", "exact", "--as-of", "2025-01-02",
        "--basis", "official", "--source", "Correction desk", "--supersedes", str(wrong),
        db=db_url,
    ))  # fmt: skip

    def cli_json(*args: str, codes: tuple[int, ...] = (0,)) -> Any:
        result = run_cli(*args, "--format", "json", db=db_url)
        assert result.exit_code in codes, result.output
        return json.loads(result.stdout)

    engine = make_engine(db_url)
    try:
        yield Client(create_app(load_settings(), engine)), cli_json
    finally:
        engine.dispose()


def _text(html: str) -> str:
    """The page's text as a reader sees it: tags dropped, entities decoded."""
    import html as lib

    return lib.unescape(re.sub(r"<[^>]+>", " ", html))


def _page(client: Client, path: str, status: int = 200) -> str:
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html"), path
    return r.text


def _marked(holder: dict[str, Any]) -> str:
    """The BTC cell as the CLI's table writes it, from the report JSON."""
    from decimal import Decimal

    from tracker.render.text import grouped

    if holder["btc"] is None:
        return "no data" if holder["state"] == "no_data" else "undisclosed"
    if holder["divested"]:
        return "0 divested"
    mark = {"at_least": "≥", "at_most": "≤", "approximate": "~"}.get(holder["bound"] or "", "")
    return mark + grouped(Decimal(holder["btc"]))


# --- / ----------------------------------------------------------------------------------------


def test_overview_shows_every_sovereign_as_the_report_does(site_any: Any) -> None:
    client, cli = site_any
    html = _page(client, "/")
    text = _text(html)
    report = cli("report", "--offline")
    rows = re.findall(r'<tr class="holder" id="h-([a-z0-9-]+)">(.*?)</tr>', html, re.S)
    assert [slug for slug, _ in rows] == [h["slug"] for h in report["holders"]]
    for (_, row), h in zip(rows, report["holders"], strict=True):
        cells = _text(row)
        assert h["name"] in cells and _marked(h) in cells, (h["slug"], cells)
    assert {"≥", "~"} <= set(text)
    for words in ("0 divested", "undisclosed", "↳ reserve", "↳ part", "Total:", "holds"):
        assert words in text, words
    assert "Listed by other trackers, not counted here" in text
    comparison = report["comparison"]
    assert comparison["pairs"], "the default pair: the U.S. ÷ El Salvador"
    for pair in comparison["pairs"]:
        mark = {"at_least": "≥", "at_most": "≤", "approximate": "~"}.get(
            pair["btc_ratio_bound"] or "", ""
        )
        assert f"holds {mark}{pair['btc_ratio']}× the BTC of" in text
    total_mark = {"at_least": "≥", "approximate": "~"}.get(comparison["total_bound"], "")
    assert f"Total: {total_mark}" in text
    for e in report["excluded"]:
        assert f'href="/holders/{e["slug"]}"' in html and e["reason"] in text
    price = report["price"]
    assert "Price: $" in text and price["sources"][0] in text
    assert ("STALE" in text) is price["stale"]
    for warning in report["warnings"]:
        assert warning in text
    for h in report["holders"]:  # each holder's row links to its page
        assert f'href="/holders/{h["slug"]}"' in html


def test_overview_draws_the_history_chart_as_svg(site: Any) -> None:
    client, _ = site
    html = _page(client, "/")
    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    assert svg is not None
    drawn = svg.group()
    paths = re.findall(r'<path class="line [^"]*" d="(M[^"]+)"', drawn)
    assert len(paths) >= 5 and all(" L" in d for d in paths[:3])  # lines, not lone points
    assert drawn.count('<circle class="change') >= 5  # a holding changed
    assert "prices end" in drawn and "log" in drawn
    assert "United States" in _text(html.split('<ul class="legend"')[1].split("</ul>")[0])
    assert "undisclosed amount (no line, not zero)" in _text(html)


def test_parameters_work_as_the_cli_options(site_any: Any) -> None:
    client, cli = site_any
    text = _text(_page(client, "/?at=2025-04-14"))
    assert "Sovereign Bitcoin reserves, at 2025-04-14T23:59:59Z" in text
    for h in cli("report", "--offline", "--at", "2025-04-14")["holders"]:
        assert _marked(h) in text
    # what was known when: El Salvador's figure of 2024-12-19, not the one of November 2025
    known = _text(_page(client, "/?at=2025-11-30&as_known_at=2025-01-01"))
    assert "as known on 2025-01-01" in known
    assert "5,980.77" in known and "7,474.37" not in known
    what_if = _text(_page(client, "/?what_if=100000"))
    assert "$100,000.00/BTC, what-if price" in what_if
    form = _page(client, "/?what_if=100000")  # the form keeps what was asked
    assert 'name="what_if" value="100000"' in form
    assert _page(client, "/?at=&as_known_at=&what_if=")  # the empty form is "now"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("at=yesterday", "at 'yesterday'"),
        ("at=1999-01-01", "at 1999-01-01"),
        ("as_known_at=2999-01-01", "as_known_at 2999-01-01 is in the future"),
        ("what_if=abc", "what_if 'abc'"),
        ("what_if=-5", "what_if '-5'"),
        ("at=2025-01-01&at=2025-02-01", "at is given more than once"),
        ("utm=x", "unknown parameter 'utm'"),
    ],
)
def test_a_bad_parameter_is_a_400_page_naming_it(site: Any, query: str, named: str) -> None:
    client, _ = site
    html = _page(client, f"/?{query}", 400)
    assert named in _text(html)
    assert "Traceback" not in html and 'href="/"' in html


def test_an_unknown_holder_is_a_404_page(site: Any) -> None:
    client, _ = site
    html = _page(client, "/holders/atlantis", 404)
    assert "No holder 'atlantis' is stored." in _text(html) and "<footer" in html
    assert _page(client, "/holders/united-states?x=1", 400)


# --- /holders/{slug} -------------------------------------------------------------------------


def test_holder_page_has_the_full_ledger_parts_addresses_and_chart(site_any: Any) -> None:
    client, cli = site_any
    html = _page(client, "/holders/united-states")
    text = _text(html)
    ledger = next(h for h in cli("holdings", "list")["holders"] if h["slug"] == "united-states")
    rows = re.findall(r'<tr id="obs-(\d+)"[^>]*>(.*?)</tr>', html, re.S)
    assert [int(i) for i, _ in rows] == [o["id"] for o in ledger["observations"]]
    for (_, row), o in zip(rows, ledger["observations"], strict=True):
        cells = _text(row)
        for field in ("scope", "basis", "as_of"):
            assert o[field] in cells, (o["id"], field)
        assert (o["published"] or "") in cells
        if o["url"]:
            link = f'<a href="{o["url"].replace("&", "&amp;")}" rel="noopener noreferrer">'
            assert link in row
    assert "Parts (shown under the headline, never added to it)" in text
    assert "reserve undisclosed" in text  # the Strategic Bitcoin Reserve part
    book = cli("addresses", "list", "--holder", "united-states")["addresses"]
    assert book and all(a["address"] in html for a in book)
    assert '<svg class="chart"' in html and '<path class="line' in html
    assert "Never checked against the chain" in text
    assert 'href="/"' in html  # back to the overview


def test_holder_page_shows_corrections_both_ways(site: Any) -> None:
    client, cli = site
    html = _page(client, "/holders/xss")
    obs = next(h for h in cli("holdings", "list")["holders"] if h["slug"] == "xss")
    wrong, fix = (o["id"] for o in obs["observations"])
    assert f'<tr id="obs-{wrong}" class="corrected">' in html
    assert f'corrected by <a href="#obs-{fix}">#{fix}</a>' in html
    assert f'corrects <a href="#obs-{wrong}">#{wrong}</a>' in html


def test_a_holder_not_counted_says_why(site: Any) -> None:
    client, _ = site
    text = _text(_page(client, "/holders/ukraine"))
    assert "Not counted" in text and "not state property" in text
    assert "not a sovereign" in text


def test_links_go_only_to_http_sources() -> None:
    from tracker.web.views import safe_url

    assert safe_url("https://example.org/x") == "https://example.org/x"
    assert safe_url("http://example.org") == "http://example.org"
    for bad in ("javascript:alert(1)", "data:text/html,<b>", "//example.org", "ftp://x", "", None):
        assert safe_url(bad) is None


# --- escaping, CSP, layout ---------------------------------------------------------------------


def test_every_text_is_escaped(site: Any) -> None:
    client, _ = site
    for path in ("/", "/holders/xss"):
        html = _page(client, path)
        assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img" not in html and "<b>bold" not in html
        assert XSS in _text(html)  # shown as text
    holder = _page(client, "/holders/xss")
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer">' in holder
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in holder
    assert "&lt;b&gt;bold&lt;/b&gt;" in holder
    svg = re.search(r'<svg class="chart".*?</svg>', _page(client, "/"), re.S)
    assert svg is not None and "<script" not in svg.group()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg.group()  # its line's title


@pytest.mark.parametrize("path", PAGES)
def test_no_inline_style_or_script_and_tables_scroll_in_their_box(site: Any, path: str) -> None:
    client, _ = site
    r = client.get(path)
    html = r.text
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    tags = re.findall(r"<[a-zA-Z][^>]*>", html)  # escaped text has no "<": only real tags
    assert tags and not any(re.match(r"<(script|style)\b", t, re.I) for t in tags)
    assert not any(re.search(r"\s(style|on[a-z]+)\s*=|javascript:", t, re.I) for t in tags)
    assert '<link rel="stylesheet" href="/static/tracker.css">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.count("<table") == html.count('<div class="scroll"')  # never the page
    assert "<footer" in html
    for href in ('href="/"', 'href="/sources"', 'href="/about"'):
        assert href in html


def test_the_footer_names_the_version_and_the_data_sources(site: Any) -> None:
    from tracker import __version__

    client, _ = site
    footer = _text(_page(client, "/about").split("<footer")[1])
    assert f"tracker {__version__}" in footer
    assert "coinbase" in footer and "bundled daily closes" in footer


def test_the_stylesheet_is_served_and_makes_the_page_fit_a_phone(site: Any) -> None:
    client, _ = site
    r = client.get("/static/tracker.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    css = r.text
    assert ".scroll { overflow-x: auto" in css and "svg.chart { display: block; width: 100%" in css
    assert "@media (max-width: 40rem)" in css
    assert client.get("/static/nope.css").status_code == 404


def test_pages_revalidate_with_an_etag(site: Any) -> None:
    client, _ = site
    first = client.get("/about")
    again = client.get("/about", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


# --- /sources, /about -----------------------------------------------------------------------------


def test_sources_page_shows_each_source_and_the_rounds(site: Any) -> None:
    from tracker.sources import SPOT

    client, cli = site
    html = _page(client, "/sources")
    text = _text(html)
    for name in SPOT:
        assert f'<th scope="row">{name}</th>' in html
    status = cli("status", codes=(0, 1, 2))
    assert status["status"].upper() in text
    assert "No round has run yet" in text
    assert "postgres" not in html.lower() and "sqlite" not in html.lower()  # no database URL


def test_a_round_shows_on_sources_and_prices_the_overview(site: Any) -> None:
    from decimal import Decimal

    from tracker.clock import utc_now
    from tracker.models import ConsensusPrice, FetchRound, SourceQuote
    from tracker.store.engine import write_session

    client, _ = site
    now = utc_now().replace(microsecond=0)
    with write_session(client.app.state.web.engine) as session:
        fetched = FetchRound(started_at=now - dt.timedelta(seconds=31),
                             finished_at=now - dt.timedelta(seconds=30), status="ok")  # fmt: skip
        session.add(fetched)
        session.flush()
        assert fetched.id is not None
        session.add(SourceQuote(round_id=fetched.id, source="coinbase", price=Decimal("100000.5"),
                                outcome="accepted"))  # fmt: skip
        session.add(SourceQuote(round_id=fetched.id, source="kraken", outcome="http_error",
                                reason="HTTP 503 <from upstream>"))  # fmt: skip
        session.add(ConsensusPrice(round_id=fetched.id, at=now - dt.timedelta(seconds=30),
                                   price=Decimal("100000.50"), sources="coinbase"))  # fmt: skip
    html = _page(client, "/sources")
    text = _text(html)
    assert "Consensus $100,000.50/BTC" in text and "FRESH" in text
    rounds = re.findall(r'<table id="rounds">.*?</table>', html, re.S)
    assert rounds and f">{fetched.id}</th>" in rounds[0] and "ok" in _text(rounds[0])
    assert "HTTP 503 &lt;from upstream&gt;" in html
    assert re.search(r"coinbase\s+accepted|1 / 1", text)
    overview = _text(_page(client, "/"))
    assert "Price: $100,000.50/BTC, consensus" in overview and "coinbase" in overview
    assert "STALE" not in overview


def test_a_recent_check_shows_on_chain(site: Any) -> None:
    from tracker.chain_models import VerifyAnswer, VerifyCheck
    from tracker.clock import utc_now
    from tracker.store import queries
    from tracker.store.engine import write_session

    client, _ = site
    now = utc_now()
    with write_session(client.app.state.web.engine) as session:
        sv = queries.get_holder(session=session, slug="el-salvador")
        assert sv is not None and sv.id is not None
        check = VerifyCheck(
            holder_id=sv.id, started_at=now - dt.timedelta(hours=1, seconds=5),
            finished_at=now - dt.timedelta(hours=1), status="verified", height=900_000,
            chain_sats=747_437_000_000, chain_bound="at_least", addresses=2,
            explorers="mempool,blockstream", claim_sats=747_437_000_000, verdict="matches",
            difference_sats=0,
        )  # fmt: skip
        session.add(check)
        session.flush()
        assert check.id is not None
        session.add(VerifyAnswer(check_id=check.id, explorer="mempool", address="bc1qexample",
                                 sats=747_437_000_000, height=900_000, outcome="ok"))  # fmt: skip
    overview = _page(client, "/")
    mine = _text(overview.split('id="h-el-salvador"')[1].split('<tr class="holder"')[0])
    assert "↳ on chain" in mine and "≥7,474.37" in mine  # its line, under its row
    text = _text(_page(client, "/holders/el-salvador"))
    assert "on chain, verified: mempool, blockstream at height 900000" in text
    assert "bc1qexample" in text and "matches the claim" in text


def test_about_page_explains_the_method(site: Any) -> None:
    client, _ = site
    text = _text(_page(client, "/about"))
    for words in ("median", "≥6,100", "at least", "~198,109", "undisclosed", "no data",
                  "never zero", "reserve", "as known at", "STALE"):  # fmt: skip
        assert words in text, words


# --- the chart alone ---------------------------------------------------------------------------


def test_the_chart_of_nothing_says_so() -> None:
    from tracker.daily.history import Interval, Timeline
    from tracker.web.svg import history_chart

    day = dt.date(2025, 1, 1)
    tl = Timeline(Interval.MONTH, day, day, (), (), ())
    chart = history_chart(tl, caption="x")
    assert "<svg" in chart.svg and "nothing to draw" in chart.svg and not chart.legend


@pytest.mark.parametrize("end", ["2025-04-14", "2025-04-30", "2025-05-01", "2022-11-20"])
def test_the_charts_monthly_timeline_is_the_one_query_timeline(site: Any, end: str) -> None:
    """The overview's chart reuses the months before ``end``'s and adds ``end``'s own month:
    the same timeline, period for period, as one history query up to ``end``."""
    import datetime as dt

    from tracker.web.pages import monthly
    from tracker.web.query import Query

    client, _ = site
    web = client.app.state.web
    base = (("to", end),)
    merged = monthly(web, base, dt.date.fromisoformat(end))
    whole = web.history(Query((*base, ("interval", "month"))))
    assert merged.periods == whole.periods and merged.holders == whole.holders
    assert (merged.start, merged.end, merged.bundled_ends) == (
        whole.start, whole.end, whole.bundled_ends,
    )  # fmt: skip
    assert set(merged.onchain) == set(whole.onchain)
