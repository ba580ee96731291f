"""Reading kube-scheduler's extender requests and writing its answers (no server involved)."""

from __future__ import annotations

import json

import pytest

from kubecap.scheduling.pods import Estimator, PodInfo, pod_info
from kubecap.scheduling.policy import FilterOutcome, ScoreOutcome
from kubecap.scheduling.protocol import (
    ProtocolError,
    error_result,
    filter_result,
    parse_args,
    prioritize_result,
)
from tests.scheduling.kube_requests import DAEMONSET_POD, POD, names_form, nodes_form

MI = 2**20


def test_names_form_is_read_with_the_pod_sizes_as_kube_scheduler_computes_them() -> None:
    args = parse_args(names_form(["node-a", "node-b", "node-c"]))
    assert args.node_names == ("node-a", "node-b", "node-c")
    assert args.names_form and args.nodes is None
    pod = args.pod
    assert (pod.namespace, pod.name, pod.uid) == (
        "shop",
        "web-7d4b9c9f7-x2k8p",
        "8e2c5d3a-6a53-4c1e-9b7a-0c5c2d0e9f11",
    )
    assert not pod.daemonset
    # Containers add up (250m + 100m, 256Mi + 64Mi); the init container (1500m, 512Mi) is a floor.
    assert pod.cpu_request == pytest.approx(1.5)
    assert pod.memory_request == 512 * MI
    assert pod.cpu_limit == pytest.approx(2.0)
    assert pod.memory_limit == 1024 * MI


def test_nodes_form_gives_names_in_order_and_the_addresses_of_each_node() -> None:
    args = parse_args(nodes_form([("node-b", "10.0.0.2"), ("node-a", "10.0.0.1")]))
    assert args.node_names == ("node-b", "node-a")
    assert not args.names_form
    assert args.addresses == {"node-b": ("10.0.0.2", "node-b"), "node-a": ("10.0.0.1", "node-a")}


def test_daemonset_pods_are_recognised_by_their_owner() -> None:
    assert parse_args(names_form(["node-b"], DAEMONSET_POD)).pod.daemonset


def test_keys_are_matched_without_regard_to_case_as_go_does() -> None:
    body = json.dumps({"pod": json.loads(POD), "nodenames": ["x"]}).encode()
    assert parse_args(body).node_names == ("x",)


def test_filter_answer_in_the_names_form_uses_go_field_names() -> None:
    args = parse_args(names_form(["node-a", "node-b", "node-c"]))
    outcome = FilterOutcome(
        ("node-a", "node-c"), {"node-b": "kubecap: node is loaded: cpu avg_5m 0.80 > 0.65"}
    )
    assert filter_result(args, outcome) == {
        "Nodes": None,
        "NodeNames": ["node-a", "node-c"],
        "FailedNodes": {"node-b": "kubecap: node is loaded: cpu avg_5m 0.80 > 0.65"},
        "FailedAndUnresolvableNodes": {},
        "Error": "",
    }


def test_filter_answer_in_the_nodes_form_returns_the_node_objects_as_they_came() -> None:
    body = nodes_form([("node-a", "10.0.0.1"), ("node-b", "10.0.0.2")])
    args = parse_args(body)
    result = filter_result(args, FilterOutcome(("node-b",), {"node-a": "loaded"}))
    assert result["NodeNames"] is None
    sent = json.loads(body)["Nodes"]["items"]
    assert result["Nodes"] == {"metadata": {}, "items": [sent[1]]}


def test_prioritize_answer_is_a_host_priority_list() -> None:
    assert prioritize_result(ScoreOutcome((("node-a", 7), ("node-b", 0)))) == [
        {"Host": "node-a", "Score": 7},
        {"Host": "node-b", "Score": 0},
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body is not JSON"),
        (b"{not json", "the request body is not JSON"),
        (b"[1, 2]", "is a JSON list, not an ExtenderArgs object"),
        (b'{"NodeNames": ["a"]}', "Pod is missing"),
        (b'{"Pod": "web", "NodeNames": ["a"]}', "Pod must be an object, not str"),
        (b'{"Pod": {"metadata": {"name": "p"}}}', "neither NodeNames nor Nodes"),
        (
            b'{"Pod": {"metadata": {"name": "p"}}, "NodeNames": "a,b"}',
            "NodeNames must be a list of node names",
        ),
        (b'{"Pod": {"metadata": {"name": "p"}}, "NodeNames": [1]}', "NodeNames must be a list of node names"),
        (b'{"Pod": {"metadata": {"name": "p"}}, "Nodes": []}', "Nodes must be a v1.NodeList object"),
        (
            b'{"Pod": {"metadata": {"name": "p"}}, "Nodes": {"items": [{}]}}',
            "Nodes.items[0] has no metadata.name",
        ),
        (b'{"Pod": {"metadata": {}}, "NodeNames": []}', "Pod.metadata.name is missing"),
        (
            b'{"Pod": {"metadata": {"name": "p"}, "spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}},'
            b' "NodeNames": []}',
            "Pod.spec.containers[0].resources.requests.cpu 'lots' is not a quantity",
        ),
        (
            b'{"Pod": {"metadata": {"name": "p"}, "spec": {"containers": {"name": "x"}}}, "NodeNames": []}',
            "Pod.spec.containers must be a list",
        ),
    ],
)
def test_bad_requests_get_one_sentence_naming_the_field(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_args(body)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert error_result(str(caught.value))["Error"] == str(caught.value)


def test_native_sidecars_add_up_with_the_containers_and_overhead_is_added() -> None:
    pod = pod_info(
        {
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {
                "initContainers": [
                    {"name": "mesh", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                    {"name": "setup", "resources": {"requests": {"cpu": "200m"}}},
                ],
                "containers": [
                    {"name": "app", "resources": {"requests": {"cpu": "300m"}, "limits": {"memory": "1Gi"}}}
                ],
                "overhead": {"cpu": "50m", "memory": "10Mi"},
            },
        }
    )
    assert pod.cpu_request == pytest.approx(0.45)  # 300m + the 100m sidecar, above the 200m init; + 50m
    assert pod.memory_request == 1024 * MI + 10 * MI  # a limit alone stands for the request


def test_the_estimate_is_koordinators() -> None:
    estimator = Estimator()
    sized = PodInfo("n", "p", cpu_request=0.5, cpu_limit=2.0, memory_request=1024 * MI)
    assert estimator.cpu(sized) == pytest.approx(1.7)
    assert estimator.memory(sized) == pytest.approx(0.7 * 1024 * MI)
    best_effort = PodInfo("n", "q")
    assert estimator.cpu(best_effort) == 0.25
    assert estimator.memory(best_effort) == 200 * MI
