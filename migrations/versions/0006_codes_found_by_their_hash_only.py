"""Authorization codes are found by their hash only: the index on client_id goes

Nothing looks codes up by service. The index cost a write with every code issued,
and while a new database's statistics were still empty, the planner could pick it
for the code's claim (a scan of every code of the service) over the primary key.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 10:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authorization_codes_client_id'))


def downgrade():
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authorization_codes_client_id'), ['client_id'], unique=False)
