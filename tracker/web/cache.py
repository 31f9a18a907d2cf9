"""What the web view serves, computed once per change of the store and shared.

``Web`` (one per app, ``request.app.state.web``) builds each result with the CLI's own
functions (the report, the history, the ledger, the status) and renders it with the CLI's own
JSON renderers. A result is cached under its parameters and the store's *version*: a handful
of indexed aggregates read in one query, at most once per ``version_ttl_s`` (1 s) for all
requests (the newest consensus, the daily series' newest day and size, each ledger table's
newest id and removed count, the newest on-chain check and series). A new price,
observation, removal or check changes the version, so the next request computes afresh; an
unchanged store is served from memory.

Two bounds keep that honest: a *live* report (no ``at``, or today) also changes key every
``live_s`` seconds, so its price age and stale flag are never older than that; and any entry
is recomputed after ``max_age_s``, for the edits no aggregate sees (a holder's name, say).
The cache is an LRU of ``size`` entries; concurrent requests for one key compute it once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tracker.errors import TrackerError
from tracker.web.query import Param, Query, parse_pair, parse_query

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.config import Settings
    from tracker.daily.history import Timeline
    from tracker.report import Report

__all__ = ["Cached", "NoData", "Param", "Query", "ResultCache", "Web", "parse_pair", "parse_query"]

MAX_WHAT_IF = Decimal(10) ** 12
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


class NoData(TrackerError):
    """Nothing to serve yet (no daily closes for a history): a 404, not a bad request."""


# --- the cache ----------------------------------------------------------------------------


class Cached:
    """A result (Report, Timeline, …) and its JSON body and ETag, rendered when first asked."""

    def __init__(self, result: Any, body: bytes | Callable[[], str], etag: str = "") -> None:
        self.result = result
        self._body = body if isinstance(body, bytes) else None
        self._render = None if isinstance(body, bytes) else body
        self._etag = etag if isinstance(body, bytes) else None  # as given, or from the body
        self._lock = threading.Lock()

    @property
    def body(self) -> bytes:
        with self._lock:  # several requests may ask at once: rendered once
            if self._body is None:
                assert self._render is not None
                self._body = self._render().encode()
            return self._body

    @property
    def etag(self) -> str:
        from tracker.web.app import etag_of

        self._etag = etag_of(self.body) if self._etag is None else self._etag
        return self._etag

    @classmethod
    def of(cls, result: Any, text: str | Callable[[], str]) -> Cached:
        """From a JSON text, or a function rendering it when first needed."""
        made = cls(result, text.encode() if isinstance(text, str) else text)
        made._etag = None  # from the body, when asked
        return made


Plan = tuple[tuple[Hashable, ...], Callable[[], Cached]]  # (key without version, compute)


class ResultCache:
    """An LRU of ``size`` results, each at most ``max_age_s`` old; one computation per key
    however many requests ask for it at once."""

    def __init__(self, size: int = 128, max_age_s: float = 300.0) -> None:
        self.size = size
        self.max_age_s = max_age_s
        self.computed = 0  # how many results were computed (a test's and a bench's counter)
        self._entries: OrderedDict[Hashable, tuple[float, Cached]] = OrderedDict()
        self._lock = threading.Lock()
        self._gates: dict[Hashable, threading.Lock] = {}

    def _fresh(self, key: Hashable) -> Cached | None:
        hit = self._entries.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.max_age_s:
            return None
        self._entries.move_to_end(key)
        return hit[1]

    def peek(self, key: Hashable) -> Cached | None:
        """The cached result, or None; never computes (and so never blocks long)."""
        with self._lock:
            return self._fresh(key)

    def get(self, key: Hashable, compute: Callable[[], Cached]) -> Cached:
        with self._lock:
            hit = self._fresh(key)
            if hit is not None:
                return hit
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                hit = self._fresh(key)
            if hit is not None:
                return hit
            try:
                value = compute()
            finally:
                with self._lock:
                    self._gates.pop(key, None)
            with self._lock:
                self.computed += 1
                self._entries[key] = (time.monotonic(), value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


# The store's version: cheap aggregates (primary keys and small tables), one round trip.
VERSION_SQL = """
SELECT
  (SELECT max(id) FROM consensus_prices),
  (SELECT max(date) FROM daily_prices),
  (SELECT count(*) FROM daily_prices),
  (SELECT max(id) FROM holders),
  (SELECT count(removed_at) FROM holders),
  (SELECT sum(id) FROM holders WHERE addresses_complete),
  (SELECT max(id) FROM holding_observations),
  (SELECT count(removed_at) FROM holding_observations),
  (SELECT max(id) FROM addresses),
  (SELECT count(removed_at) FROM addresses),
  (SELECT max(id) FROM verify_checks),
  (SELECT max(date) FROM onchain_daily),
  (SELECT count(*) FROM onchain_daily)
"""


def store_version(engine: Engine) -> tuple[Any, ...]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        row = conn.execute(sa.text(VERSION_SQL)).one()
    return tuple(str(v) if isinstance(v, dt.date) else v for v in row)


# --- what is served -------------------------------------------------------------------------


@dataclass
class Web:
    """The settings, the engine and the shared cache of one app."""

    settings: Settings
    engine: Engine
    cache: ResultCache = field(default_factory=ResultCache)
    live_s: int = 60

    version_ttl_s: float = 1.0
    _seen: tuple[float, tuple[Any, ...]] | None = field(default=None, init=False, repr=False)
    _reading: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def version(self) -> tuple[Any, ...]:
        """The store's version, read at most once per ``version_ttl_s`` for all requests."""
        fresh = self.fresh_version()
        if fresh is not None:
            return fresh
        with self._reading:  # one reader; the requests behind it take what it read
            fresh = self.fresh_version()
            if fresh is not None:
                return fresh
            started = time.monotonic()
            version = store_version(self.engine)
            self._seen = (started, version)
            return version

    def fresh_version(self) -> tuple[Any, ...] | None:
        """The version read less than ``version_ttl_s`` ago, else None (no I/O)."""
        seen = self._seen
        if seen is None or time.monotonic() - seen[0] >= self.version_ttl_s:
            return None
        return seen[1]

    def serve(self, plan: Plan) -> Cached:
        """The plan's result: from the cache at the store's version, else computed."""
        key, compute = plan
        return self.cache.get((*key, self.version()), compute)

    def ready(self, plan: Plan) -> Cached | None:
        """The plan's result if it can be had without I/O (a fresh version, a cached
        result), else None: the caller then serves it off the event loop."""
        version = self.fresh_version()
        return None if version is None else self.cache.peek((*plan[0], version))

    def report_plan(self, query: Query) -> Plan:
        """`tracker report --offline --format json` with the query's options."""
        from tracker.clock import utc_now
        from tracker.inputs import parse_at, parse_date, parse_number

        current = utc_now()
        text = query.one("at")
        at = None if text is None else parse_at(text, current=current, what="at")
        known_text, what_if_text, compare = (query.one(n) for n in ("as_known_at", "what_if",
                                                                    "compare"))  # fmt: skip
        known = (
            None
            if known_text is None
            else parse_date(known_text, today=current.date(), what="as_known_at")
        )
        what_if = (
            None
            if what_if_text is None
            else parse_number(what_if_text, what="what_if", example="100000", maximum=MAX_WHAT_IF)
        )
        only = tuple(query.many("holder")) or None
        pair = None if compare is None else parse_pair(compare)
        everything = query.flag("all_estimates")
        live = at is None or at == current  # `at` today means now, as in the CLI
        when: Hashable = (
            ("now", at is not None, int(current.timestamp()) // self.live_s) if live else at
        )

        def compute() -> Cached:
            from tracker.render import render
            from tracker.report import assemble_report
            from tracker.store.engine import read_session

            now = utc_now()
            with read_session(self.engine) as session:
                result = assemble_report(
                    session=session,
                    at=(now if live else at) if at is not None else None,
                    now=now,
                    max_price_age=dt.timedelta(seconds=self.settings.report.max_price_age_s),
                    what_if=what_if,
                    warnings=[],
                    all_estimates=everything,
                    max_holding_age_days=self.settings.report.max_holding_age_days,
                    only=only,
                    pair=pair,
                    as_known_at=known,
                )
            return Cached.of(result, render(result, "json"))

        return ("report", when, known, str(what_if), only, pair, everything), compute

    def report_json(self, query: Query) -> Cached:
        return self.serve(self.report_plan(query))

    def report(self, query: Query) -> Report:
        """The Report itself (for the pages), from the same cache as /api/report."""
        result: Report = self.report_json(query).result
        return result

    def history_plan(self, query: Query) -> Plan:
        """`tracker history --format json` with the query's options."""
        from tracker.clock import utc_today
        from tracker.inputs import optional_date

        today = utc_today()
        start = optional_date(query.one("from"), what="from", today=today)
        end = optional_date(query.one("to"), what="to", today=today) or today
        known = optional_date(query.one("as_known_at"), what="as_known_at", today=today)
        interval = query.one("interval") or "month"
        holders = query.many("holder") or None

        def compute() -> Cached:
            from tracker.daily import history as timeline
            from tracker.render import render

            with self.engine.connect() as conn:
                first = start or timeline.default_start(conn=conn, holders=holders, known_at=known)
                if first is None:
                    raise NoData("no daily closes are stored: run `tracker backfill`")
                tl = timeline.build_timeline(
                    conn=conn, start=first, end=end, interval=timeline.Interval(interval),
                    holders=holders, known_at=known, today=today,
                )  # fmt: skip
            return Cached.of(tl, lambda: render(tl, "json"))  # the pages need no JSON

        chosen = None if holders is None else tuple(holders)
        return ("history", start, end, interval, chosen, known, today), compute

    def history_json(self, query: Query) -> Cached:
        return self.serve(self.history_plan(query))

    def history(self, query: Query) -> Timeline:
        """The Timeline itself (for the pages' charts), from the same cache."""
        result: Timeline = self.history_json(query).result
        return result

    def holders_plan(self) -> Plan:
        """`tracker holders list --format json`."""

        def compute() -> Cached:
            from tracker.ledger_io import holder_counts
            from tracker.render import render
            from tracker.render.ledger import HolderEntry, HolderList
            from tracker.store.engine import read_session

            with read_session(self.engine) as session:
                rows = holder_counts(session=session)
            entries = HolderList(tuple(HolderEntry(info, n, gone) for info, n, gone in rows))
            return Cached.of(entries, render(entries, "json"))

        return ("holders",), compute

    def holders_json(self) -> Cached:
        return self.serve(self.holders_plan())

    def holder_plan(self, slug: str) -> Plan:
        """One holder's entry, ledger, addresses and newest check (``result`` None when
        there is no such holder)."""
        if not _SLUG.fullmatch(slug):
            return ("holder", None), lambda: Cached(None, b"", "")
        return ("holder", slug), lambda: self._holder(slug)

    def holder_json(self, slug: str) -> Cached | None:
        found = self.serve(self.holder_plan(slug))
        return None if found.result is None else found

    def _holder(self, slug: str) -> Cached:
        from tracker.holdings import load_ledgers
        from tracker.ledger_io import holder_counts
        from tracker.render import render
        from tracker.render.ledger import HolderEntry, HolderList
        from tracker.render.text import clean_json
        from tracker.store.engine import read_session
        from tracker.store.queries import get_holder

        with read_session(self.engine) as session:
            row = get_holder(session=session, slug=slug)
            if row is None:
                return Cached(None, b"", "")
            entry = next(HolderEntry(info, n, gone)
                         for info, n, gone in holder_counts(session=session)
                         if info.slug == slug)  # fmt: skip
            ledger = next(lg for lg in load_ledgers(session=session) if lg.holder.slug == slug)
            addresses = _addresses(session, slug)
            check = _check(session, row.id or 0)
        from tracker.models import Ledger

        data = {
            "holder": json.loads(render(HolderList((entry,)), "json"))["holders"][0],
            "observations": json.loads(render(Ledger((ledger,)), "json"))["holders"][0][
                "observations"
            ],
            "addresses": json.loads(render(addresses, "json"))["addresses"],
            "check": check,
        }
        text = clean_json(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return Cached.of(data, text)

    def status_text(self) -> str:
        """`tracker status --format json`, now (never cached); the URL's password hidden."""
        from tracker.clock import utc_now
        from tracker.render import render
        from tracker.sources import SPOT
        from tracker.status import gather_status
        from tracker.store.engine import read_session, redact_url
        from tracker.store.migrate import SCHEMA_HEAD

        with read_session(self.engine) as session:
            result = gather_status(
                session=session,
                now=utc_now(),
                max_price_age=dt.timedelta(seconds=self.settings.report.max_price_age_s),
                source_names=list(SPOT),
                database_url=redact_url(self.engine.url.render_as_string(hide_password=False)),
                schema=SCHEMA_HEAD,
            )
        return render(result, "json")


def _addresses(session: Any, slug: str) -> Any:
    """The holder's address book as `tracker addresses list --holder SLUG` builds it."""
    from tracker.addresses import check_address, list_addresses
    from tracker.render.addresses import AddressList, AddressRow

    return AddressList(tuple(
        AddressRow(
            id=a.id or 0, holder=s, address=a.address, type=check_address(a.address).type,
            kind=a.kind, label=a.label, attributor=a.attributor, source=a.source, url=a.url,
            as_of=a.as_of, note=a.note, origin=a.origin, recorded_at=a.recorded_at,
        )
        for s, a in list_addresses(session, [slug])
    ))  # fmt: skip


def _check(session: Any, holder_id: int) -> dict[str, Any] | None:
    """The holder's newest stored on-chain check (`tracker verify`) with each answer."""
    from tracker.money import sats_to_btc
    from tracker.render.text import iso, plain
    from tracker.store.chain_queries import check_answers, latest_checks

    row = latest_checks(session=session).get(holder_id)
    if row is None:
        return None

    def btc(sats: int | None) -> str | None:
        return plain(None if sats is None else sats_to_btc(sats))

    return {
        "id": row.id,
        "status": row.status,
        "verdict": row.verdict,
        "height": row.height,
        "btc": btc(row.chain_sats),
        "bound": row.chain_bound,
        "addresses": row.addresses,
        "explorers": [e for e in row.explorers.split(",") if e],
        "claim_observation_id": row.claim_observation_id,
        "claim_btc": btc(row.claim_sats),
        "claim_bound": row.claim_bound,
        "claim_difference_btc": btc(row.difference_sats),
        "reason": row.reason,
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "answers": [_answer(a.explorer, a.address, btc(a.sats), a.height, a.outcome, a.reason)
                    for a in check_answers(session=session, check_id=row.id or 0)],
    }  # fmt: skip


def _answer(explorer: str, address: str, btc: str | None, height: int | None, outcome: str,
            reason: str | None) -> dict[str, Any]:  # fmt: skip
    """One explorer's answer in a check (the tip's has no address)."""
    return {"explorer": explorer, "address": address or None, "btc": btc, "height": height,
            "outcome": outcome, "reason": reason}  # fmt: skip
