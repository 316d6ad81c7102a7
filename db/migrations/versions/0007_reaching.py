"""reaching residents: proxies (family members, carers), notification preference, outbound
calls (callbacks, spoken notices), standing orders and their rounds

Revision ID: 0007_reaching
Revises: 0006_runs_pickup
Create Date: 2026-12-04 02:57:07.761068
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models


revision = '0007_reaching'
down_revision = '0006_runs_pickup'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proxies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('relation', sa.String(length=32), nullable=False),
    sa.Column('notify', sa.String(length=8), server_default='sms', nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("notify IN ('sms', 'call', 'both')", name=op.f('ck_proxies_notify_known')),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_proxies_resident_id_residents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proxies')),
    sa.UniqueConstraint('resident_id', 'phone', name='uq_proxies_resident_phone')
    )
    with op.batch_alter_table('proxies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proxies_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_proxies_resident_id'), ['resident_id'], unique=False)

    op.create_table('standing_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('proxy_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('every_weeks', sa.Integer(), nullable=False),
    sa.Column('on_runs', sa.Boolean(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('unconfirmed', sa.String(length=8), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'paused', 'stopped')", name=op.f('ck_standing_orders_status_known')),
    sa.CheckConstraint("unconfirmed IN ('skip', 'confirm')", name=op.f('ck_standing_orders_unconfirmed_known')),
    sa.ForeignKeyConstraint(['proxy_id'], ['proxies.id'], name=op.f('fk_standing_orders_proxy_id_proxies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_standing_orders_resident_id_residents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_standing_orders'))
    )
    with op.batch_alter_table('standing_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_standing_orders_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_standing_orders_status'), ['status'], unique=False)

    op.create_table('standing_rounds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('standing_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('deadline', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('asked_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=100), nullable=False),
    sa.CheckConstraint("state IN ('asked', 'confirmed', 'skipped', 'ordered')", name=op.f('ck_standing_rounds_state_known')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_standing_rounds_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_standing_rounds_run_id_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['standing_id'], ['standing_orders.id'], name=op.f('fk_standing_rounds_standing_id_standing_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_standing_rounds')),
    sa.UniqueConstraint('standing_id', 'day', name='uq_standing_rounds_standing_day')
    )
    with op.batch_alter_table('standing_rounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_standing_rounds_standing_id'), ['standing_id'], unique=False)

    op.create_table('voice_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('fallback_text', sa.Text(), nullable=False),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('max_tries', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('call_sid', sa.String(length=64), nullable=True),
    sa.Column('last_outcome', sa.String(length=32), nullable=False),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('callback', 'notice')", name=op.f('ck_voice_calls_kind_known')),
    sa.CheckConstraint("status IN ('pending', 'calling', 'heard', 'answered', 'gave_up', 'cancelled')", name=op.f('ck_voice_calls_status_known')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_voice_calls_order_id_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_voice_calls_resident_id_residents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voice_calls')),
    sa.UniqueConstraint('key', name=op.f('uq_voice_calls_key'))
    )
    with op.batch_alter_table('voice_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voice_calls_call_sid'), ['call_sid'], unique=False)
        batch_op.create_index(batch_op.f('ix_voice_calls_phone'), ['phone'], unique=False)
        batch_op.create_index(batch_op.f('ix_voice_calls_status'), ['status'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proxy_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_orders_proxy_id_proxies'), 'proxies', ['proxy_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify', sa.String(length=8), server_default='sms', nullable=False))
        batch_op.create_check_constraint('notify_known', "notify IN ('sms', 'call', 'both')")



def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_residents_notify_known'), type_='check')
        batch_op.drop_column('notify')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_orders_proxy_id_proxies'), type_='foreignkey')
        batch_op.drop_column('proxy_id')

    with op.batch_alter_table('voice_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voice_calls_status'))
        batch_op.drop_index(batch_op.f('ix_voice_calls_phone'))
        batch_op.drop_index(batch_op.f('ix_voice_calls_call_sid'))

    op.drop_table('voice_calls')
    with op.batch_alter_table('standing_rounds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_standing_rounds_standing_id'))

    op.drop_table('standing_rounds')
    with op.batch_alter_table('standing_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_standing_orders_status'))
        batch_op.drop_index(batch_op.f('ix_standing_orders_resident_id'))

    op.drop_table('standing_orders')
    with op.batch_alter_table('proxies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proxies_resident_id'))
        batch_op.drop_index(batch_op.f('ix_proxies_phone'))

    op.drop_table('proxies')
