"""identity attempts (throttles that hold across calls and replicas)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import server.db.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_attempts",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("window_start", server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "scope", "subject", "window_start", name=op.f("pk_identity_attempts")),
    )


def downgrade() -> None:
    op.drop_table("identity_attempts")
