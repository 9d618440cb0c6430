"""continuous-training policies, their runs and transitions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_policies")),
    )
    op.create_table(
        "policy_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=256), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["policy"],
            ["policies.name"],
            name=op.f("fk_policy_runs_policy_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_policy_runs")),
    )
    with op.batch_alter_table("policy_runs", schema=None) as batch_op:
        batch_op.create_index("ix_policy_runs_policy_state", ["policy", "state"], unique=False)
    op.create_table(
        "policy_events",
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["policy_runs.run_id"],
            name=op.f("fk_policy_events_run_id_policy_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_policy_events")),
    )
    with op.batch_alter_table("policy_events", schema=None) as batch_op:
        batch_op.create_index("ix_policy_events_run_id", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_table("policy_events")
    op.drop_table("policy_runs")
    op.drop_table("policies")
