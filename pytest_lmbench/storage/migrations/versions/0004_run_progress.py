"""A run's live progress in its own row: counts, the current item and model.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

The dashboard (``lmbench serve``) shows a running session's progress from the
store alone, so a session on another machine that writes to the same database
shows up live too. The session updates these columns in the same transaction
as each result. Runs stored before this revision keep NULL for what was never
recorded (``items_selected``, ``progress_at``); their counts start at 0 and are
not backfilled: the dashboard counts a finished run's results from ``results``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("items_done", "items_passed", "items_failed", "items_errored", "items_skipped")


# Plain ALTER TABLE, never a batch rebuild: on SQLite, dropping the old ``runs`` table
# of a rebuild would cascade to every model and result of every run.
def upgrade() -> None:
    op.add_column("runs", sa.Column("items_selected", sa.Integer(), nullable=True))
    for name in _COUNTS:
        op.add_column("runs", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.add_column("runs", sa.Column("current_item", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("current_model", sa.Text(), nullable=True))
    op.add_column("runs", sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for name in ("progress_at", "current_model", "current_item", *_COUNTS, "items_selected"):
        op.drop_column("runs", name)
