"""write intents, one staff inbox, deliveries per channel, staff email addresses

- `writebacks` becomes `write_intents`: rows are recorded before the Sikka request; the old rows move over
  (pending → submitted, cancelled → withdrawn). Their encrypted `result` was bound to the old table and is not
  carried over (Sikka's message of a finished writeback; nothing follows from it).
- `staff_followups` joins `staff_messages` (one inbox, `kind` says what an item is); the moved rows keep their
  ciphertext and say which table it was sealed for (`sealed_as`), so they decrypt as before.
- The notify-URL delivery columns of `staff_messages` become `staff_deliveries` rows (one per item and channel).
- Idempotency claims get an expiry (`claimed_until`): a claim left by a dead process can be taken over.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = server.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    _write_intents()
    _inbox()
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", UTC_DATETIME, nullable=True))


def _write_intents() -> None:
    op.create_table(
        "write_intents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("tool", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("patient_ref", sa.String(length=64), nullable=True),
        sa.Column("vapi_call_id", sa.String(length=128), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("lookup", sa.String(length=64), nullable=True),
        sa.Column("slot_start", UTC_DATETIME, nullable=True),
        sa.Column("slot_minutes", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("operatory", sa.String(length=64), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("writeback_id", sa.String(length=32), nullable=True),
        sa.Column("created_id", sa.String(length=64), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("office_offline", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("recorded_at", UTC_DATETIME, nullable=False),
        sa.Column("submitted_at", UTC_DATETIME, nullable=True),
        sa.Column("completed_at", UTC_DATETIME, nullable=True),
        sa.Column("next_check_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("handed_to_staff_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_intents")),
        sa.UniqueConstraint("account_id", "writeback_id", name="uq_write_intents_account_writeback"),
    )
    with op.batch_alter_table("write_intents", schema=None) as batch_op:
        batch_op.create_index("ix_write_intents_account_slot", ["account_id", "slot_start"], unique=False)
        batch_op.create_index(batch_op.f("ix_write_intents_idempotency_key"), ["idempotency_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_write_intents_lookup"), ["lookup"], unique=False)
        batch_op.create_index("ix_write_intents_state_next_check", ["state", "next_check_at"], unique=False)
    op.execute(
        """
        INSERT INTO write_intents (id, account_id, tool, kind, method, endpoint, target_id, state, writeback_id,
            created_id, office_offline, recorded_at, submitted_at, completed_at, next_check_at, attempts)
        SELECT id, account_id, '', kind, '', '', target_id,
            CASE status WHEN 'pending' THEN 'submitted' WHEN 'cancelled' THEN 'withdrawn' ELSE status END,
            writeback_id, created_id, false, submitted_at, submitted_at, completed_at, next_poll_at, attempts
        FROM writebacks
        """
    )
    with op.batch_alter_table("writebacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_writebacks_status_next_poll"))
    op.drop_table("writebacks")


def _inbox() -> None:
    op.create_table(
        "staff_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("delivered_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_deliveries")),
        sa.UniqueConstraint("item_id", "channel", name="uq_staff_deliveries_item_channel"),
    )
    with op.batch_alter_table("staff_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_deliveries_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_deliveries_item_id"), ["item_id"], unique=False)
        batch_op.create_index("ix_staff_deliveries_status_next", ["status", "next_attempt_at"], unique=False)
    op.execute(
        """
        INSERT INTO staff_deliveries (id, item_id, account_id, channel, status, attempts, next_attempt_at,
            delivered_at, last_error, created_at)
        SELECT id, id, account_id, 'webhook', CASE delivery WHEN 'failed' THEN 'dead' ELSE delivery END, attempts,
            COALESCE(next_attempt_at, created_at), delivered_at, last_error, created_at
        FROM staff_messages WHERE delivery <> 'off'
        """
    )
    op.create_table(
        "staff_emails",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("booking_notices", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_staff_emails_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_staff_emails")),
    )
    with op.batch_alter_table("staff_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), server_default="message", nullable=False))
        batch_op.add_column(sa.Column("sealed_as", sa.String(length=32), nullable=True))
        batch_op.drop_index(batch_op.f("ix_staff_messages_delivery_next"))
        batch_op.drop_column("last_error")
        batch_op.drop_column("attempts")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("delivery")
        batch_op.drop_column("next_attempt_at")
    op.execute(
        """
        INSERT INTO staff_messages (id, account_id, kind, vapi_call_id, urgency, data, sealed_as, created_at,
            resolved_at)
        SELECT id, account_id, kind, vapi_call_id, 'routine', data, 'staff_followups', created_at, resolved_at
        FROM staff_followups
        """
    )
    with op.batch_alter_table("staff_followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_followups_account_id"))
        batch_op.drop_index(batch_op.f("ix_staff_followups_created_at"))
    op.drop_table("staff_followups")


def downgrade() -> None:
    """The tables as they were; items and intents that the old tables cannot hold are dropped."""
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("claimed_until")
    op.create_table(
        "staff_followups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("vapi_call_id", sa.String(length=128), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("resolved_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_followups")),
    )
    with op.batch_alter_table("staff_followups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_followups_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_followups_account_id"), ["account_id"], unique=False)
    op.execute(
        """
        INSERT INTO staff_followups (id, account_id, kind, vapi_call_id, data, created_at, resolved_at)
        SELECT id, account_id, kind, vapi_call_id, data, created_at, resolved_at
        FROM staff_messages WHERE sealed_as = 'staff_followups'
        """
    )
    op.execute("DELETE FROM staff_messages WHERE kind <> 'message' OR sealed_as IS NOT NULL")
    with op.batch_alter_table("staff_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("delivery", sa.String(length=16), server_default="off", nullable=False))
        batch_op.add_column(sa.Column("delivered_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_error", sa.String(length=100), nullable=True))
        batch_op.create_index("ix_staff_messages_delivery_next", ["delivery", "next_attempt_at"], unique=False)
        batch_op.drop_column("sealed_as")
        batch_op.drop_column("kind")
    op.drop_table("staff_emails")
    with op.batch_alter_table("staff_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_deliveries_status_next")
        batch_op.drop_index(batch_op.f("ix_staff_deliveries_item_id"))
        batch_op.drop_index(batch_op.f("ix_staff_deliveries_created_at"))
    op.drop_table("staff_deliveries")
    op.create_table(
        "writebacks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("writeback_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_id", sa.String(length=64), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("submitted_at", UTC_DATETIME, nullable=False),
        sa.Column("next_poll_at", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("completed_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_writebacks")),
        sa.UniqueConstraint("account_id", "writeback_id", name=op.f("uq_writebacks_account_writeback")),
    )
    with op.batch_alter_table("writebacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_writebacks_status_next_poll"), ["status", "next_poll_at"], unique=False)
    op.execute(
        """
        INSERT INTO writebacks (id, account_id, writeback_id, kind, target_id, status, created_id, submitted_at,
            next_poll_at, attempts, completed_at)
        SELECT id, account_id, writeback_id, kind, target_id,
            CASE state WHEN 'submitted' THEN 'pending' WHEN 'withdrawn' THEN 'cancelled' ELSE state END,
            created_id, COALESCE(submitted_at, recorded_at), next_check_at, attempts, completed_at
        FROM write_intents WHERE writeback_id IS NOT NULL
        """
    )
    with op.batch_alter_table("write_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_write_intents_state_next_check")
        batch_op.drop_index(batch_op.f("ix_write_intents_lookup"))
        batch_op.drop_index(batch_op.f("ix_write_intents_idempotency_key"))
        batch_op.drop_index("ix_write_intents_account_slot")
    op.drop_table("write_intents")
