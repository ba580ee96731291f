"""Settings and sign-in: price overrides, login failures (rate limit across replicas), OIDC logins.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "price_overrides",
        sa.Column("scope", _ident(16), nullable=False),
        sa.Column("name", _ident(253), nullable=False),
        sa.Column("cpu_price", sa.Float(), nullable=False),
        sa.Column("memory_price", sa.Float(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("updated_by", _ident(64), nullable=False),
        sa.CheckConstraint("scope IN ('cluster', 'pool')", name=op.f("ck_price_overrides_scope")),
        sa.PrimaryKeyConstraint("scope", "name", name=op.f("pk_price_overrides")),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", _ident(64), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_key_at"), "login_failures", ["key", "at"], unique=False)
    op.create_table(
        "oidc_logins",
        sa.Column("state", _ident(64), nullable=False),
        sa.Column("nonce", _ident(64), nullable=False),
        sa.Column("verifier", _ident(255), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_oidc_logins")),
    )
    op.create_index(op.f("ix_oidc_logins_expires_at"), "oidc_logins", ["expires_at"], unique=False)
    op.create_table(
        "oidc_identities",
        sa.Column("issuer", _ident(512), nullable=False),
        sa.Column("subject", _ident(255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oidc_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issuer", "subject", name=op.f("pk_oidc_identities")),
    )


def downgrade() -> None:
    op.drop_table("oidc_identities")
    op.drop_index(op.f("ix_oidc_logins_expires_at"), table_name="oidc_logins")
    op.drop_table("oidc_logins")
    op.drop_index(op.f("ix_login_failures_key_at"), table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_table("price_overrides")
