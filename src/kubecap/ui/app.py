"""Mounting the UI: every page module registers its pages with the shared context, then NiceGUI is
mounted on the API's FastAPI app (one port, one process, the same services)."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from fastapi import FastAPI
from nicegui import app as nicegui_app
from nicegui import ui
from nicegui.storage import Storage

from kubecap.api.context import ApiContext
from kubecap.ui import audit, control, cost, login, nodes, operations, overview, session, settings, workloads
from kubecap.ui.strings import t

MODULES = (login, overview, workloads, control, operations, nodes, cost, audit, settings)


def register(ctx: ApiContext) -> None:
    """Register every page (NiceGUI keeps pages globally: call once per process, or per test)."""
    session.install(ctx)
    for module in MODULES:
        module.register(ctx)


def mount(app: FastAPI, ctx: ApiContext) -> None:
    register(ctx)
    # NiceGUI keeps per-browser storage in files, by default under the working directory: keep
    # them in a private temporary folder instead (they only hold session references).
    Storage.path = Path(tempfile.mkdtemp(prefix="kubecap-ui-"))
    nicegui_app.storage = Storage()
    # The storage secret signs NiceGUI's browser id cookie; a fresh one per process only logs users out
    # of the UI on restart, and nothing secret is kept in that storage but the session, which expires.
    ui.run_with(app, title=t("app"), storage_secret=secrets.token_urlsafe(32), show_welcome_message=False)
