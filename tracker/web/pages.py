"""The web view's HTML pages: ``/`` (the report, its totals and the history chart),
``/holders/{slug}`` (a holder's ledger, parts, addresses, checks and chart), ``/sources`` (the
price sources' health and the last rounds) and ``/about`` (the method), with the stylesheet
under ``/static/``.

Each page reads through the CLI's own functions (``assemble_report``, ``build_timeline``,
``load_ledgers``, ``list_addresses``, ``latest_checks``, ``gather_sources``/``gather_status``)
and lays their results out with views.py; the templates (Jinja2, autoescaped) hold no rule.
No page needs JavaScript: the chart is SVG drawn here (svg.py), the parameters a plain form.
``?at``, ``?as_known_at`` and ``?what_if`` are parsed by ``tracker.inputs`` as the CLI's
options are; a bad one is a 400 page naming it, an unknown holder a 404 page.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tracker.daily.history import Interval, Timeline
from tracker.errors import InputError, StoreError, TrackerError
from tracker.web import views
from tracker.web.app import etag_of
from tracker.web.cache import Cached, NoData, Web
from tracker.web.query import Param, Query, parse_query
from tracker.web.svg import Chart

log = logging.getLogger("tracker.web")

HERE = Path(__file__).resolve().parent
STATIC_URL = "/static/tracker.css"
NAV = (("/", "Overview"), ("/sources", "Sources"), ("/about", "About"), ("/api/report", "JSON"))
REPORT_PARAMS = ("at", "as_known_at", "what_if")


@functools.cache
def templates() -> jinja2.Environment:
    """The pages' templates, every value escaped unless marked safe (only svg.py's markup)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _web(request: Request) -> Web:
    web = request.app.state.web
    assert isinstance(web, Web)
    return web


def page(
    request: Request, name: str, heading: str, code: int = 200, **context: Any
) -> HTMLResponse:
    """``name`` rendered with what every page has: the navigation, the version, the sources."""
    from tracker import __version__
    from tracker.sources import SPOT

    settings = _web(request).settings
    names = [n for n in SPOT if settings.sources[n].enabled] or list(SPOT)
    html = templates().get_template(name).render(
        heading=heading, nav=NAV, current=request.url.path, static_url=STATIC_URL,
        version=__version__, price_sources=", ".join(names), **context,
    )  # fmt: skip
    return HTMLResponse(html, status_code=code)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as a page of the site (its message escaped like any other text)."""
    heading = {400: "Bad request", 404: "Not found", 503: "Unavailable"}.get(status, "Error")
    return page(request, "error.html", heading, status, status=status, message=message)


def guarded(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A page's errors as pages: a bad parameter 400 naming it, a store that cannot be read
    503 (its detail only in the log); anything else is the app's generic 500."""

    def endpoint(request: Request) -> Response:
        try:
            return handler(request)
        except InputError as e:
            return error_page(request, 400, " ".join(str(e).split()))
        except StoreError:
            log.exception("web: the store failed on %s", request.url.path)
            return error_page(request, 503, "The database cannot be read now; try again.")
        except TrackerError as e:
            return error_page(request, 400, " ".join(str(e).split()))

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


# --- parameters and caching --------------------------------------------------------------------


def report_query(request: Request) -> Query:
    """``?at``, ``?as_known_at`` and ``?what_if`` for ``Web.report`` (which parses them as the
    CLI's options, naming the parameter when one is wrong); an empty field is no value (the
    form sends every field), any other parameter is refused as the API refuses it."""
    query = parse_query(request, [Param(n, "") for n in REPORT_PARAMS])
    return Query(tuple((k, v.strip()) for k, v in query.values if v.strip()))


def cached_page(request: Request, build: Callable[[], HTMLResponse]) -> Response:
    """The page from the shared cache, keyed by its URL and the store's version (and, as a live
    report is, the minute: a price's age and stale flag are never older than ``live_s``)."""
    web = _web(request)
    key = ("page", request.url.path, request.url.query, web.version(),
           int(time.time()) // web.live_s)  # fmt: skip

    def compute() -> Cached:
        response = build()
        if response.status_code != 200:
            raise _NotCached(response)
        return Cached(None, bytes(response.body), etag_of(bytes(response.body)))

    try:
        found = web.cache.get(key, compute)
    except _NotCached as e:
        return e.response
    return HTMLResponse(found.body, headers={"ETag": found.etag})


class _NotCached(Exception):
    """An error page: served once, never kept."""

    def __init__(self, response: HTMLResponse) -> None:
        self.response = response


def chart_of(
    request: Request, *, end: dt.date, known_at: dt.date | None, holder: str | None = None
) -> tuple[Chart | None, str]:
    """`tracker history`'s timeline up to ``end`` (from the shared cache) as the chart, or why
    there is none; months over years, weeks or days over a shorter span."""
    base: tuple[tuple[str, str], ...] = (("to", end.isoformat()),)
    base += () if known_at is None else (("as_known_at", known_at.isoformat()),)
    base += () if holder is None else (("holder", holder),)
    web = _web(request)
    try:
        tl = monthly(web, base, end)
        interval = views.interval_for(tl.start, tl.end)
        if interval is not Interval.MONTH:
            tl = web.history(Query((*base, ("interval", interval.value))))
    except NoData:
        return None, "No daily closes are stored: nothing to draw (`tracker backfill`)."
    except InputError:  # the first holding is after ``end``
        return None, f"No holding is on record by {end}: nothing to draw."
    return views.chart(tl)


def monthly(web: Web, base: tuple[tuple[str, str], ...], end: dt.date) -> Timeline:
    """The monthly timeline up to ``end``: the months before ``end``'s, shared by every day of
    that month (cached under the previous month's end), then ``end``'s own month up to it, a
    one-period query. The same periods as one query up to ``end`` (a period is a calendar
    month, its holdings as of its last day), for the cost of one period per new day."""
    from dataclasses import replace

    whole = Query((*base, ("interval", "month")))
    first_of_month = end.replace(day=1)
    before = [(k, v) for k, v in base if k != "to"]
    try:
        past = web.history(
            Query((*before, ("to", (first_of_month - dt.timedelta(days=1)).isoformat()),
                   ("interval", "month")))
        )  # fmt: skip
    except (NoData, InputError):
        return web.history(whole)  # nothing on record before this month: one query
    if past.start >= first_of_month:
        return web.history(whole)
    this = web.history(
        Query((*before, ("from", first_of_month.isoformat()), ("to", end.isoformat()),
               ("interval", "month")))
    )  # fmt: skip
    if this.holders != past.holders:
        return web.history(whole)
    return replace(
        past,
        end=this.end,
        periods=past.periods + this.periods,
        missing=past.missing + this.missing,
        bundled_ends=this.bundled_ends or past.bundled_ends,
        onchain=tuple(dict.fromkeys(past.onchain + this.onchain)),
    )


# --- pages -------------------------------------------------------------------------------------


@guarded
def overview(request: Request) -> Response:
    """Every sovereign as `tracker report` values it, the totals, and the history chart."""
    query = report_query(request)
    return cached_page(request, lambda: _overview(request, query))


def _overview(request: Request, query: Query) -> HTMLResponse:
    from tracker.clock import utc_today
    from tracker.render.report_text import title

    report = _web(request).report(query)
    end = utc_today() if report.at is None else min(report.at.date(), utc_today())
    chart, caption = chart_of(request, end=end, known_at=report.as_known_at)
    given = {n: query.one(n) or "" for n in REPORT_PARAMS}
    return page(
        request, "overview.html", title(report), params={**given, "any": bool(query.values)},
        chart=chart, chart_caption=caption, chart_missing=caption, **views.overview(report),
    )  # fmt: skip


@guarded
def holder(request: Request) -> Response:
    """One holder: its standing, full ledger, parts, addresses, last check and chart."""
    parse_query(request, ())
    return cached_page(request, lambda: _holder(request, str(request.path_params["slug"])))


def _holder(request: Request, slug: str) -> HTMLResponse:
    from tracker.clock import utc_today
    from tracker.holdings import load_ledgers
    from tracker.store import queries
    from tracker.store.engine import read_session

    web = _web(request)
    with read_session(web.engine) as session:
        row = queries.get_holder(session=session, slug=slug)
        if row is None or row.id is None:
            return error_page(request, 404, f"No holder {slug[:64]!r} is stored.")
        lg = next(lg for lg in load_ledgers(session=session) if lg.holder.slug == slug)
        addresses = views.address_rows(session, slug)
        check = views.last_check(session, row.id)
        complete = bool(row.addresses_complete)
    report = web.report(Query(()))
    standing, parts = views.standing(report, slug)
    chart, caption = None, "Listed apart, not a sovereign: it has no history of its own here."
    if standing is not None:
        chart, caption = chart_of(request, end=utc_today(), known_at=None, holder=slug)
    info = lg.holder
    population = None if info.population is None else views.population_text(
        info.population, info.population_year, info.population_source
    )  # fmt: skip
    return page(
        request, "holder.html", info.name, holder=info, sovereign=standing is not None,
        population=population, standing=standing, parts=parts,
        excluded=views.excluded_reason(report, slug), ledger=views.ledger_rows(lg),
        addresses=addresses, check=check, chart=chart, chart_caption=caption,
        chart_missing=caption, addresses_complete=complete,
    )  # fmt: skip


@guarded
def sources(request: Request) -> Response:
    """Each price source's health (`tracker sources`) and the last rounds (`tracker status`)."""
    from tracker.clock import human_age, utc_now
    from tracker.render.rounds import source_dict, status_dict
    from tracker.render.text import grouped, iso
    from tracker.sources import SPOT
    from tracker.status import gather_sources, gather_status
    from tracker.store import queries
    from tracker.store.engine import read_session

    parse_query(request, ())
    web = _web(request)
    now = utc_now()
    with read_session(web.engine) as session:
        found = gather_sources(session=session, settings=web.settings)
        status = gather_status(
            session=session, now=now,
            max_price_age=dt.timedelta(seconds=web.settings.report.max_price_age_s),
            source_names=list(SPOT), database_url="", schema="",
        )  # fmt: skip
        names = {h.slug: h.name for h in queries.list_holders(session=session)}
    c = status.consensus
    line = (
        "No consensus is stored yet."
        if c is None
        else f"Consensus ${grouped(c.price, 2)}/BTC at {iso(c.at)} from {', '.join(c.sources)}, "
        f"{human_age(c.age)} old."
    )
    return page(
        request, "sources.html", "Price sources and rounds", status=status_dict(status),
        sources=[source_dict(s) for s in found.entries], consensus_line=line, names=names,
    )  # fmt: skip


@guarded
def about(request: Request) -> Response:
    """The method in plain words."""
    from tracker.clock import human_age

    parse_query(request, ())
    s = _web(request).settings
    facts = {
        "min_sources": s.consensus.min_sources,
        "max_deviation_pct": s.consensus.max_deviation_pct,
        "max_price_age": human_age(dt.timedelta(seconds=s.report.max_price_age_s)),
        "max_holding_age_days": s.report.max_holding_age_days,
    }
    return page(request, "about.html", "How to read these pages", settings=facts)


routes: list[BaseRoute] = [
    Route("/", overview, methods=["GET"]),
    Route("/holders/{slug}", holder, methods=["GET"]),
    Route("/sources", sources, methods=["GET"]),
    Route("/about", about, methods=["GET"]),
    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
]
