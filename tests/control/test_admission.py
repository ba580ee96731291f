"""The admission decision, rule by rule, on reviews shaped as kube-apiserver sends them."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from kubecap.control.admission import Outcome
from kubecap.control.patch import pointer
from kubecap.domain.control import (
    TEMPORARY_REPLICAS,
    ContainerSpec,
    Enforcement,
    ReplicasMode,
    Unmanaged,
)
from kubecap.domain.workload import WorkloadKind
from kubecap.testing.admission import HPA, container, review, scale_review, workload
from tests.control.builders import NOW, containers_of, patched, policy, run, spec

APP_WANTED = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}


def edited(obj: dict[str, Any], **changes: Any) -> dict[str, Any]:
    new = copy.deepcopy(obj)
    if "image" in changes:
        new["spec"]["template"]["spec"]["containers"][0]["image"] = changes["image"]
    if "replicas" in changes:
        new["spec"]["replicas"] = changes["replicas"]
    if "label" in changes:
        new["metadata"]["labels"]["extra"] = changes["label"]
    if "annotations" in changes:
        new["metadata"]["annotations"].update(changes["annotations"])
    return new


def test_create_gets_replicas_and_every_listed_containers_resources() -> None:
    obj = workload(replicas=5)
    decision = run(review(obj), spec())
    assert decision.outcome is Outcome.MUTATED and decision.allowed
    result = patched(obj, decision)
    assert result["spec"]["replicas"] == 2
    resources = containers_of(result)
    assert resources["app"] == APP_WANTED
    # Containers the spec does not list are left exactly as they were.
    assert resources["istio-proxy"] == containers_of(obj)["istio-proxy"]
    assert resources["log-shipper"] == {}
    assert "kubecap set replicas 5 -> 2" in decision.warnings[0]


def test_an_update_changing_neither_template_nor_replicas_passes_untouched() -> None:
    old = workload(replicas=5)
    decision = run(review(edited(old, label="x"), old), spec())
    assert decision.outcome is Outcome.UNTOUCHED
    assert decision.patch == () and decision.warnings == ()


def test_a_replicas_only_update_gets_the_tables_replicas_and_nothing_else() -> None:
    old = workload(replicas=5)
    new = edited(old, replicas=9)
    decision = run(review(new, old), spec())
    result = patched(new, decision)
    assert result["spec"]["replicas"] == 2
    assert containers_of(result) == containers_of(new)  # resources differ from the table, but are kept


def test_a_template_change_gets_replicas_and_resources() -> None:
    old = workload(replicas=5)
    new = edited(old, image="registry.example.com/shop/app:1.5.0")
    result = patched(new, run(review(new, old), spec()))
    assert result["spec"]["replicas"] == 2
    assert containers_of(result)["app"] == APP_WANTED


@pytest.mark.parametrize("kind", [WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET])
def test_the_scale_subresource_gets_the_tables_replicas(kind: WorkloadKind) -> None:
    document = scale_review(kind=kind.value, replicas=7, old_replicas=3)
    decision = run(document, spec(kind=kind))
    assert decision.patch[0] == {"op": "replace", "path": "/spec/replicas", "value": 2}
    assert patched(document["request"]["object"], decision)["spec"]["replicas"] == 2


def test_a_scale_by_the_hpa_is_never_fought() -> None:
    decision = run(scale_review(replicas=7, user=HPA), spec())
    assert decision.outcome is Outcome.UNTOUCHED and decision.patch == ()
    assert "set mode hpa" in decision.warnings[0]


def test_hpa_mode_keeps_replicas_but_enforces_resources() -> None:
    obj = workload(replicas=5)
    control = spec(replicas=None, mode=ReplicasMode.HPA)
    result = patched(obj, run(review(obj), control))
    assert result["spec"]["replicas"] == 5
    assert containers_of(result)["app"] == APP_WANTED
    assert run(scale_review(replicas=8), control).patch == ()


def _override(replicas: int, delta: timedelta) -> str:
    return f"{replicas}@{(NOW + delta).isoformat().replace('+00:00', 'Z')}"


@pytest.mark.parametrize(
    ("annotation", "expected", "note"),
    [
        (_override(12, timedelta(hours=1)), 12, None),
        (_override(12, -timedelta(seconds=1)), 2, "expired at"),
        ("twelve@tomorrow", 2, "is not valid"),
        ("12@2026-12-01T18:00:00", 2, "without a time zone"),
        ("999999999@2030-01-01T00:00:00Z", 2, "more than"),
    ],
)
def test_the_temporary_override_wins_until_it_expires(
    annotation: str, expected: int, note: str | None
) -> None:
    obj = workload(replicas=5, annotations={TEMPORARY_REPLICAS: annotation})
    decision = run(review(obj), spec())
    assert patched(obj, decision)["spec"]["replicas"] == expected
    if note:
        assert any(note in w for w in decision.warnings), decision.warnings


def test_annotating_the_override_alone_scales_the_workload() -> None:
    old = workload(replicas=2)
    new = edited(old, annotations={TEMPORARY_REPLICAS: _override(10, timedelta(hours=2))})
    decision = run(review(new, old), spec())
    assert patched(new, decision)["spec"]["replicas"] == 10
    assert containers_of(patched(new, decision)) == containers_of(new)  # principle 2: replicas only


def test_a_scale_honours_the_parents_override_when_known() -> None:
    annotations = {TEMPORARY_REPLICAS: _override(10, timedelta(hours=2))}
    assert run(scale_review(replicas=10), spec(), parent_annotations=annotations).patch == ()
    assert run(scale_review(replicas=10), spec()).patch[0]["value"] == 2


def test_warn_mode_never_patches_and_says_what_enforce_would_change() -> None:
    obj = workload(replicas=5)
    decision = run(review(obj), spec(), policy(Enforcement.WARN))
    assert decision.outcome is Outcome.WARNED and decision.allowed and decision.patch == ()
    assert decision.warnings[0].startswith("kubecap (warn mode) would set replicas 5 -> 2")
    assert "app.requests.cpu 500m -> 250m" in decision.warnings[0]
    assert "app.limits.cpu 1 -> unset" in decision.warnings[0]


def test_enforcement_off_skips_everything() -> None:
    assert run(review(workload()), spec(), policy(Enforcement.OFF)).outcome is Outcome.SKIPPED
    assert run(review(workload()), None, policy(Enforcement.OFF, Unmanaged.REJECT)).allowed


@pytest.mark.parametrize(
    ("unmanaged", "enforcement", "outcome", "allowed"),
    [
        (Unmanaged.ALLOW, Enforcement.ENFORCE, Outcome.UNMANAGED, True),
        (Unmanaged.REJECT, Enforcement.ENFORCE, Outcome.REJECTED, False),
        (Unmanaged.REJECT, Enforcement.WARN, Outcome.WARNED, True),
        (Unmanaged.REGISTER, Enforcement.ENFORCE, Outcome.REGISTERED, True),
        (Unmanaged.REGISTER, Enforcement.WARN, Outcome.UNMANAGED, True),
    ],
)
def test_unmanaged_workloads_follow_the_namespace_policy(
    unmanaged: Unmanaged, enforcement: Enforcement, outcome: Outcome, allowed: bool
) -> None:
    decision = run(review(workload()), None, policy(enforcement, unmanaged))
    assert (decision.outcome, decision.allowed, decision.patch) == (outcome, allowed, ())


def test_the_rejection_says_how_to_register() -> None:
    decision = run(review(workload()), None, policy(unmanaged=Unmanaged.REJECT))
    assert "kubecap control set deployment/web -n shop --replicas N" in decision.message
    # The HPA scaling an unmanaged workload is never rejected.
    assert run(scale_review(user=HPA), None, policy(unmanaged=Unmanaged.REJECT)).allowed


def test_registration_records_the_object_as_it_is_and_never_on_a_dry_run() -> None:
    obj = workload(replicas=4)
    decision = run(review(obj), None, policy(unmanaged=Unmanaged.REGISTER))
    assert decision.register is not None
    assert decision.register.replicas == 4 and decision.register.replicas_mode is ReplicasMode.OBSERVED
    assert decision.register.container("app") == ContainerSpec(
        "app", {"cpu": "500m", "memory": "512Mi"}, {"cpu": "1", "memory": "1Gi"}
    )
    assert decision.register.container("log-shipper") is None  # states nothing: left alone
    dry = run(review(obj, dry_run=True), None, policy(unmanaged=Unmanaged.REGISTER))
    assert dry.register is None and "dry run" in dry.warnings[0]


@pytest.mark.parametrize(
    ("resources", "expected_ops"),
    [
        (None, [("add", "/spec/template/spec/containers/0/resources")]),
        ({}, [("add", "/spec/template/spec/containers/0/resources/requests")]),
        ({"requests": None}, [("add", "/spec/template/spec/containers/0/resources/requests")]),
        (
            {"requests": {"cpu": "1"}},
            [
                ("add", "/spec/template/spec/containers/0/resources/requests/cpu"),
                ("add", "/spec/template/spec/containers/0/resources/limits"),
            ],
        ),
    ],
)
def test_patches_apply_whether_or_not_resources_requests_or_limits_exist(
    resources: dict[str, Any] | None, expected_ops: list[tuple[str, str]]
) -> None:
    app = container("app")
    if resources is None:
        del app["resources"]
    else:
        app["resources"] = resources
    obj = workload(replicas=2, containers=[app])
    control = spec(containers=(ContainerSpec("app", {"cpu": "250m"}, {"memory": "512Mi"}),))
    decision = run(review(obj), control)
    ops = [(op["op"], op["path"]) for op in decision.patch if op["op"] != "test"]
    assert ops[: len(expected_ops)] == expected_ops
    result = containers_of(patched(obj, decision))["app"]
    assert result["requests"]["cpu"] == "250m" and result["limits"]["memory"] == "512Mi"


def test_resource_names_are_escaped_in_json_pointers() -> None:
    assert pointer("a/b", "c~d", 0) == "/a~1b/c~0d/0"
    obj = workload(
        replicas=2, containers=[container("app", {"example.com/gpu": "1"}, {"example.com/gpu": "1"})]
    )
    control = spec(containers=(ContainerSpec("app", {"example.com/gpu": "2"}, {"example.com/gpu": "2"}),))
    decision = run(review(obj), control)
    paths = [op["path"] for op in decision.patch]
    assert "/spec/template/spec/containers/0/resources/requests/example.com~1gpu" in paths
    assert containers_of(patched(obj, decision))["app"]["limits"] == {"example.com/gpu": "2"}


@pytest.mark.parametrize(
    ("current", "wanted"),
    [("1000m", "1"), ("1", "1000m"), ("1Gi", "1024Mi"), ("0.5", "500m"), ("1.1", "1100m"), ("2e3", "2k")],
)
def test_quantities_are_compared_by_value(current: str, wanted: str) -> None:
    obj = workload(replicas=2, containers=[container("app", {"cpu": current})])
    control = spec(containers=(ContainerSpec("app", {"cpu": wanted}),))
    assert run(review(obj), control).outcome is Outcome.UNTOUCHED


def test_a_request_above_the_objects_limit_raises_the_limit() -> None:
    obj = workload(replicas=2, containers=[container("app", {"cpu": "500m"}, {"cpu": "1"})])
    control = spec(containers=(ContainerSpec("app", {"cpu": "2"}),))
    decision = run(review(obj), control)
    assert containers_of(patched(obj, decision))["app"] == {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}
    assert any("limits.cpu 1 raised to the request 2" in w for w in decision.warnings)


def test_a_limit_below_the_objects_request_lowers_the_request() -> None:
    obj = workload(replicas=2, containers=[container("app", {"memory": "1Gi"}, {"memory": "2Gi"})])
    control = spec(containers=(ContainerSpec("app", {}, {"memory": "512Mi"}),))
    result = containers_of(patched(obj, run(review(obj), control)))["app"]
    assert result == {"requests": {"memory": "512Mi"}, "limits": {"memory": "512Mi"}}


def test_a_spec_container_missing_from_the_template_is_reported_not_applied() -> None:
    control = spec(containers=(ContainerSpec("gone", {"cpu": "1"}),))
    decision = run(review(workload(replicas=2)), control)
    assert decision.patch == ()
    assert "container 'gone' of the control spec is not in the pod template" in decision.warnings[0]


def test_containers_are_patched_by_name_guarded_by_a_test_of_the_name() -> None:
    control = spec(containers=(ContainerSpec("log-shipper", {"cpu": "50m"}),))
    decision = run(review(workload(replicas=2)), control)
    assert decision.patch[0] == {
        "op": "test",
        "path": "/spec/template/spec/containers/2/name",
        "value": "log-shipper",
    }


def test_absent_replicas_are_added_and_a_scale_without_spec_gets_one() -> None:
    obj = workload(replicas=None)
    assert patched(obj, run(review(obj), spec()))["spec"]["replicas"] == 2
    document = scale_review()
    del document["request"]["object"]["spec"]
    assert patched(document["request"]["object"], run(document, spec()))["spec"] == {"replicas": 2}


def test_delete_is_skipped() -> None:
    assert run(review(None, workload(), operation="DELETE"), spec()).outcome is Outcome.SKIPPED


@pytest.mark.parametrize("update", [False, True])
def test_reviewing_the_patched_object_again_yields_no_patch(update: bool) -> None:
    original = workload(replicas=5)
    first = review(edited(original, image="x:2"), original) if update else review(original)
    obj = first["request"]["object"]
    result = patched(obj, run(first, spec()))
    # Reinvocation: the same request with the patched object (oldObject unchanged).
    again = review(result, original) if update else review(result)
    assert run(again, spec()).patch == ()
