"""supply side: suppliers, the supplier of each product, prices kept at confirmation,
leaders' cash ledger

Revision ID: 0003_supply
Revises: 0002
Create Date: 2026-12-03 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models

revision = '0003_supply'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'suppliers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers')),
        sa.UniqueConstraint('name', name=op.f('uq_suppliers_name')),
    )
    with op.batch_alter_table('products') as batch:
        batch.add_column(sa.Column('supplier', sa.String(length=100), nullable=False,
                                   server_default=''))
    with op.batch_alter_table('order_items') as batch:
        batch.add_column(sa.Column('unit_price', sa.Numeric(precision=12, scale=4),
                                   nullable=True))


    op.create_table(
        'ledger_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('leader_id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('at', db.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('received', 'correction', 'handed_over')",
                           name=op.f('ck_ledger_entries_kind_known')),
        sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], ondelete='RESTRICT',
                                name=op.f('fk_ledger_entries_leader_id_leaders')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ondelete='SET NULL',
                                name=op.f('fk_ledger_entries_order_id_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    )
    op.create_index(op.f('ix_ledger_entries_leader_id'), 'ledger_entries', ['leader_id'])
    op.create_index(op.f('ix_ledger_entries_order_id'), 'ledger_entries', ['order_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_ledger_entries_order_id'), table_name='ledger_entries')
    op.drop_index(op.f('ix_ledger_entries_leader_id'), table_name='ledger_entries')
    op.drop_table('ledger_entries')
    with op.batch_alter_table('order_items') as batch:
        batch.drop_column('unit_price')
    with op.batch_alter_table('products') as batch:
        batch.drop_column('supplier')
    op.drop_table('suppliers')
