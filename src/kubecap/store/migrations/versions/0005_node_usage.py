"""Nodes: daily node figures (node_usage_daily), for idle-node detection.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "node_usage_daily",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("node", _ident(253), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("pool", _ident(253), nullable=True),
        sa.Column("cpu_p99", sa.Float(), nullable=True),
        sa.Column("mem_p99", sa.Float(), nullable=True),
        sa.Column("cpu_allocatable", sa.Float(), nullable=False),
        sa.Column("mem_allocatable", sa.Float(), nullable=False),
        sa.Column("cpu_requests", sa.Float(), nullable=False),
        sa.Column("mem_requests", sa.Float(), nullable=False),
        sa.Column("daemonset_only", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_node_usage_daily_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cluster_id", "node", "day", name=op.f("pk_node_usage_daily")),
    )
    op.create_index(op.f("ix_node_usage_daily_day"), "node_usage_daily", ["day"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_node_usage_daily_day"), table_name="node_usage_daily")
    op.drop_table("node_usage_daily")
