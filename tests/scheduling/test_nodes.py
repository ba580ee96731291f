"""Matching node-exporter series to nodes: by name label, by instance with or without port, by IP."""

from __future__ import annotations

import pytest

from kubecap.domain.node_identity import NodeIdentity, NodeIndex, instance_host

INDEX = NodeIndex.build(
    [
        NodeIdentity("node-a", ("10.0.0.1",)),
        NodeIdentity("ip-10-0-0-2.ec2.internal", ("10.0.0.2",)),
        NodeIdentity("node-f"),
        NodeIdentity("twin-1", ("10.0.0.9",)),
        NodeIdentity("twin-2", ("10.0.0.9",)),  # two nodes claim one address: neither gets it
    ]
)


@pytest.mark.parametrize(
    ("instance", "host"),
    [
        ("10.0.0.5:9100", "10.0.0.5"),
        ("10.0.0.5", "10.0.0.5"),
        ("node-a:9100", "node-a"),
        ("node-a", "node-a"),
        ("[fd00::1]:9100", "fd00::1"),
        ("fd00::1", "fd00::1"),
        ("node-a:metrics", "node-a:metrics"),
    ],
)
def test_instance_host_drops_only_a_port(instance: str, host: str) -> None:
    assert instance_host(instance) == host


@pytest.mark.parametrize(
    ("labels", "node"),
    [
        ({"instance": "10.0.0.1:9100"}, "node-a"),  # internal IP with the exporter's port
        ({"instance": "10.0.0.1"}, "node-a"),  # without the port
        ({"instance": "node-a:9100"}, "node-a"),  # node name with port
        ({"instance": "node-a"}, "node-a"),
        ({"instance": "10.0.0.99:9100", "node": "node-a"}, "node-a"),  # a node label wins over instance
        ({"instance": "10.0.0.2:9100", "kubernetes_node": "unknown"}, "ip-10-0-0-2.ec2.internal"),
        ({"instance": "ip-10-0-0-2:9100"}, "ip-10-0-0-2.ec2.internal"),  # short name of the FQDN node
        ({"instance": "node-f.example.internal:9100"}, "node-f"),  # FQDN instance, short node name
        ({"instance": "10.0.0.9:9100"}, None),  # ambiguous address
        ({"instance": "10.9.9.9:9100"}, None),  # nobody
        ({}, None),
    ],
)
def test_series_resolve_to_their_node(labels: dict[str, str], node: str | None) -> None:
    assert INDEX.resolve(labels) == node


def test_without_known_nodes_series_name_their_node_themselves() -> None:
    empty = NodeIndex()
    assert empty.resolve({"instance": "node-x:9100"}) == "node-x"
    assert empty.resolve({"instance": "10.0.0.1:9100", "node": "node-y"}) == "node-y"
    assert empty.lookup("node-z") == "node-z"
    assert empty.resolve({}) is None


def test_custom_node_labels_are_honoured() -> None:
    index = NodeIndex.build([NodeIdentity("node-a")], node_labels=("host",))
    assert index.resolve({"host": "node-a", "instance": "nowhere:9100"}) == "node-a"
    assert index.resolve({"node": "node-a", "instance": "nowhere:9100"}) is None
