"""Nodes: live load and taints where the cluster's API is wired, the daily figures otherwise."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kubecap.api.context import context
from kubecap.api.nodes_view import nodes as node_rows
from kubecap.api.security import Viewer

router = APIRouter(prefix="/api", tags=["nodes"])


@router.get("/nodes")
async def nodes(principal: Viewer, request: Request, cluster: str | None = None) -> dict[str, Any]:
    """``items``: one row per node, ``source`` "live" (load shares 0-1 and taints from the cluster)
    or "daily" (the latest stored day); ``problems``: what could not be read, one sentence each."""
    return await node_rows(context(request), cluster)
