"""The webhook keeps the answers of managed workloads (``memo_key``): a kept answer is exactly what
``decide`` would say, it never outlives the control table it was decided from, and reviews whose
decision depends on the time or on the parent workload are never kept."""

from __future__ import annotations

import base64
import copy
import json
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubecap.control.admission import decide, memo_key
from kubecap.control.metrics import WebhookMetrics
from kubecap.control.review import decode
from kubecap.control.server import Webhook, WebhookOptions
from kubecap.control.snapshot import SnapshotHolder
from kubecap.domain.control import TEMPORARY_REPLICAS, ControlSnapshot, ControlSpec, Enforcement
from kubecap.testing.admission import HPA, KUBECTL, body, review, scale_review, workload
from tests.control.builders import CLUSTER, NOW, policy, spec
from tests.control.test_patch_properties import control_spec, workload_object


class Table:
    """A control table that can change between reviews, as the webhook's snapshot source."""

    def __init__(self, *specs: ControlSpec) -> None:
        self.version = 1
        self.specs = list(specs)

    def replace(self, *specs: ControlSpec) -> None:
        self.version += 1
        self.specs = list(specs)

    async def control_revision(self) -> int:
        return self.version

    async def control_snapshot(self, cluster: str) -> ControlSnapshot:
        return ControlSnapshot.build(cluster, self.version, self.specs, [])


async def webhook(table: Table, clock: list[datetime]) -> Webhook:
    holder = SnapshotHolder(table, CLUSTER)
    await holder.refresh()
    return Webhook(holder, None, WebhookMetrics(), WebhookOptions(cluster=CLUSTER), clock=lambda: clock[0])


def response(raw: bytes) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(raw)["response"]
    return answer


def patch_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return list(json.loads(base64.b64decode(answer["patch"]))) if "patch" in answer else []


def rollout(replicas: int = 5, image: str = "example/app:2", **kwargs: Any) -> dict[str, Any]:
    old = workload(replicas=replicas, **kwargs)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return review(new, old)


async def test_a_kept_answer_is_the_same_answer_for_another_review() -> None:
    hook = await webhook(Table(spec()), [NOW])
    first = rollout()
    second = rollout()
    second["request"]["userInfo"] = HPA  # another user, uid and image: none of them is read
    second["request"]["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = "example/app:3"
    status, raw_first = await hook.review(body(first))
    assert status == 200
    assert len(hook._answers) == 1
    status, raw_second = await hook.review(body(second))
    assert status == 200
    a, b = response(raw_first), response(raw_second)
    assert a["uid"] == first["request"]["uid"] and b["uid"] == second["request"]["uid"] != a["uid"]
    assert {k: v for k, v in a.items() if k != "uid"} == {k: v for k, v in b.items() if k != "uid"}
    assert patch_of(a), "the workload differs from its spec: the answer patches it"
    assert len(hook._answers) == 1, "the second review was answered from the kept answer"


async def test_a_changed_control_table_is_never_answered_from_a_kept_answer() -> None:
    table = Table(spec(replicas=2))
    hook = await webhook(table, [NOW])
    document = rollout()
    before = patch_of(response((await hook.review(body(document)))[1]))
    assert {"op": "replace", "path": "/spec/replicas", "value": 2} in before
    table.replace(spec(replicas=7))
    await hook.holder.refresh()
    after = patch_of(response((await hook.review(body(document)))[1]))
    assert {"op": "replace", "path": "/spec/replicas", "value": 7} in after


async def test_reviews_that_depend_on_the_time_or_the_parent_are_never_kept() -> None:
    clock = [NOW]
    hook = await webhook(Table(spec(replicas=2)), clock)
    until = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = rollout(annotations={TEMPORARY_REPLICAS: f"9@{until}"})
    during = patch_of(response((await hook.review(body(document)))[1]))
    assert {"op": "replace", "path": "/spec/replicas", "value": 9} in during
    clock[0] = NOW + timedelta(hours=2)  # the override expired: the table's replicas again
    after = patch_of(response((await hook.review(body(document)))[1]))
    assert {"op": "replace", "path": "/spec/replicas", "value": 2} in after
    await hook.review(body(scale_review(replicas=8, user=KUBECTL)))
    assert not hook._answers


# Edits the key must ignore, and edits it must see (replicas, resources, the old object's replicas):
# with both, "equal keys" has to mean "equal decisions" in both directions.
edits = st.lists(
    st.sampled_from(
        [
            "image",
            "label",
            "annotation",
            "user",
            "dry-run",
            "generation",
            "replicas",
            "resources",
            "old-replicas",
        ]
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    obj=workload_object(),
    control=control_spec(),
    update=st.booleans(),
    edits=edits,
    enforcement=st.sampled_from([Enforcement.ENFORCE, Enforcement.WARN]),
)
def test_reviews_with_one_key_get_one_decision(
    obj: dict[str, Any], control: Any, update: bool, edits: list[str], enforcement: Enforcement
) -> None:
    """Two reviews with one key get one decision; what the key ignores cannot change it."""
    old = copy.deepcopy(obj) if update else None
    if old is not None:
        old["spec"]["template"]["spec"]["containers"][0]["image"] = "example/previous:0"
    first = review(obj, old)
    second = copy.deepcopy(first)
    request = second["request"]
    for edit in edits:
        target = request["object"]
        if edit == "image":  # a template change of both objects alike: still changed (or not) against old
            for one in filter(None, (target, request.get("oldObject"))):
                one["spec"]["template"]["spec"]["containers"][0]["image"] += "-b"
        elif edit == "label":
            target["metadata"].setdefault("labels", {})["team"] = "b"
        elif edit == "annotation":
            target["metadata"].setdefault("annotations", {})["example.com/note"] = "b"
        elif edit == "user":
            request["userInfo"] = HPA
        elif edit == "dry-run":
            request["dryRun"] = True
        elif edit == "replicas":
            target["spec"]["replicas"] = (target["spec"].get("replicas") or 0) + 1
        elif edit == "old-replicas" and request.get("oldObject") is not None:
            request["oldObject"]["spec"]["replicas"] = (request["oldObject"]["spec"].get("replicas") or 0) + 1
        elif edit == "resources":
            target["spec"]["template"]["spec"]["containers"][0]["resources"] = {
                "requests": {"memory": "77Mi"}
            }
        else:
            target["metadata"]["generation"] += 1
    where = policy(enforcement)
    a, b = decode(body(first)), decode(body(second))
    key = memo_key(a, control, where)
    assert key is not None
    if memo_key(b, control, where) == key:
        assert decide(a, control, where, NOW) == decide(b, control, where, NOW)
    else:
        assert set(edits) & {"replicas", "resources", "old-replicas"}, "only what decide reads moves the key"
