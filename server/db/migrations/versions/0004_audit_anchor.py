"""audit rows flag an invalid client IP

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get false, which the chain leaves out of the hashed record: their hashes stay valid.
    with op.batch_alter_table("pms_audit_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ip_invalid", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("pms_audit_logs", schema=None) as batch_op:
        batch_op.drop_column("ip_invalid")
