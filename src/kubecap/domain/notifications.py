"""Notifications: the kinds of event people subscribe to, and the short message for each.

Rendering is pure: a title and one or two lines of body, with a link to the UI page when a
base URL is configured. Delivery (apprise, retries) lives in ``kubecap.ops.notify``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    TASK_RESULT = "task_result"
    WEBHOOK_REJECTION = "webhook_rejection"
    UNMANAGED_WORKLOAD = "unmanaged_workload"
    NODE_TAINT = "node_taint"
    COLLECTION_FAILURE = "collection_failure"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class Notification:
    kind: EventKind
    cluster: str
    title: str
    body: str
    path: str = ""  # UI path, e.g. /tasks/12; turned into a link when a base URL is set

    def render(self, base_url: str | None) -> tuple[str, str]:
        """(title, body) as sent."""
        body = self.body
        if base_url and self.path:
            body = f"{body}\n{base_url.rstrip('/')}{self.path}"
        return f"[kubecap/{self.cluster}] {self.title}" if self.cluster else f"[kubecap] {self.title}", body


@dataclass(frozen=True, slots=True)
class Channel:
    """Where notifications go: apprise URLs, for some clusters and event kinds (empty: all)."""

    name: str
    urls: tuple[str, ...]
    clusters: frozenset[str] = frozenset()
    events: frozenset[EventKind] = frozenset()

    def wants(self, notification: Notification) -> bool:
        if notification.kind is EventKind.TEST:
            return True
        return (not self.clusters or notification.cluster in self.clusters) and (
            not self.events or notification.kind in self.events
        )
