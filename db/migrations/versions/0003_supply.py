"""supply side: suppliers, the supplier of each product, prices kept at confirmation

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


def downgrade() -> None:
    with op.batch_alter_table('order_items') as batch:
        batch.drop_column('unit_price')
    with op.batch_alter_table('products') as batch:
        batch.drop_column('supplier')
    op.drop_table('suppliers')
