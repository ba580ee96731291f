"""A cheap fingerprint of what the API's cached summaries were computed from.

The workloads list and the overview summarise weeks of usage rows; they are cached per
cluster and recomputed only when this fingerprint moves: a window collected (or collected
again), or recommendations saved. Two aggregate reads over small tables, a millisecond or
two, instead of reading the history. An approval changes the control table, which the
summaries do not show, so it leaves them (and their cache) as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kubecap.store.schema import Cluster, CollectionRunRow, RecommendationRow, Workload


async def usage_state(connection: AsyncConnection, cluster: str | None) -> tuple[Any, ...]:
    """(collected windows, latest collection, recommendations, latest computation)."""
    runs = select(func.count(), func.max(CollectionRunRow.finished_at))
    recs = select(func.count(), func.max(RecommendationRow.computed_at))
    if cluster is not None:
        runs = runs.join(Cluster, CollectionRunRow.cluster_id == Cluster.id).where(Cluster.name == cluster)
        recs = (
            recs.join(Workload, RecommendationRow.workload_id == Workload.id)
            .join(Cluster, Workload.cluster_id == Cluster.id)
            .where(Cluster.name == cluster)
        )
    run_count, run_last = (await connection.execute(runs)).one()
    rec_count, rec_last = (await connection.execute(recs)).one()
    return (run_count, run_last, rec_count, rec_last)
