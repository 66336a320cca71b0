"""idempotency keys know their call and completion time (a later write on the call makes a replay stale)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("completed_at", server.db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_idempotency_keys_call_key"), ["call_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_call_key"))
        batch_op.drop_column("completed_at")
        batch_op.drop_column("call_key")
