"""A loopback Esplora API standing in for mempool.space and blockstream.info: the
``fake_explorer`` fixture, or a script.

python -m tests.fake_explorer --port 8766 [--latency-ms 100]   # prints [explorers.*] config

Each explorer lives under its own path prefix (``http://127.0.0.1:PORT/<name>``), so
``base_url`` + ``/api/address/:a`` and ``/api/blocks/tip/height`` are exercised as a self-hosted
instance under a prefix would be. Bodies have the real shapes (``api-samples/esplora``): an
address answers ``address``, ``chain_stats`` and ``mempool_stats`` (with spent outputs and a
pending mempool amount, so a reader that takes ``funded_txo_sum`` alone, or adds the mempool, is
caught); a valid address never used answers zeros; the tip is plain text; a malformed address
gets the plain-text 400 ``Invalid Bitcoin address``.

On-chain history: ``add_tx`` gives an address confirmed transactions, served newest first as
``/api/address/:a/txs`` (with one pending transaction first, and 25 confirmed), then
``/txs/chain/:last_seen_txid`` (25 a page), and, by mempool only unless ``set_summary`` says
otherwise, as ``/txs/summary`` (``[{txid, value, height, time}]``, capped at ``summary_cap``).
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Literal

import pytest

from tests.loopback import LoopbackFake, LoopbackServer, arguments, serve_until_stopped
from tracker.config import ExplorerSettings

NAMES = ("mempool", "blockstream")
DEFAULT_TIP = 925_000
# What the real explorers accept as an address's shape (the checksum is the address book's
# business): base58 P2PKH/P2SH, bech32/bech32m mainnet.
_ADDRESS = re.compile(r"[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{11,87}")
INVALID_ADDRESS = b"Invalid Bitcoin address"
# blockstream's 429 notice (api-samples/esplora/error_429_blockstream_notice.json)
BLOCKSTREAM_429 = (
    b'{"message":"Blockstream Explorer API NOTICE: Your request rate exceeds the current limit..."}'
)
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><hr><center>cloudflare</center></body></html>\n"
)
Target = Literal["tip", "address"]


@dataclass
class Fault:
    """How to answer instead of the normal body; ``times`` counts down (None: forever)."""

    status: int | None = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer; hold the connection until the client gives up
    truncated: bool = False  # promise the whole body, send half, close
    times: int | None = None
    target: Target | None = None  # only tip reads, or only address reads (None: both)
    address: str | None = None  # only this address
    skip: int = 0  # let this many matching requests through first


@dataclass(frozen=True)
class Request:
    explorer: str
    target: str  # the path after the explorer's prefix
    at: float  # time.monotonic() when it arrived
    served: str


@dataclass(frozen=True)
class FakeTx:
    """A confirmed transaction's net effect on one address."""

    txid: str
    height: int
    time: int  # block time, Unix seconds
    value: int


@dataclass
class _Explorer:
    tip: int = DEFAULT_TIP
    move_every: int = 0  # the tip rises by one after every n-th tip read (0: never)
    moves: int | None = None  # how many times it may still rise (None: no limit)
    tip_reads: int = 0
    latency_s: float = 0.0
    balances: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    log: list[Request] = field(default_factory=list)
    txs: dict[str, list[FakeTx]] = field(default_factory=dict)  # per address, oldest first
    summary: bool = False  # answers /txs/summary


class FakeExplorer(LoopbackFake):
    """Serves Esplora explorers at ``http://127.0.0.1:PORT/<name>/api/...``; thread-safe, one
    thread per connection. Use as a context manager, or ``start()`` and ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, names: Sequence[str] = NAMES):
        super().__init__(host, port)
        self._names = tuple(names)
        self._explorers: dict[str, _Explorer] = {}
        self.summary_cap = 5000
        self.reset()

    # --- where it is (start, stop and url: tests/loopback.py) ------------------------------

    def base_url(self, name: str) -> str:
        return f"{self.url}/{self._known(name)}"

    def explorer_settings(
        self,
        *,
        rate_per_s: float = 100.0,
        timeout_s: float = 2.0,
        names: Sequence[str] | None = None,
    ) -> dict[str, ExplorerSettings]:
        return {
            n: ExplorerSettings(
                base_url=self.base_url(n), timeout_s=timeout_s, rate_per_s=rate_per_s
            )
            for n in (names or self._names)
        }

    def config_toml(
        self, *, rate_per_s: float = 100.0, timeout_s: float = 2.0, min_explorers: int = 2
    ) -> str:
        """``[explorers.*]`` (every one pointing here) and ``[verify]`` as TOML."""
        tables = "".join(
            f'[explorers.{n}]\nbase_url = "{s.base_url}"\ntimeout_s = {s.timeout_s}\n'
            f"rate_per_s = {s.rate_per_s}\n\n"
            for n, s in self.explorer_settings(rate_per_s=rate_per_s, timeout_s=timeout_s).items()
        )
        return tables + f"[verify]\nmin_explorers = {min_explorers}\n"

    # --- what it serves ----------------------------------------------------------------------

    def set_balances(self, balances: Mapping[str, int], *, explorer: str | None = None) -> None:
        """Serve these confirmed balances (sats) from ``explorer`` (None: every one)."""
        with self._lock:
            for name in self._which(explorer):
                self._explorers[name].balances.update(balances)

    def set_tip(
        self,
        height: int,
        *,
        explorer: str | None = None,
        move_every: int = 0,
        moves: int | None = None,
    ) -> None:
        """Serve this tip; ``move_every=n`` raises it by one after every n-th tip read (a new
        block), ``moves`` times at most (None: for ever)."""
        with self._lock:
            for name in self._which(explorer):
                state = self._explorers[name]
                state.tip, state.move_every, state.tip_reads = height, move_every, 0
                state.moves = moves

    def set_latency(self, seconds: float, *, explorer: str | None = None) -> None:
        with self._lock:
            for name in self._which(explorer):
                self._explorers[name].latency_s = seconds

    def set_fault(
        self,
        explorer: str,
        *,
        status: int | None = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        hang: bool = False,
        truncated: bool = False,
        times: int | None = None,
        target: Target | None = None,
        address: str | None = None,
        queue: bool = False,
        skip: int = 0,
    ) -> None:
        """Answer the next ``times`` matching requests (None: all) this way; ``queue=True``
        adds it after the explorer's other faults instead of replacing them."""
        fault = Fault(
            status=status,
            body=body.encode() if isinstance(body, str) else body,
            headers=dict(headers or {}),
            hang=hang,
            truncated=truncated,
            times=times,
            target=target,
            address=address,
            skip=skip,
        )
        with self._lock:
            state = self._explorers[self._known(explorer)]
            state.faults = [*state.faults, fault] if queue else [fault]

    def add_tx(self, address: str, value: int, *, time: int, height: int | None = None) -> FakeTx:
        """A confirmed transaction moving ``value`` sats (signed) to ``address``, served by
        every explorer; by default in a new block on top of the tip (which rises to it)."""
        with self._lock:
            tip = max(s.tip for s in self._explorers.values())
            count = sum(len(v) for v in next(iter(self._explorers.values())).txs.values())
            tx = FakeTx(f"{count + 1:064x}", tip + 1 if height is None else height, time, value)
            for state in self._explorers.values():
                state.txs.setdefault(address, []).append(tx)
                state.tip = max(state.tip, tx.height)
        return tx

    def set_summary(self, explorer: str, answers: bool) -> None:
        """Whether ``explorer`` answers /txs/summary (mempool does, blockstream 404s)."""
        with self._lock:
            self._explorers[self._known(explorer)].summary = answers

    def reset(self) -> None:
        with self._lock:
            self._explorers = {n: _Explorer(summary=n == "mempool") for n in self._names}

    def requests(self, explorer: str) -> list[Request]:
        with self._lock:
            return list(self._explorers[self._known(explorer)].log)

    def tip(self, explorer: str) -> int:
        with self._lock:
            return self._explorers[self._known(explorer)].tip

    # --- serving (handler threads) -----------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        name, _, rest = handler.path.lstrip("/").partition("/")
        target = "/" + rest
        with self._lock:
            state = self._explorers.get(name)
            latency = 0.0 if state is None else state.latency_s
        if latency and self._stopping.wait(latency):
            handler.close_connection = True
            return
        if state is None:
            _send(handler, 404, b"Not Found")
            return
        status, body, kind, address = self._answer(state, target)
        with self._lock:
            fault = self._take_fault(state, kind, address)
            served = _describe(fault)
            state.log.append(Request(name, target, time.monotonic(), served))
        if fault is None:
            _send(handler, status, body)
        elif fault.hang:
            self._hang(handler)
        elif fault.truncated:
            _send(handler, 200, body, cut=True)
        else:
            error = f"fake explorer: HTTP {fault.status}\n".encode() if fault.status else body
            _send(handler, fault.status or 200, fault.body or error, fault.headers)

    def _answer(
        self, state: _Explorer, target: str
    ) -> tuple[int, bytes, Target | None, str | None]:
        if target == "/api/blocks/tip/height":
            with self._lock:
                tip = state.tip
                state.tip_reads += 1
                moving = state.moves is None or state.moves > 0
                if moving and state.move_every and state.tip_reads % state.move_every == 0:
                    state.tip += 1
                    if state.moves is not None:
                        state.moves -= 1
            return 200, str(tip).encode(), "tip", None
        if target.startswith("/api/address/") and "/" not in target[len("/api/address/") :]:
            address = target[len("/api/address/") :]
            if not _ADDRESS.fullmatch(address):
                return 400, INVALID_ADDRESS, "address", address
            with self._lock:
                sats = state.balances.get(address, 0)
            return 200, address_body(address, sats), "address", address
        if target.startswith("/api/address/"):
            return self._txs(state, target[len("/api/address/") :])
        return 404, b"Not Found", None, None

    def _txs(self, state: _Explorer, rest: str) -> tuple[int, bytes, Target | None, str | None]:
        """``:a/txs``, ``:a/txs/chain/:txid`` and ``:a/txs/summary``, newest first."""
        address, _, what = rest.partition("/")
        if not _ADDRESS.fullmatch(address):
            return 400, INVALID_ADDRESS, "address", address
        with self._lock:
            newest = [t for t in reversed(state.txs.get(address, [])) if t.height <= state.tip]
            summary, cap = state.summary, self.summary_cap
        if what == "txs/summary":
            if not summary:
                return 404, b"Not Found", "address", address
            rows = [{"txid": t.txid, "value": t.value, "height": t.height, "time": t.time}
                    for t in newest[:cap]]  # fmt: skip
            return 200, json.dumps(rows).encode(), "address", address
        if what == "txs":
            pending = tx_body(address, FakeTx("f" * 64, 0, 0, 546), confirmed=False)
            page = [pending] + [tx_body(address, t, confirmed=True) for t in newest[:25]]
            return 200, json.dumps(page).encode(), "address", address
        if what.startswith("txs/chain/"):
            ids = [t.txid for t in newest]
            after = what[len("txs/chain/") :]
            if after not in ids:
                return 400, b"Invalid hex string", "address", address
            start = ids.index(after) + 1
            page = [tx_body(address, t, confirmed=True) for t in newest[start : start + 25]]
            return 200, json.dumps(page).encode(), "address", address
        return 404, b"Not Found", None, None

    @staticmethod
    def _take_fault(state: _Explorer, kind: Target | None, address: str | None) -> Fault | None:
        for i, fault in enumerate(state.faults):
            if fault.target is not None and fault.target != kind:
                continue
            if fault.address is not None and fault.address != address:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.pop(i)
            return fault
        return None

    def _hang(self, handler: _Handler) -> None:
        handler.close_connection = True
        sock = handler.connection
        while not self._stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return
                except OSError:
                    return
                self._stopping.wait(0.05)

    def _which(self, explorer: str | None) -> tuple[str, ...]:
        return self._names if explorer is None else (self._known(explorer),)

    def _known(self, name: str) -> str:
        if name not in self._names:
            raise KeyError(f"the fake explorer has no {name!r} (known: {', '.join(self._names)})")
        return name


def address_body(address: str, sats: int) -> bytes:
    """``GET /address/:a`` as Esplora answers it, with ``sats`` confirmed."""
    spent = sats // 3 + 1_000 if sats else 0
    funded = sats + spent
    chain = {
        "funded_txo_count": 3 if sats else 0,
        "funded_txo_sum": funded,
        "spent_txo_count": 1 if sats else 0,
        "spent_txo_sum": spent,
        "tx_count": 3 if sats else 0,
    }
    pending = {
        "funded_txo_count": 1 if sats else 0,
        "funded_txo_sum": 546 if sats else 0,
        "spent_txo_count": 0,
        "spent_txo_sum": 0,
        "tx_count": 1 if sats else 0,
    }
    body = {"address": address, "chain_stats": chain, "mempool_stats": pending}
    return json.dumps(body, separators=(",", ":")).encode()


STRANGER = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"  # the other side of the fake's transactions


def tx_body(address: str, tx: FakeTx, *, confirmed: bool) -> dict[str, object]:
    """An Esplora transaction whose net effect on ``address`` is ``tx.value``: a receipt pays
    the address (and someone else); a spend spends two outputs and gets change back, so a
    reader that counts only one side is caught."""
    if tx.value >= 0:
        vin = [{"txid": "e" * 64, "prevout": {"scriptpubkey_address": STRANGER,
                                               "value": tx.value + 7}}]  # fmt: skip
        vout = [
            {"scriptpubkey_address": address, "value": tx.value},
            {"scriptpubkey_address": STRANGER, "value": 5},
        ]
    else:
        spent = -tx.value + 1_000
        vin = [
            {"txid": "d" * 64, "prevout": {"scriptpubkey_address": address, "value": spent - 400}},
            {"txid": "c" * 64, "prevout": {"scriptpubkey_address": address, "value": 400}},
        ]
        vout = [
            {"scriptpubkey_address": STRANGER, "value": -tx.value - 10},
            {"scriptpubkey_address": address, "value": 1_000},
            {"scriptpubkey_type": "op_return", "value": 0},
        ]
    status: dict[str, object] = {"confirmed": confirmed}
    if confirmed:
        status |= {"block_height": tx.height, "block_hash": "0" * 64, "block_time": tx.time}
    return {"txid": tx.txid, "vin": vin, "vout": vout, "status": status}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True
    server: LoopbackServer

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


FakeExplorer.handler = _Handler


def _send(
    handler: _Handler,
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    cut: bool = False,
) -> None:
    start = body.lstrip()[:1]
    kind = {b"{": "application/json", b"[": "application/json", b"<": "text/html"}
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", kind.get(start, "text/plain"))
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if cut:  # the length promised, half the bytes, and the connection closed
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


def _describe(fault: Fault | None) -> str:
    if fault is None:
        return "ok"
    if fault.hang:
        return "hang"
    if fault.truncated:
        return "truncated"
    if fault.status:
        return f"HTTP {fault.status}"
    return "custom body"


@pytest.fixture
def fake_explorer() -> Iterator[FakeExplorer]:
    """A running FakeExplorer (mempool and blockstream), stopped after the test."""
    with FakeExplorer() as fx:
        yield fx


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-per-s", type=float, default=1.0, help="rate_per_s in the config")
    args = parser.parse_args(argv)
    with FakeExplorer(args.host, args.port) as fx:
        fx.set_latency(args.latency_ms / 1000)
        config = fx.config_toml(rate_per_s=args.rate_per_s)
        serve_until_stopped(fx, f"# fake explorer at {fx.url}\n{config}")


if __name__ == "__main__":
    main()
