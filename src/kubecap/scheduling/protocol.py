"""kube-scheduler's HTTP extender protocol (k8s.io/kube-scheduler/extender/v1), both directions.

The Go types carry no JSON tags, so the keys are Go field names: a request is
``{"Pod": <v1.Pod>, "Nodes": <v1.NodeList> | null, "NodeNames": [..] | null}`` (NodeNames
when the extender is ``nodeCacheCapable``, Nodes otherwise); a filter answer is
``{"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}`` and a
prioritize answer ``[{"Host": name, "Score": 0..10}]``. Go decodes keys without regard to
case, so this side does too. kube-scheduler rejects an answer that names a node it did not
send, so answers only ever repeat names from the request; in the Nodes form the node
objects go back as they came.

Bad input becomes a ProtocolError with one sentence; the server answers it as the filter
result's ``Error`` (kube-scheduler logs it and, with ``ignorable: true``, goes on without us).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubecap.errors import KubecapError
from kubecap.scheduling.pods import PodError, PodInfo, pod_info
from kubecap.scheduling.policy import FilterOutcome, ScoreOutcome


class ProtocolError(KubecapError):
    """An extender request kubecap cannot read; the message names the field."""


@dataclass(frozen=True)
class ExtenderArgs:
    """A filter or prioritize request: the pod and its candidate nodes, in the request's order.

    ``nodes`` holds the v1.Node objects when the request used the Nodes form (else None);
    ``addresses`` the addresses those objects list (InternalIP, Hostname, ...) by node name.
    """

    pod: PodInfo
    node_names: tuple[str, ...]
    names_form: bool
    nodes: tuple[Mapping[str, Any], ...] | None = None
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _field(body: Mapping[str, Any], name: str) -> Any:
    if name in body:
        return body[name]
    lowered = name.lower()
    for key, value in body.items():
        if key.lower() == lowered:
            return value
    return None


def _node_objects(value: Any) -> tuple[tuple[Mapping[str, Any], ...], dict[str, tuple[str, ...]]]:
    if not isinstance(value, Mapping):
        raise ProtocolError(f"Nodes must be a v1.NodeList object, not {type(value).__name__}")
    items = _field(value, "items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ProtocolError(f"Nodes.items must be a list of v1.Node objects, not {type(items).__name__}")
    addresses: dict[str, tuple[str, ...]] = {}
    for index, item in enumerate(items):
        metadata = item.get("metadata") if isinstance(item, Mapping) else None
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"Nodes.items[{index}] has no metadata.name: send v1.Node objects")
        status = item.get("status")
        listed = status.get("addresses") if isinstance(status, Mapping) else None
        if isinstance(listed, list):
            addresses[name] = tuple(
                str(a["address"])
                for a in listed
                if isinstance(a, Mapping) and isinstance(a.get("address"), str)
            )
    return tuple(items), addresses


def parse_args(body: bytes) -> ExtenderArgs:
    """The request body as ExtenderArgs, or a ProtocolError saying what is wrong with it."""
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(
            f"the request body is not JSON ({exc}): kube-scheduler sends ExtenderArgs as JSON"
        ) from None
    if not isinstance(decoded, Mapping):
        raise ProtocolError(
            f"the request body is a JSON {type(decoded).__name__}, not an ExtenderArgs object "
            "with Pod and NodeNames or Nodes"
        )
    try:
        pod = pod_info(_field(decoded, "Pod"))
    except PodError as exc:
        raise ProtocolError(str(exc)) from None
    raw_names = _field(decoded, "NodeNames")
    raw_nodes = _field(decoded, "Nodes")
    if raw_names is None and raw_nodes is None:
        raise ProtocolError(
            "the request has neither NodeNames nor Nodes: kube-scheduler sends NodeNames with "
            "nodeCacheCapable: true and Nodes otherwise"
        )
    nodes: tuple[Mapping[str, Any], ...] | None = None
    addresses: dict[str, tuple[str, ...]] = {}
    if raw_nodes is not None:
        nodes, addresses = _node_objects(raw_nodes)
    if raw_names is not None:
        if not isinstance(raw_names, list) or not all(isinstance(n, str) for n in raw_names):
            raise ProtocolError("NodeNames must be a list of node names (strings)")
        names = tuple(raw_names)
    else:
        assert nodes is not None
        names = tuple(str(n["metadata"]["name"]) for n in nodes)
    return ExtenderArgs(pod, names, raw_names is not None, nodes, addresses)


def filter_result(args: ExtenderArgs, outcome: FilterOutcome) -> dict[str, Any]:
    """An ExtenderFilterResult in the form of the request (NodeNames, Nodes, or both)."""
    result: dict[str, Any] = {
        "Nodes": None,
        "NodeNames": None,
        "FailedNodes": dict(outcome.failed),
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }
    if args.names_form:
        result["NodeNames"] = list(outcome.passed)
    if args.nodes is not None:
        keep = set(outcome.passed)
        result["Nodes"] = {
            "metadata": {},
            "items": [n for n in args.nodes if n["metadata"]["name"] in keep],
        }
    return result


def error_result(message: str) -> dict[str, Any]:
    """A filter answer that only carries an error, which kube-scheduler logs."""
    return {
        "Nodes": None,
        "NodeNames": None,
        "FailedNodes": {},
        "FailedAndUnresolvableNodes": {},
        "Error": message,
    }


def pass_all_result(args: ExtenderArgs) -> dict[str, Any]:
    """A filter answer that keeps every candidate (fail-open)."""
    return filter_result(args, FilterOutcome(args.node_names, {}))


def priority_list(scores: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"Host": host, "Score": score} for host, score in scores]


def prioritize_result(outcome: ScoreOutcome) -> list[dict[str, Any]]:
    """A HostPriorityList."""
    return priority_list(outcome.scores)


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_priorities(scores: Sequence[tuple[str, int]]) -> bytes:
    """``encode(priority_list(scores))``, three times faster when every name is a DNS-1123 name.

    Node names always are (the apiserver validates them); anything else goes the slow, escaping way.
    """
    names = "\n".join(host for host, _ in scores)
    if not _PLAIN_NAMES.fullmatch(names):
        return encode(priority_list(scores))
    return ("[" + ",".join(f'{{"Host":"{host}","Score":{score}}}' for host, score in scores) + "]").encode()


_PLAIN_NAMES = re.compile(r"[a-z0-9.\-\n]*")
