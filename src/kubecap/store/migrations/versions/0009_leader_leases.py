"""Leader leases: which replica of `kubecap serve` runs the loops that act on clusters.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "leader_leases",
        sa.Column("name", _ident(253), nullable=False),
        sa.Column("holder", _ident(253), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("renewed_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leader_leases")),
    )


def downgrade() -> None:
    op.drop_table("leader_leases")
