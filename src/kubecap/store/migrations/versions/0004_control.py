"""Control: the control table, its version history, namespace policies and the table's revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _workload_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("cluster", _ident(253), nullable=False),
        sa.Column("namespace", _ident(63), nullable=False),
        sa.Column("kind", _ident(16), nullable=False),
        sa.Column("name", _ident(253), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "control_specs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_workload_columns(),
        sa.Column("replicas_mode", _ident(16), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=True),
        sa.Column("containers", sa.JSON(), nullable=False),
        sa.Column("source", _ident(253), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", _ident(253), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint("kind IN ('Deployment', 'StatefulSet')", name=op.f("ck_control_specs_kind")),
        sa.CheckConstraint(
            "replicas_mode IN ('fixed', 'recommended', 'observed', 'hpa')",
            name=op.f("ck_control_specs_replicas_mode"),
        ),
        sa.CheckConstraint(
            "replicas IS NULL OR replicas >= 0", name=op.f("ck_control_specs_replicas_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_specs")),
        sa.UniqueConstraint(
            "cluster", "namespace", "kind", "name", name=op.f("uq_control_specs_cluster_namespace_kind_name")
        ),
    )
    op.create_table(
        "control_spec_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        *_workload_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("replicas_mode", _ident(16), nullable=True),
        sa.Column("replicas", sa.Integer(), nullable=True),
        sa.Column("containers", sa.JSON(), nullable=True),
        sa.Column("source", _ident(253), server_default="", nullable=False),
        sa.Column("changed_at", _utc(), nullable=False),
        sa.Column("changed_by", _ident(253), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_spec_versions")),
        sa.UniqueConstraint(
            "cluster",
            "namespace",
            "kind",
            "name",
            "version",
            name=op.f("uq_control_spec_versions_cluster_namespace_kind_name_version"),
        ),
    )
    op.create_table(
        "namespace_policies",
        sa.Column("cluster", _ident(253), nullable=False),
        sa.Column("namespace", _ident(63), nullable=False),
        sa.Column("enforcement", _ident(16), nullable=False),
        sa.Column("unmanaged", _ident(16), nullable=False),
        sa.Column("failure", _ident(16), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", _ident(253), nullable=False),
        sa.CheckConstraint(
            "enforcement IN ('off', 'warn', 'enforce')", name=op.f("ck_namespace_policies_enforcement")
        ),
        sa.CheckConstraint(
            "unmanaged IN ('allow', 'reject', 'register')", name=op.f("ck_namespace_policies_unmanaged")
        ),
        sa.CheckConstraint("failure IN ('open', 'closed')", name=op.f("ck_namespace_policies_failure")),
        sa.PrimaryKeyConstraint("cluster", "namespace", name=op.f("pk_namespace_policies")),
    )
    op.create_table(
        "control_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_revision")),
    )


def downgrade() -> None:
    op.drop_table("control_revision")
    op.drop_table("namespace_policies")
    op.drop_table("control_spec_versions")
    op.drop_table("control_specs")
