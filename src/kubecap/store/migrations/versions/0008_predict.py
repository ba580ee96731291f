"""Predictive replicas: one policy per workload, with the controller's state.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "predict_policies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster", _ident(253), nullable=False),
        sa.Column("namespace", _ident(63), nullable=False),
        sa.Column("kind", _ident(16), nullable=False),
        sa.Column("name", _ident(253), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", _ident(253), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predict_policies")),
        sa.UniqueConstraint(
            "cluster",
            "namespace",
            "kind",
            "name",
            name=op.f("uq_predict_policies_cluster_namespace_kind_name"),
        ),
    )


def downgrade() -> None:
    op.drop_table("predict_policies")
