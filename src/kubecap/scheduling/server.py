"""Serving an ASGI app with uvicorn inside a running event loop, next to background loops.

``serving`` binds (or takes) a socket, starts uvicorn as a task and stops it on exit, so the
CLI, the tests and the benchmark all run the very same server on a real socket; a port of 0
picks a free one (``Serving.url`` says which).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from kubecap.errors import ConfigError


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the command that runs it stops it (and its loops)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class Serving:
    host: str
    port: int
    server: uvicorn.Server

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or a ConfigError naming the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it every keep-alive answer waited ~40 ms for the
    # client's delayed ACK (Nagle), whatever the handler took (measured: 44 ms for /healthz).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another --host or --port"
        ) from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serving(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Serving]:
    """Serve ``app`` on host:port until the block ends."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise ConfigError(f"the server on {host}:{bound_port} stopped while starting")
            await asyncio.sleep(0.01)
        yield Serving(host, bound_port, server)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
