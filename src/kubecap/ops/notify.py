"""Delivering notifications with apprise: retried with backoff, never raising, every outcome returned.

A notification that cannot be delivered must not fail the operation that caused it: the
notifier tries each channel ``attempts`` times with doubling delays and reports a
``Delivery`` per channel, which the caller records in the audit log. Channel URLs carry
secrets (tokens, passwords), so messages name channels, never URLs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import apprise

from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.notifications import Channel, EventKind, Notification
from kubecap.domain.window import DailyWindow
from kubecap.errors import ConfigError
from kubecap.ops.ports import AuditLog

log = logging.getLogger(__name__)

Sender = Callable[[Channel, str, str], Awaitable[None]]
"""Sends (title, body) to every URL of a channel; raises NotificationFailed with the reason."""


class NotificationFailed(Exception):
    """One delivery attempt failed; the message says why, without the channel's URL."""


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    ok: bool
    attempts: int
    reason: str = ""


def check_channel(channel: Channel) -> Channel:
    """The channel, or a ConfigError naming it when apprise does not understand one of its URLs."""
    if not channel.urls:
        raise ConfigError(f"notification channel {channel.name!r} has no URL: add at least one apprise URL")
    for index, url in enumerate(channel.urls):
        if not apprise.Apprise().add(url):
            raise ConfigError(
                f"notification channel {channel.name!r}: URL number {index + 1} is not an apprise URL kubecap "
                "can use (e.g. slack://…, wecombot://…, dingtalk://…, feishu://…, mailto://…, json://host/path)"
            )
    return channel


async def apprise_send(channel: Channel, title: str, body: str) -> None:
    """The default sender: apprise, with the failure reason taken from its log."""
    sender = apprise.Apprise()
    for url in channel.urls:
        if not sender.add(url):
            raise NotificationFailed("an URL of the channel is not understood by apprise")
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        delivered = bool(await sender.async_notify(body=body, title=title))
    if not delivered:
        lines = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
        reason = lines[-1].split(" - ", 2)[-1] if lines else "apprise reported a failure"
        raise NotificationFailed(reason)


class Notifier:
    """Sends a notification to every channel that wants it; ``notify`` never raises."""

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        base_url: str | None = None,
        attempts: int = 3,
        backoff_s: float = 1.0,
        send: Sender = apprise_send,
    ) -> None:
        self._channels = list(channels)
        self._base_url = base_url
        self._attempts = max(attempts, 1)
        self._backoff_s = backoff_s
        self._send = send

    @property
    def channels(self) -> list[Channel]:
        return list(self._channels)

    async def notify(self, notification: Notification) -> list[Delivery]:
        title, body = notification.render(self._base_url)
        wanted = [c for c in self._channels if c.wants(notification)]
        return list(await asyncio.gather(*(self._deliver(c, title, body) for c in wanted)))

    async def _deliver(self, channel: Channel, title: str, body: str) -> Delivery:
        delay = self._backoff_s
        reason = ""
        for attempt in range(1, self._attempts + 1):
            try:
                await self._send(channel, title, body)
                return Delivery(channel.name, True, attempt)
            except NotificationFailed as exc:
                reason = str(exc)
            except Exception as exc:  # a broken plugin must not break the operation either
                reason = f"{type(exc).__name__}: {exc}"
            if attempt < self._attempts:
                await asyncio.sleep(delay)
                delay *= 2
        return Delivery(channel.name, False, self._attempts, reason)


async def notify_recorded(
    notifier: Notifier,
    audit: AuditLog,
    notification: Notification,
    *,
    actor: str,
    request_id: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Delivery]:
    """Send ``notification`` and record each channel's delivery in the audit log; never raises.

    What happened to a notification is kept where operators look (``kubecap audit --action
    notify``); a failure to record it is logged, and the operation that caused it goes on.
    """
    try:
        deliveries = await notifier.notify(notification)
        for delivery in deliveries:
            await audit.record_audit(
                AuditEvent(
                    at=clock(),
                    actor=actor,
                    action="notify",
                    cluster=notification.cluster,
                    target=f"channel {delivery.channel}",
                    result=AuditResult.OK if delivery.ok else AuditResult.FAILED,
                    request_id=request_id,
                    message=(
                        f"{notification.kind.value} delivered after {delivery.attempts} attempt(s)"
                        if delivery.ok
                        else f"{notification.kind.value} not delivered after {delivery.attempts} attempts: "
                        f"{delivery.reason}"
                    ),
                )
            )
        return deliveries
    except Exception:
        log.exception("recording a notification failed", extra={"title": notification.title})
        return []


def collection_failure_notifier(
    make_notifier: Callable[[], Awaitable[Notifier]],
    audit: AuditLog,
    *,
    actor: str = "kubecap collect",
    warn: Callable[[str], None] | None = None,
) -> Callable[[str, DailyWindow, str], Awaitable[None]]:
    """The collector's failure hook: tell the channels that want ``collection_failure``, audited.

    The notifier is built only when a window fails, and a problem building it (a channel the
    settings spell wrong) goes to ``warn``: it must never replace the collection's own error.
    """

    async def notify(cluster: str, window: DailyWindow, reason: str) -> None:
        try:
            sender = await make_notifier()
        except Exception as exc:
            if warn is not None:
                warn(f"the collection failure was not notified: {exc}")
            return
        note = Notification(
            EventKind.COLLECTION_FAILURE,
            cluster,
            f"collection of {window.day} {window.name} failed",
            f"{reason}. Collecting again resumes with this window.",
        )
        await notify_recorded(
            sender, audit, note, actor=actor, request_id=f"collect-{cluster}-{window.day}-{window.name}"
        )

    return notify
