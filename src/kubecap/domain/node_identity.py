"""Which Kubernetes node a node-exporter series belongs to (used by collection and scheduling).

The most common failure of crane-scheduler is "failed to get data": it looks series up by
the node's IP in ``instance`` while the scrape config put the node name there, or the
other way round, or with a port it does not expect. kubecap matches each series against
every identity it knows of a node, in this order: a label that holds the node name
(``node``, ``kubernetes_node``, ``nodename`` by default), then ``instance`` with or without
its port, compared with node names, internal IPs and host names, then the first DNS label
of ``instance`` against node names when exactly one node has it. What did not match is
reported by name on both sides: nodes without data and series without a node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


def instance_host(instance: str) -> str:
    """``instance`` without its port: "10.0.0.5:9100" → "10.0.0.5", "[fd00::1]:9100" → "fd00::1"."""
    text = instance.strip()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:  # host:port; a bare IPv6 address has several colons
        host, _, port = text.partition(":")
        if port.isdigit():
            return host
    return text


def _short(name: str) -> str:
    # An IP address has no DNS labels to shorten.
    if name.replace(".", "").isdigit() or ":" in name:
        return name
    return name.split(".", 1)[0]


@dataclass(frozen=True)
class NodeIdentity:
    """What a node is known by: its name and its addresses (InternalIP, Hostname, ...)."""

    name: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeIndex:
    """Known nodes by every identity; empty when no node is known (then series name themselves)."""

    names: frozenset[str] = frozenset()
    by_address: Mapping[str, str] = field(default_factory=dict)
    by_short: Mapping[str, str] = field(default_factory=dict)
    node_labels: tuple[str, ...] = ("node", "kubernetes_node", "nodename")

    @classmethod
    def build(
        cls,
        identities: Iterable[NodeIdentity],
        node_labels: Sequence[str] = ("node", "kubernetes_node", "nodename"),
    ) -> NodeIndex:
        merged: dict[str, set[str]] = {}
        for identity in identities:
            if identity.name:
                merged.setdefault(identity.name, set()).update(a for a in identity.addresses if a)
        by_address: dict[str, str] = {}
        ambiguous: set[str] = set()
        for name, addresses in merged.items():
            for address in addresses:
                if address in by_address and by_address[address] != name:
                    ambiguous.add(address)  # two nodes claim one address: trust neither
                by_address[address] = name
        for address in ambiguous:
            del by_address[address]
        shorts: dict[str, list[str]] = {}
        for name in merged:
            shorts.setdefault(_short(name), []).append(name)
        by_short = {short: names[0] for short, names in shorts.items() if len(names) == 1}
        return cls(frozenset(merged), by_address, by_short, tuple(node_labels))

    def _known(self, candidate: str) -> str | None:
        if candidate in self.names:
            return candidate
        if candidate in self.by_address:
            return self.by_address[candidate]
        return self.by_short.get(_short(candidate))

    def lookup(self, name: str) -> str | None:
        """A node known by ``name`` (a name, address or short name); the name itself when none is known."""
        if not self.names:
            return name or None
        return self._known(name) if name else None

    def resolve(self, labels: Mapping[str, str]) -> str | None:
        """The node a series with these labels belongs to, or None when it matches no known node."""
        named = [labels[label] for label in self.node_labels if labels.get(label)]
        host = instance_host(labels.get("instance", ""))
        if not self.names:
            # Nothing to match against: the series name their node themselves.
            return named[0] if named else (host or None)
        for candidate in (*named, host):
            if candidate:
                found = self._known(candidate)
                if found is not None:
                    return found
        return None


def series_name(labels: Mapping[str, str]) -> str:
    """How a series is named in messages: its instance, else its labels."""
    if labels.get("instance"):
        return labels["instance"]
    shown = ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")
    return "{" + shown + "}"
