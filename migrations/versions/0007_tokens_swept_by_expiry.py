"""Token records are swept once their lifetimes have ended: an index on their expiry

``idp sessions sweep`` removes the token records whose lifetimes ended a day ago or
more; the index lets it find them without reading the whole table every minute.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 13:15:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_expires_at'))
