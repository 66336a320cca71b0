"""practice sync: sync leases, missed syncs and API access per integration; UNLISTED becomes INACTIVE

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_leases")),
    )
    with op.batch_alter_table("pms_integrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("missed_syncs", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("api_access", sa.String(length=3), nullable=True))
    # The sync's old "no longer listed" status is the new INACTIVE (both: tokens refused until listed again).
    op.execute("UPDATE pms_integrations SET status = 'INACTIVE' WHERE status = 'UNLISTED'")


def downgrade() -> None:
    op.execute("UPDATE pms_integrations SET status = 'UNLISTED' WHERE status = 'INACTIVE'")
    with op.batch_alter_table("pms_integrations", schema=None) as batch_op:
        batch_op.drop_column("api_access")
        batch_op.drop_column("missed_syncs")
    op.drop_table("sync_leases")
