"""Benchmark: the web view's `/api/report` against a bare endpoint, under 50 concurrent clients.

    python bench/bench_web.py [--clients 50] [--requests 2000] [--rounds 5]

Builds a fresh SQLite database (the shipped ledger and bundled prices, as a new install has),
then starts one uvicorn server on 127.0.0.1 in a child process serving two apps side by side:

  tracker:  the web view as `tracker serve` builds it (create_app: the guard's headers, ETag and
            Cache-Control, the shared report cache), asked for `/api/report`;
  bare:     a Starlette app with a single route returning a constant body of the same size
            (`/bare`), no middleware.

The clients run in this process, each on its own kept-alive connection; the rounds alternate
bare and tracker, each of ``--requests`` requests from ``--clients`` concurrent clients, after a
warm-up of each. The load generator is a minimal asyncio HTTP/1.1 client (status line, headers,
the whole body read): httpx's AsyncClient (``--client httpx``) tops out near 200-400 requests/s
here, far below what the server answers, so with it the figures would be the client's. It prints requests/s (median of the rounds) and p50/p99 latency (over every
request) of each, and their ratio: the target is tracker ≥ 0.5 × bare.

Then, one client at a time and alternating, the time of `/` (the page: the same report plus the
chart, rendered) against `/api/report`, twice: served from the cache (the same URLs again), and
computed (each request at a day not asked before, `?at=`, so the report, and for the page the
history and the rendering, are done for it). The target is `/` < 2 × `/api/report` (medians)
in both.

Exit status 1 when a target is missed. The figures are the machine's: shared and noisy, hence
side by side in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

TARGET_RPS_RATIO = 0.5
TARGET_PAGE_RATIO = 2.0


# --- the server (child process) ----------------------------------------------------------------


def serve(port: int, url: str, size: int) -> None:
    """uvicorn on 127.0.0.1:port: `/bare` is the bare app, everything else tracker's."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tracker.config import load_settings
    from tracker.store.engine import make_engine
    from tracker.web.app import create_app

    body = b"[" + b"0," * ((size - 3) // 2) + b"0" * (1 + (size - 3) % 2) + b"]"
    assert len(body) == size, (len(body), size)

    async def constant(request: Request) -> Response:
        return Response(body, media_type="application/json")

    bare = Starlette(routes=[Route("/bare", constant)])
    web = create_app(load_settings(), make_engine(url))

    async def both(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bare":
            await bare(scope, receive, send)
        else:
            await web(scope, receive, send)

    uvicorn.run(both, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the client --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_up(base: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"the server exited with {child.returncode}")
        try:
            if httpx.get(f"{base}/api/report", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the server did not answer within 60 s")


async def fetch(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, int]:
    """One GET on a kept-alive connection: (status, body bytes), the body read to its end."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
    if "content-length" in fields:
        return status, len(await reader.readexactly(int(fields["content-length"])))
    size = 0  # chunked
    while chunk := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        size += len(await reader.readexactly(chunk + 2)) - 2
    await reader.readuntil(b"\r\n")
    return status, size


async def load(
    port: int, path: str, clients: int, total: int, client: str
) -> tuple[float, list[float]]:
    """``total`` GETs of ``path`` from ``clients`` concurrent clients, each on its own kept-alive
    connection: (requests/s, latencies in s)."""
    latencies: list[float] = []
    left = total

    async def raw_client() -> None:
        nonlocal left
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        try:
            while left > 0:
                left -= 1
                start = time.perf_counter()
                status, _ = await fetch(reader, writer, request)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    raise SystemExit(f"{path}: HTTP {status}")
        finally:
            writer.close()

    async def httpx_client() -> None:
        nonlocal left
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while left > 0:
                left -= 1
                start = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code}")

    one = raw_client if client == "raw" else httpx_client
    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


def sequential(base: str, pairs: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
    """One client, alternating the two paths of each pair: the time of each full response, body
    read (the page's, the API's)."""
    page: list[float] = []
    api: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for page_path, api_path in pairs:
            for path, times in ((page_path, page), (api_path, api)):
                start = time.perf_counter()
                client.get(path).raise_for_status()
                times.append(time.perf_counter() - start)
    return page, api


def cold_pairs(repeat: int) -> list[tuple[str, str]]:
    """Pairs of never-asked URLs: `/` and `/api/report` at days no request has used (the page's
    days apart from the API's, so neither finds the other's report in the cache)."""
    first = dt.date(2025, 1, 1)
    return [
        (f"/?at={first + dt.timedelta(days=2 * n)}",
         f"/api/report?at={first + dt.timedelta(days=2 * n + 1)}")
        for n in range(repeat)
    ]  # fmt: skip


def p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=30, help="sequential `/` vs report")
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw",
        help="the load generator: raw asyncio HTTP/1.1 (default) or httpx.AsyncClient",
    )  # fmt: skip
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "URL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], int(args.serve[2]))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        url = f"sqlite:///{Path(tmp) / 'tracker.db'}"
        env |= {"TRACKER_DATABASE_URL": url, "XDG_CONFIG_HOME": str(Path(tmp) / "config")}
        subprocess.run([sys.executable, "-m", "tracker", "db", "upgrade"], env=env, check=True)
        size = len(
            subprocess.run(
                [sys.executable, "-m", "tracker", "report", "--offline", "--format", "json"],
                env=env, check=True, capture_output=True,
            ).stdout
        )  # fmt: skip
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), url, str(size)], env=env
        )
        try:
            wait_until_up(base, child)
            served = len(httpx.get(f"{base}/api/report").content)
            if served != size:  # the API's layout differs from the CLI's: size the bare body on it
                size = served
                child.terminate()
                child.wait(10)
                child = subprocess.Popen(
                    [sys.executable, __file__, "--serve", str(port), url, str(size)], env=env
                )
                wait_until_up(base, child)
            assert len(httpx.get(f"{base}/bare").content) == size
            return measure(base, size, args)
        finally:
            child.terminate()
            child.wait(10)


def measure(base: str, size: int, args: argparse.Namespace) -> int:
    paths = {"bare": "/bare", "tracker": "/api/report"}
    rps: dict[str, list[float]] = {k: [] for k in paths}
    lat: dict[str, list[float]] = {k: [] for k in paths}
    port = int(base.rsplit(":", 1)[1])
    for path in paths.values():  # warm-up: connections, caches, the report computed once
        asyncio.run(load(port, path, args.clients, args.clients * 4, args.client))
    for _ in range(args.rounds):
        for name, path in paths.items():
            r, latencies = asyncio.run(load(port, path, args.clients, args.requests, args.client))
            rps[name].append(r)
            lat[name].extend(latencies)
    print(
        f"{args.clients} concurrent clients, {args.rounds} alternating rounds of "
        f"{args.requests} requests ({args.client} client), body {size:,} bytes, "
        f"one uvicorn worker, {os.cpu_count()} cores"
    )
    for name, path in paths.items():
        print(
            f"  {name:8} {path:12} {statistics.median(rps[name]):8.0f} req/s   "
            f"p50 {p(lat[name], 0.50):6.1f} ms   p99 {p(lat[name], 0.99):6.1f} ms"
        )
    ratio = statistics.median(rps["tracker"]) / statistics.median(rps["bare"])
    print(f"  ratio tracker/bare: {ratio:.2f} (target >= {TARGET_RPS_RATIO})")

    with httpx.Client(base_url=base, timeout=60) as client:  # warm
        client.get("/").raise_for_status()
    warm_page, warm_api = sequential(base, [("/", "/api/report")] * args.repeat)
    cold_page, cold_api = sequential(base, cold_pairs(args.repeat))
    page_ratio = 0.0
    for label, page, api in (("cached", warm_page, warm_api), ("computed", cold_page, cold_api)):
        page_ms, api_ms = statistics.median(page) * 1000, statistics.median(api) * 1000
        page_ratio = max(page_ratio, page_ms / api_ms)
        print(
            f"one client, {args.repeat} alternating, {label:8}: / {page_ms:7.2f} ms, "
            f"/api/report {api_ms:7.2f} ms (medians): {page_ms / api_ms:.2f} x "
            f"(target < {TARGET_PAGE_RATIO})"
        )
    return 0 if ratio >= TARGET_RPS_RATIO and page_ratio < TARGET_PAGE_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
