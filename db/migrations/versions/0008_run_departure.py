"""runs: when their residents were told the run is on the way; voice calls that ask a
question (a standing order's round); residents' choice for unanswered standing questions

Revision ID: 0008_run_departure
Revises: 0007_reaching
Create Date: 2026-12-04 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = '0008_run_departure'
down_revision = '0007_reaching'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('departure_told_at', db.models.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('voice_calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_voice_calls_kind_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_voice_calls_kind_known'),
                                         "kind IN ('callback', 'notice', 'question')")
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('standing_unconfirmed', sa.String(length=8),
                                      server_default='skip', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_column('standing_unconfirmed')
    with op.batch_alter_table('voice_calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_voice_calls_kind_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_voice_calls_kind_known'),
                                         "kind IN ('callback', 'notice')")
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_column('departure_told_at')
