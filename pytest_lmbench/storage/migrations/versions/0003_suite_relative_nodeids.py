"""Result nodeids relative to the suite root, as sessions now record them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

A suite item's nodeid used to carry the folder the suites were collected from
(``.tox/demo/lib/python3.11/site-packages/capability_suites/reasoning/math.json::
math_003[m]``), so the same item run from a tox env and from a checkout never
paired in ``lmbench compare`` or previous-result lookups. Sessions now record
``reasoning/math.json::math_003[m]``; stored results are rewritten to match.
A rewrite that would give two results of one run the same nodeid (two suite
roots with the same capability file) is left out: that row keeps its old id.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The capability folders at this revision (a revision must not change with the vocabulary).
_CAPABILITIES = ("general_text", "reasoning", "vision", "tooling", "throughput")


def suite_relative(nodeid: str) -> str:
    """``<capability>/<file>.json::rest`` from a nodeid with any folder before it."""
    file_part, sep, rest = nodeid.partition("::")
    folders = file_part.replace("\\", "/").split("/")
    if not sep or len(folders) < 3 or not file_part.endswith(".json"):
        return nodeid
    if folders[-2] not in _CAPABILITIES:
        return nodeid
    return f"{folders[-2]}/{folders[-1]}::{rest}"


def _results() -> sa.TableClause:
    return sa.table(
        "results",
        sa.column("id", sa.Integer()),
        sa.column("run_id", sa.String()),
        sa.column("nodeid", sa.Text()),
    )


def upgrade() -> None:
    results = _results()
    connection = op.get_bind()
    rows = connection.execute(sa.select(results.c.id, results.c.run_id, results.c.nodeid)).all()
    taken = {(run_id, nodeid) for _, run_id, nodeid in rows}
    changes = []
    for row_id, run_id, nodeid in rows:
        new = suite_relative(nodeid)
        if new != nodeid and (run_id, new) not in taken:
            taken.add((run_id, new))
            changes.append({"row_id": row_id, "new": new})
    if changes:
        statement = (
            results.update()
            .where(results.c.id == sa.bindparam("row_id"))
            .values(nodeid=sa.bindparam("new"))
        )
        connection.execute(statement, changes)


def downgrade() -> None:
    # The old install folders are gone; suite-relative ids are valid ids for any version.
    pass
