"""call prefetches: what a call's start read from Sikka, encrypted, until the call ends or the TTL passes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = server.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "call_prefetches",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("call_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "call_key", name=op.f("pk_call_prefetches")),
    )
    with op.batch_alter_table("call_prefetches", schema=None) as batch_op:
        batch_op.create_index("ix_call_prefetches_account_created", ["account_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_prefetches_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_prefetches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_prefetches_expires_at"))
        batch_op.drop_index("ix_call_prefetches_account_created")
    op.drop_table("call_prefetches")
