"""A notification target on 127.0.0.1 for apprise's json:// plugin: it records what it is sent
and answers ``status`` (set it to 500 to play a channel that is down)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Endpoint:
    url: str = ""
    """The apprise URL (json://127.0.0.1:PORT/hook)."""
    port: int = 0
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def notification_endpoint() -> Iterator[Endpoint]:
    found = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            found.received.append(json.loads(raw or b"{}"))
            self.send_response(found.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    found.port = server.server_address[1]
    found.url = f"json://127.0.0.1:{found.port}/hook"
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
