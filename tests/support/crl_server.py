"""A loopback HTTP server standing in for the CAs' CRL endpoints and the EGI repository."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Union

#: What a path serves: bytes, or ``STALL`` (the server holds the connection without answering).
STALL = "stall"
Content = Union[bytes, str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.hits.append(self.path)
        body = self.server.content.get(self.path)
        if body == STALL:
            time.sleep(self.server.stall_seconds)
            return
        if body is None:
            self.send_error(404)
            return
        assert isinstance(body, bytes)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.content: dict[str, Content] = {}
        self.hits: list[str] = []
        self.stall_seconds = 5.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serve(content: dict[str, Content], stall_seconds: float = 5.0) -> Iterator[_Server]:
    """Serve ``content`` (path -> bytes or STALL) on 127.0.0.1 until the block ends."""
    server = _Server()
    server.content.update(content)
    server.stall_seconds = stall_seconds
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
