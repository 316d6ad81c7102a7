"""console login throttling: attempt counters per user and address, and per address

Revision ID: 0004_login_attempts
Revises: 0003_supply
Create Date: 2026-12-03 17:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = '0004_login_attempts'
down_revision = '0003_supply'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_attempts',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('window_start', db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_attempts')),
    )
    op.create_index(op.f('ix_login_attempts_window_start'), 'login_attempts', ['window_start'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_login_attempts_window_start'), table_name='login_attempts')
    op.drop_table('login_attempts')
