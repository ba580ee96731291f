"""`kubecap serve`: the REST API and the web UI on one port, over the configured store, and the
background loops (collection, recommendations, tasks, taints, node load; cli/loops.py).

On the first run (no user yet) it creates the admin with a generated password and prints
it once. `kubecap demo` serves the same way over a freshly collected simulated cluster.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Annotated, Any

import typer
import uvicorn

from kubecap import wiring
from kubecap.api import queries
from kubecap.cli.common import ConfigOption, DatabaseOption, err, run
from kubecap.cli.loops import background
from kubecap.cluster.port import ClusterPort
from kubecap.config import Settings, load_settings


def serve_command(
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (or api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (or api.port).")] = None,
    no_loops: Annotated[
        bool,
        typer.Option(
            "--no-loops",
            help="Serve only: no collection, recommendations, task runner, predictive replicas, taints or node load"
            " (each loop can also be turned off under background.*).",
        ),
    ] = False,
) -> None:
    """Serve the REST API (OpenAPI at /api/docs) and the web UI, and run the background loops."""
    overrides: dict[str, Any] = {}
    if database_url:
        overrides["database_url"] = database_url
    settings = load_settings(config, **overrides)
    api = settings.api.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    settings = settings.model_copy(update={"api": api})
    run(serve(settings, loops=not no_loops))


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind first, so the printed URL carries the real port even when port 0 asked for any free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def announce(url: str, username: str, password: str | None) -> None:
    err.print(f"kubecap is serving at [bold]{url}[/bold] (API docs at {url}api/docs)", highlight=False)
    if password is not None:
        # Printed once, never stored in clear nor logged: the admin changes it after logging in.
        err.print(
            f"first run: created user [bold]{username}[/bold] with password [bold]{password}[/bold]"
            " (shown only now; keep it or change it in Settings)",
            highlight=False,
        )


async def serve(
    settings: Settings,
    *,
    sock: socket.socket | None = None,
    on_ready: Callable[[str, str | None], None] | None = None,
    ui: bool = True,
    loops: bool = True,
    clusters: Mapping[str, ClusterPort] | None = None,
) -> None:
    """Open the store, create the first admin if needed, start the background loops and serve
    until interrupted; then stop the loops (releasing the leader lease) and close the store.

    ``clusters`` replaces the adapters built from the settings (`kubecap demo` hands in its
    in-memory cluster)."""
    api = settings.api
    sock = sock or listening_socket(api.host, api.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    async with wiring.store(settings) as store:
        ctx = wiring.api_context(settings, store)
        password = await ctx.auth.bootstrap()
        app = wiring.api_app(ctx, ui=ui)
        config = uvicorn.Config(
            app,
            log_level="warning",
            proxy_headers=True,
            forwarded_allow_ips=api.forwarded_allow_ips,
            lifespan="on",
        )
        server = uvicorn.Server(config)
        async with AsyncExitStack() as stack:
            if loops:

                async def refresh() -> None:
                    # Summaries computed right after a collection: no request pays for them.
                    for cluster in [None, *await store.clusters()]:
                        await queries.cached(ctx, cluster)

                app.state.background = await stack.enter_async_context(
                    background(
                        settings,
                        store,
                        app.state.metrics.registry,
                        refresh=refresh,
                        clusters=clusters,
                        attach=ctx.live.attach,
                    )
                )
            (on_ready or (lambda u, p: announce(u, api.admin_username, p)))(url, password)
            await server.serve(sockets=[sock])
