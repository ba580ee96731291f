"""OpenMetrics text of a simulated cluster, for ``promtool tsdb create-blocks-from openmetrics``.

The real-Prometheus tests and the collection benchmark backfill a simulated history into a
real Prometheus. promtool 2.x re-reads its whole input once for every 2-hour block it
writes, so one big file costs time quadratic in its length; we therefore write one file per
2-hour-aligned block, each a complete OpenMetrics exposition (``# TYPE`` lines, families
contiguous, ``# EOF``), to be backfilled one by one.

The series and labels are those of docs/collection.md: cAdvisor's with ``job="kubelet"``,
kube-state-metrics' with ``job="kube-state-metrics"``, and for scenarios with node pools the
node series (kube_node_info, kube_node_labels with the pool in ``kubecap.io/pool``,
allocatable, kube_pod_info, a ``node`` label on requests and limits as kube-state-metrics v2
has it) and node-exporter's with ``job="node-exporter"``; plus ``extra_labels`` on every
series (the cluster label of a central store). Values are written exactly as the simulated source
reads them (CPU seconds with 6 decimals from integer microseconds, whole bytes, integer
counts, requests and limits with Python's round-trip repr), so Prometheus sees the very
same numbers.

``static_every`` thins kube-state-metrics series for big benchmarks: a sample is kept every
``static_every`` scrapes, plus the first and last sample of every stretch in which the series
exists and every sample whose value differs from the previous one. As long as
``static_every × scrape interval <= 300 s`` every instant query inside the 5-minute lookback
sees the same values as with full sampling, so results do not change.

Lines are built without a Python loop over samples: each chunk of lines is a byte matrix
(head | value digits | timestamp) compacted by a boolean mask.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from kubecap.domain.labels import sanitise
from kubecap.domain.workload import WorkloadKind
from kubecap.errors import ConfigError
from kubecap.metrics.nodes import POOL_LABELS, ksm_label
from kubecap.metrics.sim_generate import PAGE, SimData, SimWorkload
from kubecap.metrics.sim_nodes import BUSY_MODES, per_cpu

BLOCK = 7200
LOOKBACK = 300
_CHUNK = 200_000
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED = {
    "namespace",
    "pod",
    "container",
    "job",
    "resource",
    "unit",
    "reason",
    "owner_kind",
    "owner_name",
    "owner_is_controller",
    "replicaset",
    "deployment",
    "statefulset",
    "daemonset",
    "node",
    "internal_ip",
    "instance",
    "cpu",
    "mode",
    "created_by_kind",
    "created_by_name",
    ksm_label(POOL_LABELS[0]),
    "__name__",
}
_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_POW10 = 10 ** np.arange(19, dtype=np.int64)

_T = TypeVar("_T", bound=np.generic)
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


@dataclass(slots=True)
class _Family:
    """One metric family: its series heads, where each has samples, and its values."""

    name: str
    type_name: str
    kind: str
    heads: list[bytes]
    present: Mask
    """(series, scrapes) over the whole period."""
    values: I64 | None
    """(series, scrapes), or None when the value is part of the head (constant series)."""
    decimals: int = 0
    thinned: bool = False


class _Heads:
    """Byte strings as a padded matrix plus a mask of the real bytes, for vectorised gathering."""

    def __init__(self, texts: list[bytes]) -> None:
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        width = int(lengths.max()) if len(texts) else 0
        padded = b"".join(t.ljust(width, b" ") for t in texts)
        self.matrix = np.frombuffer(padded, dtype=np.uint8).reshape(len(texts), width)
        self.keep = np.arange(width)[None, :] < lengths[:, None]
        self.lengths = lengths


def _format_bodies(columns: I64, values: I64 | None, decimals: int, tails: _Heads) -> tuple[bytes, I64]:
    """``value timestamp\n`` (or just `` timestamp\n``) per line, concatenated, and each line's length."""
    parts: list[npt.NDArray[np.uint8]] = []
    keeps: list[Mask] = []
    lengths = tails.lengths[columns].copy()
    if values is not None:
        whole, fraction = np.divmod(values, _POW10[decimals]) if decimals else (values, None)
        digits = np.searchsorted(_POW10[1:], whole, "right") + 1
        width = int(digits.max())
        places = np.arange(width)
        parts.append(((whole[:, None] // _POW10[width - 1 - places][None, :]) % 10 + 48).astype(np.uint8))
        keeps.append(places[None, :] >= (width - digits)[:, None])
        lengths += digits
        if fraction is not None:
            places = np.arange(decimals)
            frac = (fraction[:, None] // _POW10[decimals - 1 - places][None, :]) % 10 + 48
            parts += [np.full((len(values), 1), ord("."), dtype=np.uint8), frac.astype(np.uint8)]
            keeps.append(np.ones((len(values), decimals + 1), dtype=bool))
            lengths += decimals + 1
    parts.append(tails.matrix[columns])
    keeps.append(tails.keep[columns])
    return np.concatenate(parts, axis=1)[np.concatenate(keeps, axis=1)].tobytes(), lengths


def _format_lines(
    heads: list[bytes], series: I64, columns: I64, values: I64 | None, decimals: int, tails: _Heads
) -> bytes:
    """Lines ``head value timestamp`` for (series, column) pairs sorted by series.

    Only the short value/timestamp part is built per line; the head of a series is spliced in
    front of each of its lines by bytes.replace, which runs at memory speed.
    """
    body, lengths = _format_bodies(columns, values, decimals, tails)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    cuts = np.flatnonzero(np.diff(series)) + 1
    firsts = np.concatenate([[0], cuts])
    lasts = np.concatenate([cuts, [len(series)]])
    pieces = []
    for s, a, b in zip(
        series[firsts].tolist(), offsets[firsts].tolist(), offsets[lasts].tolist(), strict=True
    ):
        head = heads[s]
        pieces.append(head + body[a : b - 1].replace(b"\n", b"\n" + head) + b"\n")
    return b"".join(pieces)


def _around(array: npt.NDArray[_T], i0: int, i1: int) -> npt.NDArray[_T]:
    """Columns ``i0 - 1 .. i1`` of ``array``, zero/False beyond its ends."""
    out = np.zeros((array.shape[0], i1 - i0 + 2), dtype=array.dtype)
    lo, hi = max(i0 - 1, 0), min(i1 + 1, array.shape[1])
    out[:, lo - (i0 - 1) : hi - (i0 - 1)] = array[:, lo:hi]
    return out


def _thin(present: Mask, values: I64 | None, index: I64, every: int) -> Mask:
    """Samples kept for a thinned series: every ``every`` scrapes, run ends and value changes.

    ``present`` and ``values`` carry one extra column on each side (the neighbours of the
    block, False/equal at the period's ends); ``index`` is the global scrape index of the
    inner columns.
    """
    inner = present[:, 1:-1]
    keep = inner & ((index % every == 0)[None, :] | ~present[:, :-2] | ~present[:, 2:])
    if values is not None:
        keep |= inner & (values[:, 1:-1] != values[:, :-2])
    return np.asarray(keep, dtype=bool)


def _families(data: SimData, extra: list[tuple[str, str]]) -> list[_Family]:
    kubelet = [("job", "kubelet"), *extra]
    ksm = [("job", "kube-state-metrics"), *extra]
    present = data.container_present
    cont: list[list[tuple[str, str]]] = []
    for c in range(len(data.container_pod)):
        pod = data.pods[int(data.container_pod[c])]
        cont.append(
            [
                ("namespace", pod.namespace),
                ("pod", pod.name),
                ("container", data.rows[int(data.container_row[c])][1]),
            ]
        )

    def heads(
        metric: str, label_sets: list[list[tuple[str, str]]], tail: list[tuple[str, str]], value: str = ""
    ) -> list[bytes]:
        # The value of a constant series is part of its head; the tail adds " <timestamp>\n".
        suffix = f" {value}" if value else " "
        return [f"{metric}{{{_labels([*ls, *tail])}}}{suffix}".encode() for ls in label_sets]

    families: list[_Family] = []
    families.append(
        _Family(
            "container_cpu_usage_seconds_total",
            "container_cpu_usage_seconds",
            "counter",
            heads("container_cpu_usage_seconds_total", cont, kubelet),
            present,
            data.cpu_us,
            decimals=6,
        )
    )
    families.append(
        _Family(
            "container_memory_working_set_bytes",
            "container_memory_working_set_bytes",
            "gauge",
            heads("container_memory_working_set_bytes", cont, kubelet),
            present,
            data.memory_pages.astype(np.int64) * PAGE,
        )
    )
    with_cfs = np.flatnonzero(data.cfs >= 0)
    cfs_rows = data.cfs[with_cfs]
    cfs_labels = [cont[int(c)] for c in with_cfs]
    for metric, array in (
        ("container_cpu_cfs_periods_total", data.cfs_periods),
        ("container_cpu_cfs_throttled_periods_total", data.cfs_throttled),
    ):
        families.append(
            _Family(
                metric,
                metric.removesuffix("_total"),
                "counter",
                heads(metric, cfs_labels, kubelet),
                present[with_cfs],
                array[cfs_rows],
            )
        )

    pod_labels = [
        [
            ("namespace", p.namespace),
            ("pod", p.name),
            ("owner_kind", p.owner_kind),
            ("owner_name", p.owner_name),
            ("owner_is_controller", "true"),
        ]
        for p in data.pods
    ]
    families.append(
        _Family(
            "kube_pod_owner",
            "kube_pod_owner",
            "gauge",
            heads("kube_pod_owner", pod_labels, ksm, "1"),
            data.pod_present,
            None,
            thinned=True,
        )
    )
    if data.replicasets:
        rs_labels = [
            [
                ("namespace", r.namespace),
                ("replicaset", r.name),
                ("owner_kind", "Deployment"),
                ("owner_name", r.deployment),
                ("owner_is_controller", "true"),
            ]
            for r in data.replicasets
        ]
        created = np.array([r.created for r in data.replicasets])
        families.append(
            _Family(
                "kube_replicaset_owner",
                "kube_replicaset_owner",
                "gauge",
                heads("kube_replicaset_owner", rs_labels, ksm, "1"),
                data.times[None, :] >= created[:, None],
                None,
                thinned=True,
            )
        )

    # kube-state-metrics v2 names the node of a pod's requests and limits.
    container_node = data.pod_node[data.container_pod]
    placed = [[("node", data.nodes[int(n)].name)] if n >= 0 else [] for n in container_node.tolist()]
    for metric, offset in (
        ("kube_pod_container_resource_requests", 0),
        ("kube_pod_container_resource_limits", 1),
    ):
        label_sets: list[list[tuple[str, str]]] = []
        rows: list[int] = []
        texts: list[str] = []
        for resource, unit, column in (("cpu", "core", offset), ("memory", "byte", offset + 2)):
            for found in np.flatnonzero(~np.isnan(data.resources[:, column])):
                label_sets.append(
                    [*cont[int(found)], *placed[int(found)], ("resource", resource), ("unit", unit)]
                )
                rows.append(int(found))
                texts.append(repr(float(data.resources[int(found), column])))
        if rows:
            hs = [
                f"{metric}{{{_labels([*ls, *ksm])}}} {text}".encode()
                for ls, text in zip(label_sets, texts, strict=True)
            ]
            families.append(_Family(metric, metric, "gauge", hs, present[rows], None, thinned=True))

    families.append(
        _Family(
            "kube_pod_container_status_restarts_total",
            "kube_pod_container_status_restarts",
            "counter",
            heads("kube_pod_container_status_restarts_total", cont, ksm),
            present,
            data.restarts.astype(np.int64),
            thinned=True,
        )
    )
    oom = data.oom
    with_oom = np.flatnonzero(oom.any(axis=1))
    if len(with_oom):
        families.append(
            _Family(
                "kube_pod_container_status_last_terminated_reason",
                "kube_pod_container_status_last_terminated_reason",
                "gauge",
                heads(
                    "kube_pod_container_status_last_terminated_reason",
                    [cont[int(c)] for c in with_oom],
                    [("reason", "OOMKilled"), *ksm],
                    "1",
                ),
                oom[with_oom],
                None,
                thinned=True,
            )
        )
    for kind, metric, label in (
        (WorkloadKind.DEPLOYMENT, "kube_deployment_status_replicas_ready", "deployment"),
        (WorkloadKind.STATEFULSET, "kube_statefulset_status_replicas_ready", "statefulset"),
        (WorkloadKind.DAEMONSET, "kube_daemonset_status_number_ready", "daemonset"),
    ):
        chosen = [w for w, wl in enumerate(data.workloads) if wl.kind is kind]
        if chosen:
            sets = [
                [("namespace", data.workloads[w].namespace), (label, data.workloads[w].name)] for w in chosen
            ]
            families.append(
                _Family(
                    metric,
                    metric,
                    "gauge",
                    heads(metric, sets, ksm),
                    np.ones((len(chosen), len(data.times)), dtype=bool),
                    data.ready[chosen].astype(np.int64),
                    thinned=True,
                )
            )
    families.extend(_hpa_families(data, ksm))
    families.extend(_label_families(data, ksm))
    if data.nodes:
        families.extend(_node_families(data, ksm, [("job", "node-exporter"), *extra]))
    return families


def _node_families(
    data: SimData, ksm: list[tuple[str, str]], exporter: list[tuple[str, str]]
) -> list[_Family]:
    """kube-state-metrics' node and pod-info series and node-exporter's CPU and memory series."""
    always = np.ones((len(data.nodes), len(data.times)), dtype=bool)

    def constant(metric: str, rows: list[tuple[list[tuple[str, str]], str]], present: Mask) -> _Family:
        hs = [f"{metric}{{{_labels([*ls, *ksm])}}} {value}".encode() for ls, value in rows]
        return _Family(metric, metric, "gauge", hs, present, None, thinned=True)

    families = [
        constant(
            "kube_node_info",
            [([("node", n.name), ("internal_ip", n.internal_ip)], "1") for n in data.nodes],
            always,
        ),
        constant(
            "kube_node_labels",
            [([("node", n.name), (ksm_label(POOL_LABELS[0]), n.pool)], "1") for n in data.nodes],
            always,
        ),
        constant(
            "kube_node_status_allocatable",
            [
                ([("node", n.name), ("resource", resource), ("unit", unit)], repr(float(value)))
                for n in data.nodes
                for resource, unit, value in (("cpu", "core", n.cpu), ("memory", "byte", n.memory))
            ],
            np.repeat(always, 2, axis=0),
        ),
        constant(
            "kube_pod_info",
            [
                (
                    [
                        ("namespace", pod.namespace),
                        ("pod", pod.name),
                        ("node", data.nodes[int(node)].name if node >= 0 else ""),
                        ("created_by_kind", pod.owner_kind),
                        ("created_by_name", pod.owner_name),
                    ],
                    "1",
                )
                for pod, node in zip(data.pods, data.pod_node.tolist(), strict=True)
            ],
            data.pod_present,
        ),
    ]
    scraped = [(n, node) for n, node in enumerate(data.nodes) if node.instance is not None]
    if not scraped:
        return families
    series = data.node_series
    heads: list[bytes] = []
    counters: list[I64] = []
    for n, node in scraped:
        for mode, counter in (
            *zip(BUSY_MODES, (series.user_us, series.system_us), strict=True),
            ("idle", series.idle_us),
        ):
            heads += [
                f"node_cpu_seconds_total{{{_labels([('instance', node.instance or ''), ('cpu', str(c)), ('mode', mode), *exporter])}}} ".encode()
                for c in range(node.cpus)
            ]
            counters.append(per_cpu(counter[n : n + 1], node.cpus))
    values = np.concatenate(counters)
    instances = [[("instance", node.instance or "")] for _, node in scraped]
    rows = [n for n, _ in scraped]
    families += [
        _Family(
            "node_cpu_seconds_total",
            "node_cpu_seconds",
            "counter",
            heads,
            np.ones(values.shape, dtype=bool),
            values,
            decimals=6,
        ),
        _Family(
            "node_memory_MemTotal_bytes",
            "node_memory_MemTotal_bytes",
            "gauge",
            [
                f"node_memory_MemTotal_bytes{{{_labels([*ls, *exporter])}}} {node.mem_total}".encode()
                for ls, (_, node) in zip(instances, scraped, strict=True)
            ],
            always[rows],
            None,
        ),
        _Family(
            "node_memory_MemAvailable_bytes",
            "node_memory_MemAvailable_bytes",
            "gauge",
            [f"node_memory_MemAvailable_bytes{{{_labels([*ls, *exporter])}}} ".encode() for ls in instances],
            always[rows],
            series.mem_available[rows],
        ),
    ]
    return families


def _label_families(data: SimData, ksm: list[tuple[str, str]]) -> list[_Family]:
    """kube-state-metrics' ``kube_<kind>_labels``: one series per workload, its labels as ``label_*``."""
    out = []
    always = np.ones((1, len(data.times)), dtype=bool)
    for kind, metric, label in (
        (WorkloadKind.DEPLOYMENT, "kube_deployment_labels", "deployment"),
        (WorkloadKind.STATEFULSET, "kube_statefulset_labels", "statefulset"),
        (WorkloadKind.DAEMONSET, "kube_daemonset_labels", "daemonset"),
    ):
        chosen = [w for w in data.workloads if w.kind is kind]
        if not chosen:
            continue
        heads = []
        for w in chosen:
            pairs = [
                ("namespace", w.namespace),
                (label, w.name),
                *((f"label_{sanitise(k)}", v) for k, v in w.labels),
            ]
            heads.append(f"{metric}{{{_labels([*pairs, *ksm])}}} 1".encode())
        out.append(
            _Family(
                metric, metric, "gauge", heads, np.repeat(always, len(chosen), axis=0), None, thinned=True
            )
        )
    return out


def _hpa_families(data: SimData, ksm: list[tuple[str, str]]) -> list[_Family]:
    """kube-state-metrics' HPA series: the scale target, min and max replicas, and the targets."""
    scaled = [w for w in data.workloads if w.hpa is not None]
    if not scaled:
        return []
    always = np.ones((1, len(data.times)), dtype=bool)

    def constant(metric: str, rows: list[tuple[list[tuple[str, str]], float]]) -> _Family:
        hs = [f"{metric}{{{_labels([*ls, *ksm])}}} {value!r}".encode() for ls, value in rows]
        return _Family(metric, metric, "gauge", hs, np.repeat(always, len(rows), axis=0), None, thinned=True)

    def ident(w: SimWorkload) -> list[tuple[str, str]]:
        return [("namespace", w.namespace), ("horizontalpodautoscaler", w.name)]

    info, minimum, maximum, targets = [], [], [], []
    for w in scaled:
        hpa = w.hpa
        assert hpa is not None
        target = [
            ("scaletargetref_api_version", "apps/v1"),
            ("scaletargetref_kind", w.kind.value),
            ("scaletargetref_name", w.name),
        ]
        info.append(([*ident(w), *target], 1.0))
        minimum.append((ident(w), float(hpa.min)))
        maximum.append((ident(w), float(hpa.max)))
        for name, kind, value in (
            ("cpu", "utilization", hpa.cpu),
            ("memory", "utilization", hpa.memory),
            (hpa.other, "average", 100),
        ):
            if name is not None and value is not None:
                targets.append(
                    ([*ident(w), ("metric_name", name), ("metric_target_type", kind)], float(value))
                )
    return [
        constant("kube_horizontalpodautoscaler_info", info),
        constant("kube_horizontalpodautoscaler_spec_min_replicas", minimum),
        constant("kube_horizontalpodautoscaler_spec_max_replicas", maximum),
        constant("kube_horizontalpodautoscaler_spec_target_metric", targets),
    ]


def write_openmetrics(
    data: SimData, out_dir: Path, *, extra_labels: Mapping[str, str] = _NO_LABELS, static_every: int = 1
) -> list[Path]:
    """Write one OpenMetrics file per 2-hour-aligned block into ``out_dir``; return them in time order."""
    for name in extra_labels:
        if not _LABEL_NAME.match(name) or name in _RESERVED:
            raise ConfigError(
                f"extra label {name!r} is not usable: give a Prometheus label name that the exported series"
                " do not already carry, e.g. 'cluster'"
            )
    if static_every < 1 or static_every * data.scrape_interval > LOOKBACK:
        most = LOOKBACK // data.scrape_interval
        raise ConfigError(
            f"static_every={static_every} with a {data.scrape_interval}s scrape interval leaves gaps"
            f" longer than the {LOOKBACK}s lookback; choose static_every between 1 and {most}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    families = _families(data, list(extra_labels.items()))
    times = data.times
    paths: list[Path] = []
    blocks = np.unique(times // BLOCK)
    for block in blocks:
        i0 = int(np.searchsorted(times, block * BLOCK, "left"))
        i1 = int(np.searchsorted(times, (block + 1) * BLOCK, "left"))
        tails = _Heads([f" {int(t)}\n".encode() for t in times[i0:i1]])
        index = np.arange(i0, i1, dtype=np.int64)
        path = out_dir / f"block-{int(block) * BLOCK}.om"
        with path.open("wb") as out:
            for family in families:
                if family.thinned and static_every > 1:
                    ext = _around(family.present, i0, i1)
                    ext_values = None if family.values is None else _around(family.values, i0, i1)
                    mask = _thin(ext, ext_values, index, static_every)
                else:
                    mask = family.present[:, i0:i1]
                series, columns = np.nonzero(mask)
                if not len(series):
                    continue
                out.write(f"# TYPE {family.type_name} {family.kind}\n".encode())
                for start in range(0, len(series), _CHUNK):
                    s = series[start : start + _CHUNK]
                    c = columns[start : start + _CHUNK]
                    values = None if family.values is None else family.values[s, c + i0]
                    out.write(_format_lines(family.heads, s, c, values, family.decimals, tails))
            out.write(b"# EOF\n")
        paths.append(path)
    return paths
