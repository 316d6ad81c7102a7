"""supply: stock changes, outlets and their shortage reports, supported households, back-ordered
order lines

Revision ID: 0005_stock_outlets_support
Revises: 0004_login_attempts
Create Date: 2026-12-03 17:25:35.634263
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models


revision = '0005_stock_outlets_support'
down_revision = '0004_login_attempts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outlets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('village', sa.String(length=100), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('invite_code', sa.String(length=64), nullable=False),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outlets')),
    sa.UniqueConstraint('invite_code', name=op.f('uq_outlets_invite_code')),
    sa.UniqueConstraint('name', name=op.f('uq_outlets_name'))
    )
    with op.batch_alter_table('outlets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outlets_village'), ['village'], unique=False)

    op.create_table('stock_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('village', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('out', 'in')", name=op.f('ck_stock_changes_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_changes'))
    )
    with op.batch_alter_table('stock_changes', schema=None) as batch_op:
        batch_op.create_index('ix_stock_changes_sku_village', ['sku', 'village', 'id'], unique=False)

    op.create_table('outlet_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outlet_id', sa.Integer(), nullable=False),
    sa.Column('telegram_user_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('joined_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlets.id'], name=op.f('fk_outlet_staff_outlet_id_outlets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outlet_staff')),
    sa.UniqueConstraint('telegram_user_id', name=op.f('uq_outlet_staff_telegram_user_id'))
    )
    with op.batch_alter_table('outlet_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outlet_staff_outlet_id'), ['outlet_id'], unique=False)

    op.create_table('shortage_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outlet_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('short', 'restock')", name=op.f('ck_shortage_reports_kind_known')),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlets.id'], name=op.f('fk_shortage_reports_outlet_id_outlets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shortage_reports'))
    )
    with op.batch_alter_table('shortage_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shortage_reports_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shortage_reports_outlet_id'), ['outlet_id'], unique=False)

    op.create_table('support_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('approved_by', sa.String(length=100), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('grant', 'revoke')", name=op.f('ck_support_grants_kind_known')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_support_grants_resident_id_residents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_grants'))
    )
    with op.batch_alter_table('support_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_grants_resident_id'), ['resident_id'], unique=False)

    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backorder', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('backorder_order_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_order_items_backorder_order_id_orders'), 'orders', ['backorder_order_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(
            'backorder_known', "backorder IS NULL OR backorder IN ('waiting', 'sent')")

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supported', sa.Boolean(), server_default='0', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('supported')

    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_order_items_backorder_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_order_items_backorder_order_id_orders'), type_='foreignkey')
        batch_op.drop_column('backorder_order_id')
        batch_op.drop_column('backorder')

    with op.batch_alter_table('support_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_grants_resident_id'))

    op.drop_table('support_grants')
    with op.batch_alter_table('shortage_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shortage_reports_outlet_id'))
        batch_op.drop_index(batch_op.f('ix_shortage_reports_at'))

    op.drop_table('shortage_reports')
    with op.batch_alter_table('outlet_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outlet_staff_outlet_id'))

    op.drop_table('outlet_staff')
    with op.batch_alter_table('stock_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_stock_changes_sku_village')

    op.drop_table('stock_changes')
    with op.batch_alter_table('outlets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outlets_village'))

    op.drop_table('outlets')
