"""staff messages (takeMessage) and the practices' notify endpoints

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 01:30:36
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("vapi_call_id", sa.String(length=128), nullable=True),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", server.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", server.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", server.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_messages")),
    )
    with op.batch_alter_table("staff_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_messages_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_messages_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_staff_messages_delivery_next", ["delivery", "next_attempt_at"], unique=False)

    op.create_table(
        "message_endpoints",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("updated_at", server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_message_endpoints_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_message_endpoints")),
    )


def downgrade() -> None:
    op.drop_table("message_endpoints")
    with op.batch_alter_table("staff_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_messages_delivery_next")
        batch_op.drop_index(batch_op.f("ix_staff_messages_created_at"))
        batch_op.drop_index(batch_op.f("ix_staff_messages_account_id"))
    op.drop_table("staff_messages")
