"""The model's own fingerprint as an indexed column of ``models``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

History, previous results and ``--lm-baseline last`` match runs on a model's
fingerprint, which until now lived only inside ``models.metadata`` (JSON), out of
reach of any index. Existing rows are filled in from that JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As models.FINGERPRINT_LENGTH at this revision (a revision must not change with the models).
_LENGTH = 64
_INDEX = "ix_models_key_fingerprint"


def _models() -> sa.TableClause:
    return sa.table(
        "models",
        sa.column("id", sa.Integer()),
        sa.column("metadata", sa.JSON()),
        sa.column("fingerprint", sa.String()),
    )


def backfill_in_python(connection: sa.Connection) -> None:
    """The backfill for databases whose JSON functions differ: row by row, same rules."""
    models = _models()
    for row_id, metadata in connection.execute(sa.select(models.c.id, models.c.metadata)).all():
        value = metadata.get("fingerprint") if isinstance(metadata, dict) else None
        if isinstance(value, str) and len(value) <= _LENGTH:
            update = models.update().where(models.c.id == row_id).values(fingerprint=value)
            connection.execute(update)


def _backfill() -> None:
    models = _models()
    value = models.c.metadata["fingerprint"]
    # Only JSON strings, as models.model_fingerprint stores them: a number or an
    # object there would otherwise come out as its text.
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        is_string = sa.func.json_typeof(value) == "string"
    elif dialect == "sqlite":
        is_string = sa.func.json_type(models.c.metadata, "$.fingerprint") == "text"
    else:
        backfill_in_python(op.get_bind())
        return
    text = value.as_string()
    # Too long to fit is unknown (NULL), not cut short, again as model_fingerprint.
    fits = sa.func.length(text) <= _LENGTH
    op.execute(models.update().where(is_string, fits).values(fingerprint=text))


def upgrade() -> None:
    # SQLite adds a column in place; batch mode only rebuilds the table when it must.
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(_LENGTH), nullable=True))
    _backfill()
    # After the backfill, so the index is built once rather than updated row by row.
    op.create_index(_INDEX, "models", ["key", "fingerprint"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="models")
    # SQLite before 3.35 cannot drop a column: batch mode rebuilds the table.
    with op.batch_alter_table("models") as batch:
        batch.drop_column("fingerprint")
