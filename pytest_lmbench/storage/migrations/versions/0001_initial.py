"""The initial schema: runs, models, results, measurements, hardware_samples.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written by hand to match ``pytest_lmbench/storage/models.py`` at this revision;
``tests/storage/test_migrations.py`` checks the two agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _row_id() -> sa.types.TypeEngine[int]:
    # SQLite only auto-increments an INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("started_at", _when(), nullable=False),
        sa.Column("finished_at", _when(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("backend", sa.Text(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("plugin_version", sa.String(64), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("environment", _json(), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=True),
        sa.Column("calibration", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_fingerprint", "runs", ["fingerprint"])


def _models() -> None:
    op.create_table(
        "models",
        sa.Column("id", _row_id(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("quantization", sa.Text(), nullable=True),
        sa.Column("architecture", sa.Text(), nullable=True),
        sa.Column("params_string", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("load_requested", _json(), nullable=False),
        sa.Column("load_applied", _json(), nullable=False),
        sa.Column("load_not_applied", _json(), nullable=False),
        sa.Column("load_time_s", sa.Double(), nullable=True),
        sa.Column("client_load_time_s", sa.Double(), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_models_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("run_id", "key", name="uq_models_run_id_key"),
    )


_PROMOTED_FLOATS = (
    "quality_score",
    "ttft_s_median",
    "decode_tps_median",
    "decode_tps_ci95_low",
    "decode_tps_ci95_high",
    "prefill_tps_median",
    "e2e_s_median",
    "aggregate_output_tps",
)


def _results() -> None:
    op.create_table(
        "results",
        sa.Column("id", _row_id(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("model_key", sa.Text(), nullable=False),
        sa.Column("nodeid", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("capability", sa.Text(), nullable=False),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("case_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("reference", _json(), nullable=True),
        sa.Column("metrics", _json(), nullable=False),
        *(sa.Column(name, sa.Double(), nullable=True) for name in _PROMOTED_FLOATS),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("energy_j", sa.Double(), nullable=True),
        sa.Column("joules_per_token", sa.Double(), nullable=True),
        sa.Column("timing", _json(), nullable=False),
        sa.Column("server_stats", _json(), nullable=False),
        sa.Column("hardware", _json(), nullable=False),
        sa.Column("flags", _json(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("finished_at", _when(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_results_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_results"),
        sa.UniqueConstraint("run_id", "nodeid", name="uq_results_run_id_nodeid"),
    )
    op.create_index("ix_results_model_key_nodeid", "results", ["model_key", "nodeid"])
    op.create_index("ix_results_model_key_case_id", "results", ["model_key", "case_id"])


def _sample_table(name: str, *items: sa.schema.SchemaItem) -> None:
    """A child table of results: columns of one sample, plus what fits no column."""
    op.create_table(
        name,
        sa.Column("id", _row_id(), autoincrement=True, nullable=False),
        sa.Column("result_id", _row_id(), nullable=False),
        *items,
        sa.Column("extra", _json(), nullable=True),
        sa.Column("absent_keys", _json(), nullable=True),
        sa.ForeignKeyConstraint(
            ["result_id"], ["results.id"], name=f"fk_{name}_result_id_results", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )


def _measurements() -> None:
    seconds_or_rate = ("ttfr_s", "ttft_s", "decode_tps", "prefill_tps", "e2e_s")
    _sample_table(
        "measurements",
        sa.Column("idx", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Double(), nullable=True) for name in seconds_or_rate),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=True),
        sa.Column("token_count_estimated", sa.Boolean(), nullable=True),
        sa.Column("server_ttft_s", sa.Double(), nullable=True),
        sa.Column("server_decode_tps", sa.Double(), nullable=True),
        sa.UniqueConstraint("result_id", "idx", name="uq_measurements_result_id_idx"),
    )


def upgrade() -> None:
    _runs()
    _models()
    _results()
    _measurements()
    _sample_table(
        "hardware_samples",
        sa.Column("t_s", sa.Double(), nullable=True),
        sa.Column("signal", sa.Text(), nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("gpu_index", sa.Integer(), nullable=True),
    )
    op.create_index("ix_hardware_samples_result_id", "hardware_samples", ["result_id"])


def downgrade() -> None:
    for table in ("hardware_samples", "measurements", "results", "models", "runs"):
        op.drop_table(table)
