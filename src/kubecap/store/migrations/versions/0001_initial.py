"""Initial schema: clusters, workloads, daily usage and collection runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = (
    "replicas_min",
    "replicas_avg",
    "replicas_max",
    "cpu_p50",
    "cpu_p90",
    "cpu_p95",
    "cpu_p99",
    "cpu_max",
    "mem_p95",
    "mem_max",
    "cpu_request",
    "cpu_limit",
    "mem_request",
    "mem_limit",
    "cpu_throttle_ratio",
    "oom_kills",
    "restarts",
)


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", _ident(253), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "workloads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("namespace", _ident(63), nullable=False),
        sa.Column("kind", _ident(16), nullable=False),
        sa.Column("name", _ident(253), nullable=False),
        sa.Column("first_seen", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('Deployment', 'StatefulSet', 'DaemonSet')", name=op.f("ck_workloads_kind")
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["clusters.id"], name=op.f("fk_workloads_cluster_id_clusters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workloads")),
        sa.UniqueConstraint(
            "cluster_id",
            "namespace",
            "kind",
            "name",
            name=op.f("uq_workloads_cluster_id_namespace_kind_name"),
        ),
    )
    op.create_table(
        "usage_daily",
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("container", _ident(63), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("window", _ident(32), nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in FIGURES),
        sa.Column("samples", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("samples >= 0", name=op.f("ck_usage_daily_samples_not_negative")),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workloads.id"],
            name=op.f("fk_usage_daily_workload_id_workloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workload_id", "container", "day", "window", name=op.f("pk_usage_daily")),
    )
    op.create_index(op.f("ix_usage_daily_day"), "usage_daily", ["day"], unique=False)
    op.create_table(
        "collection_runs",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("window", _ident(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=False),
        sa.Column("rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("queries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("status IN ('complete', 'failed')", name=op.f("ck_collection_runs_status")),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_collection_runs_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "day", "window", name=op.f("pk_collection_runs")),
    )


def downgrade() -> None:
    op.drop_table("collection_runs")
    op.drop_index(op.f("ix_usage_daily_day"), table_name="usage_daily")
    op.drop_table("usage_daily")
    op.drop_table("workloads")
    op.drop_table("clusters")
