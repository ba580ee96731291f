"""Properties of every patch: it applies cleanly (jsonpatch), it is idempotent, it honours the spec."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubecap.control.patch import same_quantity_any
from kubecap.domain.control import ContainerSpec, ControlError, ReplicasMode
from kubecap.domain.quantity import parse_quantity
from kubecap.testing.admission import review, workload
from tests.control.builders import containers_of, patched, run, spec

NAMES = ("app", "side", "init-ish")
RESOURCES = ("cpu", "memory", "example.com/gpu")

cpu = st.one_of(
    st.integers(1, 4000).map(lambda m: f"{m}m"),
    st.integers(1, 8).map(str),
    st.sampled_from(["0.5", "1.5", "100m", "1000m", "2"]),
)
memory = st.one_of(
    st.integers(1, 4096).map(lambda m: f"{m}Mi"),
    st.integers(1, 8).map(lambda g: f"{g}Gi"),
    st.integers(1, 2**32).map(str),
)
quantity = {"cpu": cpu, "memory": memory, "example.com/gpu": st.integers(0, 4).map(str)}


def part(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """An object's requests or limits: absent, null, or a map of some resources."""
    return st.one_of(st.just("absent"), st.none(), values)


resource_map = st.fixed_dictionaries({}, optional={r: quantity[r] for r in RESOURCES})


@st.composite
def object_container(draw: st.DrawFn, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": f"example/{name}:1"}
    shape = draw(st.sampled_from(["absent", "null", "empty", "parts"]))
    if shape == "null":
        container["resources"] = None
    elif shape == "empty":
        container["resources"] = {}
    elif shape == "parts":
        resources: dict[str, Any] = {}
        for section in ("requests", "limits"):
            value = draw(part(resource_map))
            if value != "absent":
                resources[section] = value
        container["resources"] = resources
    return container


spec_values = st.fixed_dictionaries({}, optional={r: st.one_of(st.none(), quantity[r]) for r in RESOURCES})


@st.composite
def control_spec(draw: st.DrawFn) -> Any:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3))
    containers = tuple(ContainerSpec(n, draw(spec_values), draw(spec_values)) for n in names)
    mode = draw(st.sampled_from(list(ReplicasMode)))
    replicas = None if mode is ReplicasMode.HPA else draw(st.integers(0, 500))
    try:
        return spec(replicas=replicas, mode=mode, containers=containers)
    except ControlError:
        return spec(replicas=replicas, mode=mode, containers=())


@st.composite
def workload_object(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=3))
    containers = [draw(object_container(n)) for n in names]
    replicas = draw(st.one_of(st.none(), st.integers(0, 500)))
    return workload(replicas=replicas, containers=containers)


def _value(resources: Any, section: str, name: str) -> Any:
    if not isinstance(resources, dict) or not isinstance(resources.get(section), dict):
        return None
    return resources[section].get(name)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=workload_object(), control=control_spec(), update=st.booleans())
def test_every_patch_applies_is_idempotent_and_honours_the_spec(
    obj: dict[str, Any], control: Any, update: bool
) -> None:
    if update:
        old = copy.deepcopy(obj)
        old["spec"]["template"]["spec"]["containers"][0]["image"] = "example/previous:0"
        document = review(obj, old)
    else:
        old = None
        document = review(obj)
    decision = run(document, control)
    result = patched(obj, decision)  # raises if any operation does not apply
    again = review(result, old) if old is not None else review(result)
    assert run(again, control).patch == (), "the patched object must need no further patch"

    wanted_replicas = control.enforced_replicas()
    if wanted_replicas is not None:
        assert result["spec"]["replicas"] == wanted_replicas
    else:
        assert result["spec"].get("replicas") == obj["spec"].get("replicas")
    after = containers_of(result)
    before = containers_of(obj)
    for name in after:
        wanted = control.container(name)
        if wanted is None:
            assert after[name] == before[name], "unlisted containers are never touched"
            continue
        for section, values in (("requests", wanted.requests), ("limits", wanted.limits)):
            for resource, value in values.items():
                got = _value(after[name], section, resource)
                if value is None:
                    # Removed, unless the other side came from the spec and forced it to follow.
                    if got is not None:
                        assert section == "requests" and wanted.limits.get(resource) is not None
                else:
                    assert got is not None
                    if not same_quantity_any(got, value):
                        # Only ever moved to follow the other side set by the spec.
                        other = "limits" if section == "requests" else "requests"
                        assert same_quantity_any(got, _value(after[name], other, resource))
        for resource in RESOURCES:
            request = _value(after[name], "requests", resource)
            limit = _value(after[name], "limits", resource)
            touched = resource in wanted.requests or resource in wanted.limits
            if touched and request is not None and limit is not None:
                assert parse_quantity(limit) >= parse_quantity(request) or same_quantity_any(limit, request)
