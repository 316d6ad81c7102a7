"""runs and pickup points: village runs with stops, pickup points (outlets with slots), each
order's fulfilment

Revision ID: 0006_runs_pickup
Revises: 0005_stock_outlets_support
Create Date: 2026-12-04 02:40:19.794488
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import db.models


revision = '0006_runs_pickup'
down_revision = '0005_stock_outlets_support'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pickup_villages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village', sa.String(length=100), nullable=False),
    sa.Column('outlet_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlets.id'], name=op.f('fk_pickup_villages_outlet_id_outlets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_villages')),
    sa.UniqueConstraint('village', name=op.f('uq_pickup_villages_village'))
    )
    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vehicle', sa.String(length=100), nullable=False),
    sa.Column('leader_id', sa.Integer(), nullable=True),
    sa.Column('departs_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cutoff_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('picking_sent_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('scheduled', 'cancelled', 'done')", name=op.f('ck_runs_status_known')),
    sa.ForeignKeyConstraint(['leader_id'], ['leaders.id'], name=op.f('fk_runs_leader_id_leaders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_cutoff_at'), ['cutoff_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_departs_at'), ['departs_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_status'), ['status'], unique=False)

    op.create_table('run_stops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('village', sa.String(length=100), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('arrives_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_run_stops_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_stops'))
    )
    with op.batch_alter_table('run_stops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_stops_run_id'), ['run_id'], unique=False)

    op.create_table('run_villages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('village', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_run_villages_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_villages')),
    sa.UniqueConstraint('run_id', 'village', name='uq_run_villages_run_village')
    )
    with op.batch_alter_table('run_villages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_villages_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_run_villages_village'), ['village'], unique=False)

    op.create_table('pickup_seats',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outlet_id', sa.Integer(), nullable=False),
    sa.Column('slot_start', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seat', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_pickup_seats_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outlet_id'], ['outlets.id'], name=op.f('fk_pickup_seats_outlet_id_outlets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pickup_seats')),
    sa.UniqueConstraint('order_id', name=op.f('uq_pickup_seats_order_id')),
    sa.UniqueConstraint('outlet_id', 'day', 'number', name='uq_pickup_seats_day_number'),
    sa.UniqueConstraint('outlet_id', 'slot_start', 'seat', name='uq_pickup_seats_slot_seat')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fulfil_kind', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('run_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('run_stop_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('pickup_outlet_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('slot_start', db.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('pickup_no', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('promised', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_pickup_outlet_id'), ['pickup_outlet_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_run_id'), ['run_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_orders_run_stop_id_run_stops'), 'run_stops', ['run_stop_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_orders_pickup_outlet_id_outlets'), 'outlets', ['pickup_outlet_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_orders_run_id_runs'), 'runs', ['run_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(
            'fulfil_kind_known', "fulfil_kind IS NULL OR fulfil_kind IN ('leader', 'run', 'pickup')")

    with op.batch_alter_table('outlets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pickup', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('place', sa.String(length=300), server_default='', nullable=False))
        batch_op.add_column(sa.Column('opens', sa.String(length=5), server_default='08:00', nullable=False))
        batch_op.add_column(sa.Column('closes', sa.String(length=5), server_default='18:00', nullable=False))
        batch_op.add_column(sa.Column('slot_minutes', sa.Integer(), server_default='30', nullable=False))
        batch_op.add_column(sa.Column('slot_capacity', sa.Integer(), server_default='10', nullable=False))
        batch_op.add_column(sa.Column('prefix', sa.String(length=4), server_default='A', nullable=False))

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pickup_outlet_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_residents_pickup_outlet_id_outlets'), 'outlets', ['pickup_outlet_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_residents_pickup_outlet_id_outlets'), type_='foreignkey')
        batch_op.drop_column('pickup_outlet_id')

    with op.batch_alter_table('outlets', schema=None) as batch_op:
        batch_op.drop_column('prefix')
        batch_op.drop_column('slot_capacity')
        batch_op.drop_column('slot_minutes')
        batch_op.drop_column('closes')
        batch_op.drop_column('opens')
        batch_op.drop_column('place')
        batch_op.drop_column('pickup')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_orders_fulfil_kind_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_orders_run_id_runs'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_orders_pickup_outlet_id_outlets'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_orders_run_stop_id_run_stops'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_orders_run_id'))
        batch_op.drop_index(batch_op.f('ix_orders_pickup_outlet_id'))
        batch_op.drop_column('promised')
        batch_op.drop_column('pickup_no')
        batch_op.drop_column('slot_start')
        batch_op.drop_column('pickup_outlet_id')
        batch_op.drop_column('run_stop_id')
        batch_op.drop_column('run_id')
        batch_op.drop_column('fulfil_kind')

    op.drop_table('pickup_seats')
    with op.batch_alter_table('run_villages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_villages_village'))
        batch_op.drop_index(batch_op.f('ix_run_villages_run_id'))

    op.drop_table('run_villages')
    with op.batch_alter_table('run_stops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_stops_run_id'))

    op.drop_table('run_stops')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_status'))
        batch_op.drop_index(batch_op.f('ix_runs_departs_at'))
        batch_op.drop_index(batch_op.f('ix_runs_cutoff_at'))

    op.drop_table('runs')
    op.drop_table('pickup_villages')
