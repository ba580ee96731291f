"""Idle nodes: nodes that only run DaemonSets, or whose usage and requests stayed low for a week.

A node is reported when it has a row for each of the last ``days`` local days and, on every
one of them, either only DaemonSet pods ran on it, or its P99 CPU and memory usage and the
sums of its pods' requests all stayed under the thresholds (shares of allocatable). Both
mean its pods (if any) would fit elsewhere and the node could be drained and removed. The
saving is the node's allocatable at the given prices (OpenCost semantics: idle = capacity
not allocated), per month.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from pydantic import Field

from kubecap.domain.node import NodeUsage
from kubecap.domain.recommendation import GIB, MONTH_HOURS
from kubecap.recommend.settings import DEFAULT_CPU_PRICE, DEFAULT_MEMORY_PRICE, Settings


class IdleNodeSettings(Settings):
    days: int = Field(7, ge=1, le=90, description="days a node must have stayed idle, ending on the last day")
    cpu_usage_percent: float = Field(
        10, ge=0, le=100, description="P99 CPU usage below this share of allocatable"
    )
    memory_usage_percent: float = Field(
        20, ge=0, le=100, description="P99 memory usage below this share of allocatable"
    )
    requests_percent: float = Field(20, ge=0, le=100, description="CPU and memory requests below this share")
    cpu_price: float = Field(DEFAULT_CPU_PRICE, ge=0, description="US dollars per core-hour")
    memory_price: float = Field(DEFAULT_MEMORY_PRICE, ge=0, description="US dollars per GiB-hour")


class IdleReason(StrEnum):
    DAEMONSET_ONLY = "daemonset-only"
    UNDERUSED = "underused"


@dataclass(frozen=True, slots=True)
class IdleNode:
    """A node that could go; shares are the highest daily values over the days looked at."""

    cluster: str
    node: str
    pool: str | None
    reason: IdleReason
    first_day: date
    last_day: date
    cpu_usage_share: float | None
    mem_usage_share: float | None
    cpu_requests_share: float
    mem_requests_share: float
    monthly_usd: float
    explanation: str


def _share(value: float | None, total: float) -> float | None:
    return None if value is None else value / total


def idle_nodes(usages: Iterable[NodeUsage], settings: IdleNodeSettings, *, last_day: date) -> list[IdleNode]:
    """The idle nodes over the ``settings.days`` days ending on ``last_day``, by cluster and name."""
    first_day = last_day - timedelta(days=settings.days - 1)
    by_node: dict[tuple[str, str], dict[date, NodeUsage]] = {}
    for usage in usages:
        if first_day <= usage.day <= last_day:
            by_node.setdefault((usage.cluster, usage.node), {})[usage.day] = usage
    found = []
    for (cluster, node), days in sorted(by_node.items()):
        if len(days) < settings.days:
            continue  # a node seen on fewer days may be new, or its data incomplete: no verdict
        rows = [days[d] for d in sorted(days)]
        latest = rows[-1]
        cpu_usage = [_share(r.cpu_p99, r.cpu_allocatable) for r in rows]
        mem_usage = [_share(r.mem_p99, r.mem_allocatable) for r in rows]
        cpu_req = max(r.cpu_requests / r.cpu_allocatable for r in rows)
        mem_req = max(r.mem_requests / r.mem_allocatable for r in rows)
        usage_known = all(v is not None for v in cpu_usage + mem_usage)
        cpu_top = max((v for v in cpu_usage if v is not None), default=None)
        mem_top = max((v for v in mem_usage if v is not None), default=None)
        period = f"each of the {settings.days} days {first_day} to {last_day}"
        monthly = (
            latest.cpu_allocatable * settings.cpu_price + latest.mem_allocatable / GIB * settings.memory_price
        ) * MONTH_HOURS
        saving = f"removing it saves about ${monthly:,.2f} a month"
        if all(r.daemonset_only for r in rows):
            reason = IdleReason.DAEMONSET_ONLY
            text = f"only DaemonSet pods ran on {node} on {period}: {saving}"
        elif (
            usage_known
            and cpu_top is not None
            and mem_top is not None
            and cpu_top < settings.cpu_usage_percent / 100
            and mem_top < settings.memory_usage_percent / 100
            and max(cpu_req, mem_req) < settings.requests_percent / 100
        ):
            reason = IdleReason.UNDERUSED
            text = (
                f"{node}'s P99 usage stayed at or below {cpu_top:.0%} CPU and {mem_top:.0%} memory, and its "
                f"requests at or below {cpu_req:.0%} CPU and {mem_req:.0%} memory of allocatable, on {period}: "
                f"its pods fit elsewhere; {saving}"
            )
        else:
            continue
        found.append(
            IdleNode(
                cluster=cluster,
                node=node,
                pool=latest.pool,
                reason=reason,
                first_day=first_day,
                last_day=last_day,
                cpu_usage_share=cpu_top,
                mem_usage_share=mem_top,
                cpu_requests_share=cpu_req,
                mem_requests_share=mem_req,
                monthly_usd=monthly,
                explanation=text,
            )
        )
    return found
