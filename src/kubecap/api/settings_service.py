"""Settings people change at run time: prices per cluster and node pool, notification channels.

Both live in the database and win over the settings file's values of the same name; the
file's own values are shown beside them, read-only. Channel URLs carry secrets (tokens,
webhook keys): they are accepted, validated and stored, and from then on only a masked form
(the scheme) leaves this module. Every change is audited in the transaction that makes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from kubecap.config import Settings
from kubecap.cost.prices import Price, Prices
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.domain.notifications import Channel, EventKind, Notification
from kubecap.errors import ConfigError, NotFoundError
from kubecap.ops.notify import Delivery, Notifier, Sender, apprise_send, check_channel
from kubecap.store import Store
from kubecap.store.signin_repo import PriceOverride

PriceScope = Literal["cluster", "pool"]
MAX_PRICE = 1000.0  # dollars per core-hour or GiB-hour: anything above is a typo, not a price
CHANNEL_EVENTS = tuple(e for e in EventKind if e is not EventKind.TEST)


def mask(url: str) -> str:
    """What may be shown of a saved apprise URL: its scheme (the service), never the rest."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://••••" if sep else "••••"


def check_price(what: str, value: float) -> float:
    if not math.isfinite(value) or value < 0 or value > MAX_PRICE:
        raise ConfigError(
            f"{what} {value!r} is not a price: give US dollars per hour between 0 and {MAX_PRICE:g}"
        )
    return value


@dataclass(frozen=True, slots=True)
class ChannelView:
    name: str
    urls: tuple[str, ...]  # masked
    clusters: tuple[str, ...]
    events: tuple[str, ...]
    source: str  # "settings" (read-only) or "database"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "urls": list(self.urls),
            "clusters": list(self.clusters),
            "events": list(self.events),
            "source": self.source,
        }


class SettingsService:
    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], datetime], send: Sender = apprise_send
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._send = send

    def _event(
        self,
        actor: str,
        action: str,
        target: str,
        *,
        cluster: str = "",
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        result: AuditResult = AuditResult.OK,
        message: str = "",
    ) -> AuditEvent:
        return AuditEvent(
            at=self._clock(),
            actor=actor,
            action=action,
            target=target,
            result=result,
            cluster=cluster,
            before=before,
            after=after,
            message=message,
        )

    # --- prices --------------------------------------------------------------------------------

    async def price_rows(self) -> list[dict[str, Any]]:
        """The default, the file's overrides and the saved ones (which win), each with its source."""
        cost = self._settings.cost
        rows: list[dict[str, Any]] = [
            {
                "scope": "default",
                "name": "",
                "cpu_price": cost.cpu_price,
                "memory_price": cost.memory_price,
                "source": "settings",
            }
        ]
        for scope, table in (("cluster", cost.clusters), ("pool", cost.pools)):
            rows += [
                {"scope": scope, "name": n, "cpu_price": p.cpu_price, "memory_price": p.memory_price}
                | {"source": "settings"}
                for n, p in sorted(table.items())
            ]
        for o in await self._store.price_overrides():
            rows = [r for r in rows if (r["scope"], r["name"]) != (o.scope, o.name)]
            rows.append(
                {
                    "scope": o.scope,
                    "name": o.name,
                    "cpu_price": o.cpu_price,
                    "memory_price": o.memory_price,
                    "source": "database",
                    "updated_by": o.updated_by,
                    "updated_at": o.updated_at.isoformat(),
                }
            )
        return rows

    async def prices(self) -> Prices:
        """The prices in force: the settings file's, with the saved overrides on top."""
        cost = self._settings.cost
        clusters = {n: Price(p.cpu_price, p.memory_price) for n, p in cost.clusters.items()}
        pools = {n: Price(p.cpu_price, p.memory_price) for n, p in cost.pools.items()}
        for o in await self._store.price_overrides():
            (clusters if o.scope == "cluster" else pools)[o.name] = Price(o.cpu_price, o.memory_price)
        return Prices(Price(cost.cpu_price, cost.memory_price), clusters, pools)

    async def _check_scope(self, scope: str, name: str) -> None:
        if scope == "cluster":
            known = {c.name for c in self._settings.clusters} | set(await self._store.clusters())
            if name not in known:
                raise ConfigError(
                    f"cluster {name!r} is not configured: use one of {', '.join(sorted(known)) or 'none'}"
                )
        elif scope == "pool":
            pools = {n.pool for n in await self._store.node_usage() if n.pool}
            if name not in pools:
                raise ConfigError(
                    f"node pool {name!r} matches no stored node pool (known: {', '.join(sorted(pools)) or 'none'}):"
                    " check the pool label's value"
                )
        else:
            raise ConfigError(f"price scope {scope!r} is unknown: use cluster or pool")

    async def set_price(self, actor: str, scope: str, name: str, cpu: float, memory: float) -> PriceOverride:
        await self._check_scope(scope, name)
        price = PriceOverride(
            scope,
            name,
            check_price("the CPU price", cpu),
            check_price("the memory price", memory),
            self._clock(),
            actor,
        )
        before = {(o.scope, o.name): o for o in await self._store.price_overrides()}.get((scope, name))
        await self._store.save_price(
            price,
            audit=self._event(
                actor,
                "price.set",
                f"{scope} {name}",
                cluster=name if scope == "cluster" else "",
                before=None
                if before is None
                else {"cpu_price": before.cpu_price, "memory_price": before.memory_price},
                after={"cpu_price": price.cpu_price, "memory_price": price.memory_price},
            ),
        )
        return price

    async def remove_price(self, actor: str, scope: str, name: str) -> None:
        audit = self._event(
            actor, "price.remove", f"{scope} {name}", cluster=name if scope == "cluster" else ""
        )
        if not await self._store.delete_price(scope, name, audit=audit):
            raise NotFoundError(f"no saved price for {scope} {name!r}: list the prices to see them")

    # --- notification channels -----------------------------------------------------------------

    def _file_channels(self) -> list[Channel]:
        return [
            Channel(
                c.name,
                tuple(u.get_secret_value() for u in c.urls),
                frozenset(c.clusters),
                frozenset(EventKind(e) for e in c.events),
            )
            for c in self._settings.notifications.channels
        ]

    async def channels(self) -> list[ChannelView]:
        def view(c: Channel, source: str) -> ChannelView:
            return ChannelView(
                c.name,
                tuple(mask(u) for u in c.urls),
                tuple(sorted(c.clusters)),
                tuple(sorted(e.value for e in c.events)),
                source,
            )

        from_file = [view(c, "settings") for c in self._file_channels()]
        named = {c.name for c in from_file}
        saved = [
            view(c, "database") for c in await self._store.notification_channels() if c.name not in named
        ]
        return from_file + saved

    async def save_channel(
        self,
        actor: str,
        name: str,
        urls: Sequence[str] | None,
        clusters: Sequence[str],
        events: Sequence[str],
    ) -> ChannelView:
        """Create or change a channel; ``urls`` None keeps the saved URLs (they are never shown back)."""
        name = name.strip()
        if not name or len(name) > 253:
            raise ConfigError("a channel needs a name of 1 to 253 characters, e.g. 'oncall-slack'")
        if name in {c.name for c in self._file_channels()}:
            raise ConfigError(
                f"channel {name!r} comes from the settings file: change it there, or use another name"
            )
        saved = {c.name: c for c in await self._store.notification_channels()}
        before = saved.get(name)
        if urls is None:
            if before is None:
                raise ConfigError(f"channel {name!r} is new: give at least one apprise URL")
            kept = before.urls
        else:
            kept = tuple(u.strip() for u in urls if u.strip())
        known = {c.name for c in self._settings.clusters} | set(await self._store.clusters())
        for cluster in clusters:
            if cluster not in known:
                raise ConfigError(
                    f"cluster {cluster!r} is not configured: use one of {', '.join(sorted(known)) or 'none'}"
                )
        valid = {e.value: e for e in CHANNEL_EVENTS}
        for event in events:
            if event not in valid:
                raise ConfigError(f"event kind {event!r} is unknown: use one of {', '.join(valid)}")
        kinds = [valid[e] for e in events]
        channel = check_channel(Channel(name, kept, frozenset(clusters), frozenset(kinds)))

        def shape(c: Channel) -> dict[str, Any]:
            return {
                "urls": len(c.urls),
                "clusters": sorted(c.clusters),
                "events": sorted(e.value for e in c.events),
            }

        await self._store.save_notification_channel(
            channel,
            self._clock(),
            audit=self._event(
                actor,
                "channel.save",
                f"channel {name}",
                before=shape(before) if before else None,
                after=shape(channel) | {"urls_changed": urls is not None},
            ),
        )
        return ChannelView(
            name,
            tuple(mask(u) for u in channel.urls),
            tuple(sorted(clusters)),
            tuple(sorted(e.value for e in kinds)),
            "database",
        )

    async def delete_channel(self, actor: str, name: str) -> None:
        if name in {c.name for c in self._file_channels()}:
            raise ConfigError(f"channel {name!r} comes from the settings file: remove it there")
        audit = self._event(actor, "channel.delete", f"channel {name}")
        if not await self._store.delete_notification_channel(name, audit=audit):
            raise NotFoundError(
                f"notification channel {name!r} does not exist: list the channels to see them"
            )

    async def test_channel(self, actor: str, name: str) -> Delivery:
        """Send a test message to one channel (one attempt) and audit the outcome."""
        every = {c.name: c for c in await self._store.notification_channels()}
        every.update({c.name: c for c in self._file_channels()})
        channel = every.get(name)
        if channel is None:
            raise NotFoundError(
                f"notification channel {name!r} does not exist: list the channels to see them"
            )
        notifier = Notifier(
            [channel],
            base_url=self._settings.notifications.base_url,
            attempts=1,
            send=self._send,
        )
        note = Notification(EventKind.TEST, "", "test message", f"sent by {actor} from the settings page")
        delivery = (await notifier.notify(note))[0]
        await self._store.record_audit(
            self._event(
                actor,
                "channel.test",
                f"channel {name}",
                result=AuditResult.OK if delivery.ok else AuditResult.FAILED,
                message=delivery.reason,
            )
        )
        return delivery
