"""The web view's ASGI app: ``create_app(settings, engine)`` mounts the JSON API and the pages
behind one guard that keeps every response safe to serve.

The guard (pure ASGI, no per-request task) does four things for every route:

- read-only: a method other than GET or HEAD gets 405 before any route runs;
- headers: the Content-Security-Policy (no inline script or style, nothing from another
  host), nosniff, no referrer, no framing, on every response, errors included;
- revalidation: a 200 without an ``ETag`` gets one (a hash of its body), every response a
  ``Cache-Control`` (``no-cache``: clients keep it and ask again), and a request whose
  ``If-None-Match`` matches gets 304 without the body;
- errors: anything unexpected is logged with its traceback and answered with a generic 500
  (JSON under /api/, text elsewhere): no trace, no SQL, no URL ever reaches a client.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from tracker.config import Settings

log = logging.getLogger("tracker.web")

READ_METHODS = ("GET", "HEAD")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CACHE_CONTROL = "no-cache"  # keep it, but revalidate: the ETag makes that a 304 when unchanged


def etag_of(body: bytes) -> str:
    """A strong ETag: a short hash of the exact bytes served."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of an If-None-Match list (or ``*``) with ``etag``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


def is_api(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    return path == "/api" or path.startswith("/api/")


def error_response(scope: Scope, status: int, message: str, **headers: str) -> Response:
    """An error as JSON ``{"error": …}`` under /api/, as one line of text elsewhere."""
    if is_api(scope):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)


class Guard:
    """Read-only methods, security headers, ETag/304 and the last-resort 500 (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secured = _secured(send)
        if scope["method"] not in READ_METHODS:
            method = str(scope["method"])[:16]
            response = error_response(
                scope, 405, f"method {method} is not allowed: this server is read-only",
                Allow=", ".join(READ_METHODS),
            )  # fmt: skip
            await response(scope, receive, secured)
            return
        secured = _Revalidating(scope, secured)
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await secured(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            log.exception("web: %s %s failed", scope["method"], scope.get("path", ""))
            if started:  # the status line is out: nothing honest is left to send
                raise
            response = error_response(scope, 500, "internal error: see the server's log")
            await response(scope, receive, secured)


def _secured(send: Send) -> Send:
    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in SECURITY_HEADERS.items():
                headers[name] = value
            if "cache-control" not in headers:
                headers["Cache-Control"] = CACHE_CONTROL
        await send(message)

    return with_headers


class _Revalidating:
    """Gives a 200 without an ETag one (hashing its body), and turns a 200 whose ETag the
    request's If-None-Match names into a 304 with no body."""

    def __init__(self, scope: Scope, send: Send) -> None:
        self.send = send
        self.if_none_match = Headers(scope=scope).get("if-none-match")
        self.start: Message | None = None
        self.parts: list[bytes] = []
        self.mode = "pass"  # pass: forward as is; hash: buffer then tag; drop: 304 sent

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            if message["status"] != 200:
                await self.send(message)
            elif "etag" in headers:
                if etag_matches(self.if_none_match, headers["etag"]):
                    await self._not_modified(message, headers["etag"])
                else:
                    await self.send(message)
            else:
                self.start, self.mode = message, "hash"
            return
        if message["type"] != "http.response.body" or self.mode == "pass":
            await self.send(message)
            return
        if self.mode == "drop":
            return
        self.parts.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        assert self.start is not None
        body = b"".join(self.parts)
        etag = etag_of(body)
        if etag_matches(self.if_none_match, etag):
            await self._not_modified(self.start, etag)
            return
        MutableHeaders(scope=self.start)["ETag"] = etag
        await self.send(self.start)
        await self.send({"type": "http.response.body", "body": body})

    async def _not_modified(self, start: Message, etag: str) -> None:
        """304: the validators and caching headers of the 200, no body, no length."""
        self.mode = "drop"
        old = Headers(raw=start["headers"])
        headers = MutableHeaders(raw=[])
        headers["ETag"] = etag
        for name in ("cache-control", "vary", "content-location", "expires"):
            if name in old:
                headers[name] = old[name]
        await self.send({"type": "http.response.start", "status": 304, "headers": headers.raw})
        await self.send({"type": "http.response.body", "body": b""})


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 as the API's JSON; elsewhere as the site's error
    page when the pages have one (``pages.error_page``), else one line of text."""
    assert isinstance(exc, HTTPException)
    message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, exc.detail)
    if exc.status_code == 404:
        message = f"not found: {request.url.path[:200]}"
    headers = dict(exc.headers or {})
    if not is_api(request.scope):
        from tracker.web import pages

        page = getattr(pages, "error_page", None)
        if callable(page):
            response: Response = page(request, exc.status_code, message)
            response.headers.update(headers)
            return response
    return error_response(request.scope, exc.status_code, message, **headers)


def create_app(settings: Settings, engine: Engine) -> Starlette:
    """The web view over ``engine`` with ``settings``: the API, then the pages."""
    from tracker.web import api, pages
    from tracker.web.cache import Web

    routes: list[BaseRoute] = [*api.routes, *pages.routes]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard)],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.web = Web(settings=settings, engine=engine)
    return app
