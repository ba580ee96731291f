"""Recommendations: the latest recommendation of each strategy for each container.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NULLABLE_FLOATS = (
    "cpu_request",
    "cpu_limit",
    "mem_request",
    "mem_limit",
    "current_cpu_request",
    "current_cpu_limit",
    "current_mem_request",
    "current_mem_limit",
    "cpu_low",
    "cpu_high",
    "mem_low",
    "mem_high",
)


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "recommendations",
        sa.Column("workload_id", sa.Integer(), nullable=False),
        sa.Column("container", _ident(63), nullable=False),
        sa.Column("strategy", _ident(32), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("window", _ident(32), nullable=True),
        sa.Column("first_day", sa.Date(), nullable=True),
        sa.Column("last_day", sa.Date(), nullable=True),
        sa.Column("days", sa.Integer(), server_default="0", nullable=False),
        *(sa.Column(name, sa.Float(), nullable=True) for name in NULLABLE_FLOATS),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("explanation", sa.Text(), server_default="", nullable=False),
        sa.Column("savings_cpu_core_hours", sa.Float(), nullable=True),
        sa.Column("savings_mem_gib_hours", sa.Float(), nullable=True),
        sa.Column("savings_usd", sa.Float(), nullable=True),
        sa.Column("risk_cpu_time_above_request", sa.Float(), nullable=True),
        sa.Column("risk_mem_days_above_request", sa.Integer(), server_default="0", nullable=False),
        sa.Column("risk_mem_days_above_limit", sa.Integer(), server_default="0", nullable=False),
        sa.Column("risk_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("risk_throttle_max", sa.Float(), nullable=True),
        sa.Column("risk_oom_kills", sa.Float(), server_default="0", nullable=False),
        sa.Column("replicas_current", sa.Float(), nullable=True),
        sa.Column("replicas", sa.Integer(), nullable=True),
        sa.Column("hpa_min_replicas", sa.Integer(), nullable=True),
        sa.Column("hpa_max_replicas", sa.Integer(), nullable=True),
        sa.Column("replicas_explanation", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('ok', 'not-enough-data')", name=op.f("ck_recommendations_status")),
        sa.ForeignKeyConstraint(
            ["workload_id"],
            ["workloads.id"],
            name=op.f("fk_recommendations_workload_id_workloads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workload_id", "container", "strategy", name=op.f("pk_recommendations")),
    )
    op.create_index(op.f("ix_recommendations_strategy"), "recommendations", ["strategy"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_recommendations_strategy"), table_name="recommendations")
    op.drop_table("recommendations")
