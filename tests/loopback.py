"""The life of a fake server on loopback (the fake exchange and the fake explorer over HTTP,
the fake PostgreSQL over its wire protocol): a threading server in a daemon thread handing
each connection to its fake's handler, started and stopped whole, usable as a context
manager."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socketserver
import sys
import threading
from http.server import ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Self


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a client holding a keep-alive connection must not block stop()
    request_queue_size = 128  # benchmarks open many connections at once
    fake: Any  # the fake that answers (its handler reads ``self.server.fake``)


class LoopbackFake:
    """Start, stop and locate a fake; subclasses set ``handler``, the request handler class
    (reading ``self.server.fake``), and, for a protocol other than HTTP, ``server_class``."""

    handler: type[socketserver.BaseRequestHandler]
    server_class: type[socketserver.ThreadingTCPServer] = LoopbackServer

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # releases hanging and delayed handlers on stop()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        server = self.server_class((self.host, self._port), self.handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._port = server.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"


def arguments(description: str) -> argparse.ArgumentParser:
    """A fake's command line (`python -m tests.fake_…`): where it listens; the fake adds its
    own options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    return parser


def serve_until_stopped(fake: LoopbackFake, banner: str) -> None:
    """Print ``banner`` (a parent process waits for it before it starts its clients), then
    serve until Ctrl-C or SIGTERM; ``fake`` is already started."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    print(banner)
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
