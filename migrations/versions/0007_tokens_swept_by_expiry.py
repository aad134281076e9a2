"""Token records are swept once their lifetimes have ended: an index on their expiry

``idp sessions sweep`` removes the token records whose lifetimes ended 31 days ago or
more; the index lets it find them without reading the whole table every minute.

On PostgreSQL the index is built concurrently (outside the migration's transaction):
the table may be large, and a plain CREATE INDEX would hold up every token issued
by the hosts still serving while it is built.

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


def _postgresql():
    return op.get_bind().dialect.name == 'postgresql'


def upgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            op.create_index('ix_tokens_expires_at', 'tokens', ['expires_at'], unique=False,
                            postgresql_concurrently=True, if_not_exists=True)
        return
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_expires_at'), ['expires_at'], unique=False)


def downgrade():
    if _postgresql():
        with op.get_context().autocommit_block():
            op.drop_index('ix_tokens_expires_at', table_name='tokens', postgresql_concurrently=True, if_exists=True)
        return
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_expires_at'))
