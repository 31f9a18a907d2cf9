"""A fake PostgreSQL server on loopback that asks for a cleartext password and refuses it.

The test server runs with trust authentication, so a wrong password cannot be tried on it;
this fake speaks just enough of the wire protocol (v3) for a client to get as far as sending
its password: it declines SSL and GSS encryption (``N``), reads the startup message, asks for
the password in clear (``AuthenticationCleartextPassword``), records the password message,
and answers with the server's own error (``28P01``, password authentication failed). Each
connection is served in its own daemon thread; what every client sent is kept in
``startups`` (the startup parameters) and ``passwords``.
"""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType
from typing import Self

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


class FakePostgres:
    def __init__(self, user: str = "u") -> None:
        self.user = user
        self.startups: list[dict[str, str]] = []
        self.passwords: list[str] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        assert self._sock is not None
        port: int = self._sock.getsockname()[1]
        return port

    def url(self, password: str, database: str = "x") -> str:
        return (
            f"postgresql+psycopg://{self.user}:{password}@127.0.0.1:{self.port}/{database}"
            "?connect_timeout=5"
        )

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.settimeout(0.05)
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self._sock is not None:
            self._sock.close()
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with conn:
                self._handshake(conn)
        except (OSError, ConnectionError, ValueError):
            return  # the client went away: nothing to record

    def _handshake(self, conn: socket.socket) -> None:
        while True:  # encryption requests come first, each declined
            length, code = struct.unpack("!ii", _read(conn, 8))
            if code in (SSL_REQUEST, GSSENC_REQUEST) and length == 8:
                conn.sendall(b"N")
                continue
            body = _read(conn, length - 8)
            break
        parts = body.split(b"\x00")
        params = dict(zip(parts[0::2], parts[1::2], strict=False))
        with self._lock:
            self.startups.append({k.decode(): v.decode() for k, v in params.items() if k})
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = _read(conn, 1)
        (length,) = struct.unpack("!i", _read(conn, 4))
        payload = _read(conn, length - 4)
        if kind == b"p":
            with self._lock:
                self.passwords.append(payload.rstrip(b"\x00").decode())
        fields = [
            (b"S", b"FATAL"),
            (b"V", b"FATAL"),
            (b"C", b"28P01"),
            (b"M", f'password authentication failed for user "{self.user}"'.encode()),
        ]
        error = b"".join(k + v + b"\x00" for k, v in fields) + b"\x00"
        conn.sendall(b"E" + struct.pack("!i", len(error) + 4) + error)


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        data += chunk
    return data
