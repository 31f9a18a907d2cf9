"""The JSON API under ``/api/``: the CLI's own JSON, from the CLI's own functions.

``/api/report`` is `tracker report --offline --format json`, ``/api/history`` is `tracker
history --format json`, ``/api/holders`` is `tracker holders list --format json`, and
``/api/status`` is `tracker status --format json`: the same functions build the result and
the same renderers write it, so no rule has a second implementation here. The parameters are
the CLI's options (``as_known_at`` for ``--as-known-at``), parsed by ``tracker.inputs``; a bad
one is a 400 whose ``error`` names it, an unknown holder page a 404.

Results are shared between requests (``cache.Web``): computed once per change of the
store, and served with an ETag so an unchanged result is a 304.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tracker.errors import InputError, StoreError, TrackerError
from tracker.web.app import error_response
from tracker.web.cache import Cached, NoData, Plan, Web
from tracker.web.query import Param, parse_query

log = logging.getLogger("tracker.web")

# --- the parameters, one table per route (the parser and the OpenAPI description read it) ---

HOLDER = Param("holder", "Only this holder (slug); repeat for several.", repeat=True)
AS_KNOWN_AT = Param(
    "as_known_at", "Only observations published by this day, YYYY-MM-DD (yours: recorded).",
    fmt="date",
)  # fmt: skip
REPORT_PARAMS = (
    Param("at", "Value as of a past UTC date (end of that day) or ISO datetime.", fmt="date-time"),
    AS_KNOWN_AT,
    Param("what_if", "Value at this USD price instead of the stored one.", fmt="decimal"),
    HOLDER,
    Param("compare", "Compare only these two holders, A,B (A ÷ B)."),
    Param("all_estimates", "true: every observation of each holder, not only the one used.",
          kind="boolean"),
)  # fmt: skip
HISTORY_PARAMS = (
    Param("from", "First day, YYYY-MM-DD (default: the first observation shown).", fmt="date"),
    Param("to", "Last day, YYYY-MM-DD (default: today).", fmt="date"),
    Param("interval", "One row per day, week or month (default month).",
          choices=("day", "week", "month")),
    HOLDER,
    AS_KNOWN_AT,
)  # fmt: skip


def web_of(request: Request) -> Web:
    web = request.app.state.web
    assert isinstance(web, Web)
    return web


Handler = Callable[[Request], Awaitable[Response]]


def guarded(handler: Handler) -> Handler:
    """A route's errors as the API's JSON: InputError 400 (it names the parameter), a store
    that cannot be read 503 (logged, no detail); anything else is the app's generic 500."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except InputError as e:
            return error_response(request.scope, 400, " ".join(str(e).split()))
        except NoData as e:
            return error_response(request.scope, 404, str(e))
        except StoreError:
            log.exception("web: the store failed on %s", request.url.path)
            return error_response(request.scope, 503, "the database is unavailable; try again")
        except TrackerError as e:
            return error_response(request.scope, 400, " ".join(str(e).split()))

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


async def answer(web: Web, plan: Plan) -> Cached:
    """The plan's result: straight from memory when the store's version is fresh and the
    result cached (no thread, no I/O), else computed or looked up in a worker thread."""
    hit = web.ready(plan)
    if hit is None:
        hit = await run_in_threadpool(web.serve, plan)
    return hit


def send(cached: Cached) -> Response:
    """A cached JSON body with its ETag (the app answers a matching If-None-Match with 304)."""
    return Response(cached.body, media_type="application/json", headers={"ETag": cached.etag})


# --- /api/report, /api/history ------------------------------------------------------------


@guarded
async def report(request: Request) -> Response:
    """The report, exactly as `tracker report --offline --format json` with these options."""
    web = web_of(request)
    return send(await answer(web, web.report_plan(parse_query(request, REPORT_PARAMS))))


@guarded
async def history(request: Request) -> Response:
    """Price and holdings per period, as `tracker history --format json`."""
    web = web_of(request)
    return send(await answer(web, web.history_plan(parse_query(request, HISTORY_PARAMS))))


# --- /api/holders ---------------------------------------------------------------------------


@guarded
async def holders(request: Request) -> Response:
    """Every holder in use, as `tracker holders list --format json`."""
    web = web_of(request)
    parse_query(request, ())
    return send(await answer(web, web.holders_plan()))


@guarded
async def holder(request: Request) -> Response:
    """One holder: its entry, its full ledger, its addresses and its newest on-chain check."""
    web = web_of(request)
    parse_query(request, ())
    slug = str(request.path_params["slug"])
    found = await answer(web, web.holder_plan(slug))
    if found.result is None:
        return error_response(request.scope, 404, f"unknown holder {slug[:64]!r}")
    return send(found)


# --- /api/status ----------------------------------------------------------------------------


@guarded
async def status(request: Request) -> Response:
    """The service's freshness and health, as `tracker status --format json` (never cached:
    it is about now; the database URL has its password hidden)."""
    web = web_of(request)
    parse_query(request, ())
    text = await run_in_threadpool(web.status_text)
    return Response(text, media_type="application/json")


# --- /api/openapi.json ------------------------------------------------------------------------


async def openapi(request: Request) -> Response:
    """The API described as OpenAPI 3.1, from the same parameter tables the routes parse."""
    return JSONResponse(openapi_document())


ROUTE_DOCS: tuple[tuple[str, str, tuple[Param, ...]], ...] = (
    ("/api/report", "The report: `tracker report --offline --format json`.", REPORT_PARAMS),
    ("/api/history", "Price and holdings per period: `tracker history --format json`.",
     HISTORY_PARAMS),
    ("/api/holders", "Every holder: `tracker holders list --format json`.", ()),
    ("/api/holders/{slug}", "One holder: entry, ledger, addresses, newest on-chain check.", ()),
    ("/api/status", "Freshness and health: `tracker status --format json`.", ()),
)  # fmt: skip


def openapi_document() -> dict[str, Any]:
    from tracker import __version__

    error = {"description": "", "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}},
    }}}}  # fmt: skip
    paths: dict[str, Any] = {}
    for path, summary, params in ROUTE_DOCS:
        parameters = [p.openapi() for p in params]
        if "{slug}" in path:
            parameters.append({
                "name": "slug", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
            })  # fmt: skip
        responses: dict[str, Any] = {
            "200": {"description": "OK (ETag; Cache-Control: no-cache)",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "304": {"description": "Not modified: If-None-Match named the current ETag"},
            "400": {**error, "description": "A bad parameter; the error names it"},
            "503": {**error, "description": "The database cannot be read"},
        }  # fmt: skip
        if "{slug}" in path:
            responses["404"] = {**error, "description": "No such holder"}
        paths[path] = {"get": {"summary": summary, "parameters": parameters,
                               "responses": responses}}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tracker",
            "version": __version__,
            "description": "Read-only JSON over the tracker's store: the CLI's own JSON. "
            "Only GET and HEAD; unknown parameters are refused with 400.",
        },
        "paths": paths,
    }


routes = [
    Route("/api/report", report, methods=["GET"]),
    Route("/api/history", history, methods=["GET"]),
    Route("/api/holders", holders, methods=["GET"]),
    Route("/api/holders/{slug}", holder, methods=["GET"]),
    Route("/api/status", status, methods=["GET"]),
    Route("/api/openapi.json", openapi, methods=["GET"]),
]
