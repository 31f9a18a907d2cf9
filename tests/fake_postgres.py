"""A fake PostgreSQL server on loopback that asks for a cleartext password and refuses it.

The test server runs with trust authentication, so a wrong password cannot be tried on it;
this fake speaks just enough of the wire protocol (v3) for a client to get as far as sending
its password: it declines SSL and GSS encryption (``N``), reads the startup message, asks for
the password in clear (``AuthenticationCleartextPassword``), records the password message,
and answers with the server's own error (``28P01``, password authentication failed). Each
connection is served in its own daemon thread (tests/loopback.py); what every client sent is kept in
``startups`` (the startup parameters) and ``passwords``.
"""

from __future__ import annotations

import socket
import socketserver
import struct

from tests.loopback import LoopbackFake

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


class TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            self.server.fake._handshake(self.request)  # type: ignore[attr-defined]
        except (OSError, ConnectionError, ValueError):
            return  # the client went away: nothing to record


class FakePostgres(LoopbackFake):
    handler = Handler
    server_class = TCPServer

    def __init__(self, user: str = "u") -> None:
        super().__init__()
        self.user = user
        self.startups: list[dict[str, str]] = []
        self.passwords: list[str] = []

    def database_url(self, password: str, database: str = "x") -> str:
        return (
            f"postgresql+psycopg://{self.user}:{password}@127.0.0.1:{self._port}/{database}"
            "?connect_timeout=5"
        )

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
