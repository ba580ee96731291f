"""The Control page's table says what the webhook sets in words, not Python dicts."""

from __future__ import annotations

from kubecap.ui.control import _container_text


def test_a_container_reads_as_requests_and_limits_without_removed_values() -> None:
    c = {
        "container": "nginx",
        "requests": {"memory": "61Mi", "cpu": "23m"},
        "limits": {"cpu": None, "memory": "256Mi"},
    }
    assert _container_text(c) == "nginx: requests cpu 23m memory 61Mi, limits memory 256Mi"
    assert _container_text({"container": "x", "requests": {}, "limits": None}) == "x: no values"
