"""An in-memory cluster holding a simulated scenario's workloads and nodes, for `kubecap demo`.

The demo collects usage from the simulated source; its tasks (scale, restart, apply) need a
cluster API to act on, and this one starts with the same workloads, replicas, containers,
requests and limits, so a task scheduled in the demo's UI really runs and can be checked.
"""

from __future__ import annotations

from kubecap.domain.quantity import format_bytes, format_cpu
from kubecap.domain.resources import ContainerResources
from kubecap.metrics.sim_scenario import Container, Resources, Scenario
from kubecap.testing.cluster import InMemoryCluster


def _values(resources: Resources) -> dict[str, str]:
    values = {}
    if resources.cpu is not None:
        values["cpu"] = format_cpu(resources.cpu)
    if resources.memory is not None:
        values["memory"] = format_bytes(resources.memory)
    return values


def _container(container: Container) -> ContainerResources:
    return ContainerResources(container.name, _values(container.requests), _values(container.limits))


def scenario_cluster(scenario: Scenario) -> InMemoryCluster:
    """The scenario's workloads (with HPAs) and nodes, named as the scenario's cluster."""
    cluster = InMemoryCluster(name=scenario.cluster)
    for pool in scenario.node_pools:
        for index in range(pool.count):
            cluster.add_node(
                f"{pool.name}-{index}",
                cpu=format_cpu(pool.cpu),
                memory=format_bytes(pool.memory),
                labels={"node-pool": pool.name},
            )
    for namespace, workloads in scenario.namespaces.items():
        for workload in workloads:
            ref = cluster.add_workload(
                namespace,
                workload.name,
                kind=workload.kind,
                replicas=workload.replicas,
                containers=tuple(_container(c) for c in workload.containers),
                labels=workload.labels,
            )
            if workload.hpa is not None:
                cluster.add_hpa(namespace, workload.name, ref, workload.hpa.min, workload.hpa.max)
    return cluster
