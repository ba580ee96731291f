"""Operations: tasks, task runs, the audit trail and notification channels.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

A frozen snapshot: later schema changes get new revisions, never edits here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster", _ident(253), nullable=False),
        sa.Column("namespace", _ident(63), nullable=False),
        sa.Column("kind", _ident(16), nullable=False),
        sa.Column("name", _ident(253), nullable=False),
        sa.Column("operation", _ident(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("run_at", _utc(), nullable=True),
        sa.Column("cron", _ident(120), nullable=True),
        sa.Column("timezone", _ident(64), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("state", _ident(16), nullable=False),
        sa.Column("next_run_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("created_by", _ident(253), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "state IN ('active', 'paused', 'cancelled', 'done', 'failed', 'missed')",
            name=op.f("ck_tasks_state"),
        ),
        sa.CheckConstraint("operation IN ('scale', 'restart', 'apply')", name=op.f("ck_tasks_operation")),
        sa.CheckConstraint("kind IN ('Deployment', 'StatefulSet', 'DaemonSet')", name=op.f("ck_tasks_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_state_next_run_at"), "tasks", ["state", "next_run_at"], unique=False)
    op.create_table(
        "task_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", _utc(), nullable=False),
        sa.Column("state", _ident(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("runner", _ident(253), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("lease_until", _utc(), nullable=True),
        sa.Column("retry_at", _utc(), nullable=True),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'retry', 'succeeded', 'failed', 'missed')", name=op.f("ck_task_runs_state")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_runs_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_runs")),
        sa.UniqueConstraint("task_id", "scheduled_for", name=op.f("uq_task_runs_task_id_scheduled_for")),
    )
    op.create_index(op.f("ix_task_runs_state_retry_at"), "task_runs", ["state", "retry_at"], unique=False)
    op.create_index(
        op.f("ix_task_runs_state_lease_until"), "task_runs", ["state", "lease_until"], unique=False
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", _ident(253), nullable=False),
        sa.Column("action", _ident(64), nullable=False),
        sa.Column("cluster", _ident(253), server_default="", nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("result", _ident(16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("request_id", _ident(128), server_default="", nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_index(op.f("ix_audit_events_action_at"), "audit_events", ["action", "at"], unique=False)
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", _ident(253), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("clusters", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_notification_channels_name")),
    )


def downgrade() -> None:
    op.drop_table("notification_channels")
    op.drop_index(op.f("ix_audit_events_action_at"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("ix_task_runs_state_lease_until"), table_name="task_runs")
    op.drop_index(op.f("ix_task_runs_state_retry_at"), table_name="task_runs")
    op.drop_table("task_runs")
    op.drop_index(op.f("ix_tasks_state_next_run_at"), table_name="tasks")
    op.drop_table("tasks")
