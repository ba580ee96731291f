"""The extender's memory between requests: the current view and the bindings it assumes.

kube-scheduler places a Deployment's replicas milliseconds apart, while kube-state-metrics
shows a binding a minute later at best. An extender that only counted bindings once they
are visible would send every replica of a burst to the one coolest node. So, like
kube-scheduler's own "assume" step, after scoring a pod the ``Decider`` counts the pod's
estimated usage on the node it scored best — where the pod lands unless other plugins
outweigh us — until kube-state-metrics shows the pod bound (wherever it went) or
``assume_for`` has passed. A wrong guess costs one node a short, small over-estimate.

The extender server and the simulator both decide through this class, so the benchmark
measures the code that runs in the cluster. It does no I/O; the caller supplies the
snapshot and the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kubecap.scheduling.load import LoadSnapshot, RecentBinding
from kubecap.scheduling.pods import PodInfo
from kubecap.scheduling.policy import (
    FilterOutcome,
    LoadPolicy,
    LoadView,
    ScoreOutcome,
    assess,
    filter_nodes,
    score_nodes,
)


class Assumptions:
    """Bindings assumed by pod, dropped when confirmed by the snapshot or when too old."""

    def __init__(self) -> None:
        self._by_pod: dict[str, RecentBinding] = {}

    def __len__(self) -> int:
        return len(self._by_pod)

    def add(self, binding: RecentBinding) -> None:
        """Assume ``binding``; a pod scored again replaces what was assumed for it."""
        self._by_pod[binding.pod] = binding

    def current(self, snapshot: LoadSnapshot, policy: LoadPolicy, now: datetime) -> list[RecentBinding]:
        shown = {b.pod for bindings in snapshot.recent.values() for b in bindings}
        for pod, binding in list(self._by_pod.items()):
            if pod in shown or now - binding.at > policy.assume_for:
                del self._by_pod[pod]
        return list(self._by_pod.values())


class Decider:
    """Filter and prioritize on the latest snapshot, assuming where scored pods go."""

    def __init__(self, policy: LoadPolicy) -> None:
        self.policy = policy
        self.assumptions = Assumptions()
        self._view: LoadView | None = None
        self._key: tuple[int, datetime] | None = None

    def refresh(self, snapshot: LoadSnapshot, now: datetime) -> LoadView:
        """The view at ``now``; assessed again only when the snapshot or ``now`` changed."""
        key = (id(snapshot), now)
        if self._view is None or key != self._key or self._view.snapshot is not snapshot:
            assumed = self.assumptions.current(snapshot, self.policy, now)
            self._view = assess(snapshot, self.policy, now, assumed)
            self._key = key
        return self._view

    @property
    def view(self) -> LoadView:
        if self._view is None:
            raise RuntimeError("refresh() the decider with a snapshot first")
        return self._view

    def filter(self, pod: PodInfo, candidates: Sequence[str]) -> FilterOutcome:
        return filter_nodes(pod, candidates, self.view)

    def prioritize(self, pod: PodInfo, candidates: Sequence[str]) -> ScoreOutcome:
        view = self.view
        outcome = score_nodes(pod, candidates, view)
        if outcome.favourite is not None and self.policy.assume_for.total_seconds() > 0:
            estimator = self.policy.estimator
            binding = RecentBinding(
                outcome.favourite, pod.key, view.at, estimator.cpu(pod), estimator.memory(pod)
            )
            self.assumptions.add(binding)
            self._view = view.with_binding(binding)
        return outcome
