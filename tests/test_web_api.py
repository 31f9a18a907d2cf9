"""The web view's JSON API (tracker/web/), in process, on SQLite and PostgreSQL: the CLI's
own JSON, the parameters and their errors, the security headers, ETag/304 and the cache."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from typer.testing import Result

from tests.helpers import store_consensus

Run = Callable[..., Result]


class ApiClient:
    """An in-process client: each request goes through httpx's ASGI transport to the app,
    exactly as uvicorn would hand it over (the app's errors stay the app's responses)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kw)

        return asyncio.run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def head(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("HEAD", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)


@pytest.fixture
def client(db_url: str, run_cli: Run) -> Iterator[ApiClient]:
    """The app over a fresh database at ``db_url`` (created by the CLI, as a user would)."""
    from tracker.config import load_settings
    from tracker.store.migrate import open_database
    from tracker.web.app import create_app

    assert run_cli("db", "upgrade", db=db_url).exit_code == 0
    settings = load_settings(None)
    engine = open_database(db_url, settings=settings).engine
    try:
        app = create_app(settings, engine)
        app.state.web.version_ttl_s = 0  # every request reads the store's version
        yield ApiClient(app)
    finally:
        engine.dispose()


def cli_json(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_report_equals_the_cli_json_except_generated_at(client: ApiClient, run_cli: Run) -> None:
    r = client.get("/api/report?at=2025-04-14")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    web = r.json()
    cli = cli_json(run_cli, "report", "--offline", "--at", "2025-04-14")
    assert web["holders"], "the shipped ledger values someone on 2025-04-14"
    web.pop("generated_at")
    cli.pop("generated_at")
    assert web == cli


def test_report_parameters_are_the_cli_options(client: ApiClient, run_cli: Run) -> None:
    query = (
        "at=2025-06-30&as_known_at=2025-01-01&what_if=100000&holder=el-salvador"
        "&holder=united-states&compare=united-states,el-salvador&all_estimates=true"
    )
    web = client.get(f"/api/report?{query}").json()
    cli = cli_json(
        run_cli, "report", "--offline", "--at", "2025-06-30", "--as-known-at", "2025-01-01",
        "--what-if", "100000", "--holder", "el-salvador", "--holder", "united-states",
        "--compare", "united-states,el-salvador", "--all-estimates",
    )  # fmt: skip
    assert web["price"]["kind"] == "what_if"
    assert [h["slug"] for h in web["holders"]] == [h["slug"] for h in cli["holders"]]
    assert len(web["holders"]) == 2
    web.pop("generated_at")
    cli.pop("generated_at")
    assert web == cli


def test_history_equals_the_cli_json(client: ApiClient, run_cli: Run) -> None:
    query = "from=2024-01-01&to=2025-06-30&interval=week&holder=el-salvador"
    web = client.get(f"/api/history?{query}").json()
    cli = cli_json(
        run_cli, "history", "--from", "2024-01-01", "--to", "2025-06-30", "--interval", "week",
        "--holder", "el-salvador",
    )  # fmt: skip
    assert web == cli
    assert web["interval"] == "week"


def test_holders_equals_the_cli_json(client: ApiClient, run_cli: Run) -> None:
    assert client.get("/api/holders").json() == cli_json(run_cli, "holders", "list")


def test_holder_has_its_entry_ledger_and_addresses(client: ApiClient, run_cli: Run) -> None:
    data = client.get("/api/holders/el-salvador").json()
    assert set(data) == {"holder", "observations", "addresses", "check"}
    assert data["holder"]["slug"] == "el-salvador"
    ledger = cli_json(run_cli, "holdings", "list", "--holder", "el-salvador")
    assert data["observations"] == ledger["holders"][0]["observations"]
    book = cli_json(run_cli, "addresses", "list", "--holder", "el-salvador")
    assert data["addresses"] == book["addresses"]
    assert data["observations"] and any(o["url"] for o in data["observations"])
    assert data["check"] is None  # never verified here


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("/api/report?at=yesterday", "at 'yesterday'"),
        ("/api/report?at=2999-01-01", "at 2999-01-01 is in the future"),
        ("/api/report?as_known_at=2025-13-01", "as_known_at"),
        ("/api/report?what_if=-5", "what_if"),
        ("/api/report?what_if=abc", "what_if"),
        ("/api/report?compare=united-states", "compare"),
        ("/api/report?holder=atlantis", "unknown holder 'atlantis'"),
        ("/api/report?at=2025-01-01&at=2025-01-02", "at is given more than once"),
        ("/api/report?all_estimates=maybe", "all_estimates"),
        ("/api/report?as-known-at=2025-01-01", "unknown parameter 'as-known-at'"),
        ("/api/history?interval=year", "interval 'year'"),
        ("/api/history?from=2025-02-01&to=2025-01-01", "after"),
        ("/api/history?holder=atlantis", "atlantis"),
        ("/api/holders?x=1", "unknown parameter 'x'"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(client: ApiClient, url: str, names: str) -> None:
    r = client.get(url)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json"
    assert names in r.json()["error"]
    assert "Traceback" not in r.text


def test_an_unknown_holder_is_a_404(client: ApiClient) -> None:
    for slug in ("atlantis", "EL-SALVADOR", "%3Cscript%3E"):
        r = client.get(f"/api/holders/{slug}")
        assert r.status_code == 404
        assert "unknown holder" in r.json()["error"]
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/api/nothing").json()["error"].startswith("not found")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_reads_are_allowed(client: ApiClient, method: str) -> None:
    for url in ("/api/report", "/api/holders/el-salvador", "/"):
        r = client.request(method, url)
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD"
        assert r.headers["x-content-type-options"] == "nosniff"


def test_every_response_has_the_security_headers(client: ApiClient) -> None:
    ok = client.get("/api/report")
    tag = ok.headers["etag"]
    for r in (
        ok,
        client.get("/api/report?at=x"),
        client.get("/api/holders/atlantis"),
        client.get("/nowhere"),
        client.post("/api/report"),
        client.get("/api/report", headers={"If-None-Match": tag}),
        client.head("/api/status"),
    ):
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert "style-src 'self'" in csp and "img-src 'self' data:" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert "cache-control" in r.headers


def test_etag_and_304(client: ApiClient) -> None:
    first = client.get("/api/report?at=2025-04-14")
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/api/report?at=2025-04-14", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    other = client.get("/api/report?at=2025-04-14", headers={"If-None-Match": '"nope"'})
    assert other.status_code == 200 and other.content == first.content
    listed = client.get("/api/report?at=2025-04-14", headers={"If-None-Match": f'"a", W/{tag}'})
    assert listed.status_code == 304


def test_a_report_is_computed_once_and_again_after_a_new_observation(
    client: ApiClient, run_cli: Run, db_url: str
) -> None:
    web = client.app.state.web
    first = client.get("/api/report?at=2025-04-14")
    computed = web.cache.computed
    for _ in range(3):
        assert client.get("/api/report?at=2025-04-14").content == first.content
    assert web.cache.computed == computed
    added = run_cli(
        "holdings", "add", "el-salvador", "--as-of", "2025-04-10", "--basis", "official",
        "--btc", "6200", "--source", "test", db=db_url,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    second = client.get(
        "/api/report?at=2025-04-14", headers={"If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 200
    assert web.cache.computed == computed + 1
    es = next(h for h in second.json()["holders"] if h["slug"] == "el-salvador")
    assert Decimal(es["btc"]) == 6200


def test_a_new_price_is_a_new_report(client: ApiClient, db_url: str) -> None:
    before = client.get("/api/report").json()
    at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=5)
    store_consensus(db_url, at, Decimal("123456.78"))
    after = client.get("/api/report").json()
    assert after["price"]["kind"] == "consensus"
    assert after["price"]["value"] == "123456.78"
    assert before["price"] != after["price"]


def test_status_hides_the_password_and_openapi_lists_the_routes(client: ApiClient) -> None:
    status = client.get("/api/status").json()
    assert set(status) >= {"status", "database", "sources"}
    url = status["database"]["url"]
    assert "@" not in url or ":***@" in url or url.count(":") <= 2
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/report", "/api/history", "/api/holders", "/api/holders/{slug}", "/api/status",
    }  # fmt: skip
    names = {p["name"] for p in doc["paths"]["/api/report"]["get"]["parameters"]}
    assert names == {"at", "as_known_at", "what_if", "holder", "compare", "all_estimates"}


def test_a_holder_named_like_a_script_is_plain_json(
    client: ApiClient, run_cli: Run, db_url: str
) -> None:
    name = "<script>alert(1)</script>"
    added = run_cli("holders", "add", "atlantis", "--name", name, db=db_url)
    assert added.exit_code == 0, added.stderr
    r = client.get("/api/holders/atlantis")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json()["holder"]["name"] == name
    listed = client.get("/api/holders")
    assert name in [h["name"] for h in listed.json()["holders"]]
    assert "unsafe-inline" not in r.headers["content-security-policy"]


def test_head_is_a_get_without_the_body(client: ApiClient) -> None:
    get = client.get("/api/holders")
    head = client.head("/api/holders")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["x-frame-options"] == "DENY"


def test_a_bug_is_a_generic_500_and_logged(
    client: ApiClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from tracker.web.cache import Web

    def broken(self: Web, query: object) -> object:
        raise RuntimeError("secret detail postgresql://u:hunter2@db/x")

    monkeypatch.setattr(Web, "report_plan", broken)
    with caplog.at_level("ERROR", logger="tracker.web"):
        r = client.get("/api/report")
    assert r.status_code == 500
    assert r.json() == {"error": "internal error: see the server's log"}
    assert "hunter2" not in r.text and "Traceback" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert any("hunter2" in (rec.exc_text or str(rec.exc_info)) for rec in caplog.records)


def test_a_store_that_cannot_be_read_is_a_503(
    client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.errors import StoreError
    from tracker.web import cache

    def down(engine: object) -> object:
        raise StoreError("cannot reach postgresql://u:***@db/x: connection refused")

    monkeypatch.setattr(cache, "store_version", down)
    r = client.get("/api/report")
    assert r.status_code == 503
    assert r.json() == {"error": "the database is unavailable; try again"}


def test_the_store_version_is_read_at_most_once_per_ttl(
    client: ApiClient, run_cli: Run, db_url: str
) -> None:
    import time

    web = client.app.state.web
    web.version_ttl_s = 0.5
    first = client.get("/api/holders").json()
    assert run_cli("holders", "add", "atlantis", "--name", "Atlantis", db=db_url).exit_code == 0
    if time.monotonic() - web._seen[0] < 0.4:  # within the TTL: the old version, the old list
        assert client.get("/api/holders").json() == first
    time.sleep(0.5)
    slugs = [h["slug"] for h in client.get("/api/holders").json()["holders"]]
    assert "atlantis" in slugs


def test_a_live_report_is_shared_until_its_bucket_ends(client: ApiClient) -> None:
    web = client.app.state.web
    web.live_s = 10**10  # one bucket for the whole test (bucket 0)
    first = client.get("/api/report")
    computed = web.cache.computed
    again = client.get("/api/report")
    assert again.content == first.content and web.cache.computed == computed
    web.live_s = 10**9  # bucket 1: computed afresh
    client.get("/api/report")
    assert web.cache.computed == computed + 1


def test_status_never_shows_the_password(db_url: str, run_cli: Run) -> None:
    import sqlalchemy as sa

    from tracker.config import load_settings
    from tracker.store.migrate import open_database
    from tracker.web.app import create_app

    url = sa.engine.make_url(db_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("SQLite URLs have no password")
    secret = url.set(password="hunter2").render_as_string(hide_password=False)  # trust auth
    settings = load_settings(None)
    engine = open_database(secret, settings=settings).engine
    try:
        client = ApiClient(create_app(settings, engine))
        status = client.get("/api/status")
        assert status.status_code == 200
        assert "hunter2" not in status.text
        assert ":***@" in status.json()["database"]["url"]
        for path in ("/api/report", "/api/holders", "/api/report?at=x", "/api/openapi.json"):
            assert "hunter2" not in client.get(path).text
    finally:
        engine.dispose()


# --- the cache on its own ---------------------------------------------------------------------


def _cached(n: int) -> object:
    from tracker.web.cache import Cached

    return Cached.of(n, str(n))


def test_the_cache_is_a_bounded_lru() -> None:
    from tracker.web.cache import ResultCache

    cache = ResultCache(size=2)
    cache.get("a", lambda: _cached(1))
    cache.get("b", lambda: _cached(2))
    cache.get("a", lambda: _cached(99))  # a hit: "a" is now the newest
    cache.get("c", lambda: _cached(3))  # evicts "b", the least recently used
    assert len(cache) == 2
    assert cache.peek("b") is None
    assert cache.peek("a").result == 1  # type: ignore[union-attr]
    assert cache.computed == 3


def test_the_cache_expires_and_computes_once_for_concurrent_requests() -> None:
    import threading
    import time

    from tracker.web.cache import ResultCache

    cache = ResultCache(size=8, max_age_s=0.2)
    calls: list[int] = []

    def slow() -> object:
        calls.append(1)
        time.sleep(0.1)
        return _cached(len(calls))

    threads = [threading.Thread(target=cache.get, args=("k", slow)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    time.sleep(0.25)
    assert cache.peek("k") is None
    assert cache.get("k", slow).result == 2


def test_a_failed_computation_is_not_cached() -> None:
    from tracker.errors import InputError
    from tracker.web.cache import ResultCache

    cache = ResultCache()

    def bad() -> object:
        raise InputError("no")

    with pytest.raises(InputError):
        cache.get("k", bad)
    assert cache.peek("k") is None and cache.computed == 0


def test_every_kind_of_change_changes_the_store_version(db_url: str, run_cli: Run) -> None:
    """The cache's key: each write the report, history or ledger depend on moves it."""
    from tests.helpers import store_closes
    from tracker.store.engine import make_engine
    from tracker.web.cache import store_version

    assert run_cli("db", "upgrade", db=db_url).exit_code == 0
    engine = make_engine(db_url)
    seen = [store_version(engine)]

    def changed(what: str) -> None:
        now = store_version(engine)
        assert now != seen[-1], what
        seen.append(now)

    try:
        assert store_version(engine) == seen[0]  # reading it changes nothing
        store_consensus(db_url, dt.datetime(2025, 1, 2, tzinfo=dt.UTC), Decimal("95000"))
        changed("a consensus price")
        store_closes(db_url, {dt.date(2009, 1, 3): Decimal("0.01")}, source="csv")
        changed("a daily close before the newest (a gap filled)")
        add = ("holdings", "add", "el-salvador", "--as-of", "2025-04-10", "--basis", "official",
               "--btc", "6200", "--source", "test")  # fmt: skip
        assert run_cli(*add, db=db_url).exit_code == 0
        changed("an observation")
        ledger = cli_json(run_cli, "holdings", "list", "--holder", "el-salvador")
        newest = max(o["id"] for o in ledger["holders"][0]["observations"])
        assert run_cli("holdings", "remove", str(newest), db=db_url).exit_code == 0
        changed("an observation removed")
        assert run_cli("holders", "add", "atlantis", "--name", "A", db=db_url).exit_code == 0
        changed("a holder")
        assert run_cli("addresses", "complete", "el-salvador", db=db_url).exit_code == 0
        changed("a holder's address list said complete")
        assert run_cli("holders", "remove", "atlantis", db=db_url).exit_code == 0
        changed("a holder removed")
    finally:
        engine.dispose()


def test_a_response_without_an_etag_gets_one_from_its_body(client: ApiClient) -> None:
    first = client.get("/api/openapi.json")  # a plain JSONResponse: the guard hashes it
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    again = client.get("/api/openapi.json", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert client.get("/api/openapi.json", headers={"If-None-Match": "*"}).status_code == 304


@pytest.mark.parametrize(
    ("header", "matches"),
    [(None, False), ("", False), ('"a"', True), ('W/"a"', True), ('"b", "a"', True),
     ('"b"', False), ("*", True), ('"a', False)],
)  # fmt: skip
def test_if_none_match_is_the_weak_comparison(header: str | None, matches: bool) -> None:
    from tracker.web.app import etag_matches

    assert etag_matches(header, '"a"') is matches


def test_openapi_and_the_docs_describe_every_api_route() -> None:
    from pathlib import Path

    from tracker.web import api

    paths = {r.path for r in api.routes} - {"/api/openapi.json"}  # type: ignore[attr-defined]
    described = api.openapi_document()["paths"]
    assert set(described) == paths
    docs = (Path(__file__).resolve().parents[1] / "docs" / "web.md").read_text()
    for path in paths | {"/api/openapi.json"}:
        assert f"`{path}`" in docs, path
    for param in {p.name for p in (*api.REPORT_PARAMS, *api.HISTORY_PARAMS)}:
        assert f"`{param}" in docs, param
