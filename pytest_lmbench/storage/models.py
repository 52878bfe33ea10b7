"""The results database: one row per run, model, result, request and hardware reading.

Units live in column names; a figure that was not measured is NULL, never 0.
The numeric result columns are copies of values inside the JSON columns, kept
for SQL queries (``WHERE decode_tps_median > 40``); the JSON is what rebuilds a
report. ``measurements`` and ``hardware_samples`` hold the per-request and
per-reading lists that the report keeps under ``timing["samples"]`` and
``hardware["samples"]`` (not duplicated in the JSON). Their ``extra`` and
``absent_keys`` columns make the rebuilt sample equal to the stored one: keys
without a column, values that do not fit theirs, and column keys the sample
lacked. Rebuilt samples list column keys first; an int stored in a float
column comes back as a float.

Schema changes need a new Alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pytest_lmbench.records import JSON as JSONObject
from pytest_lmbench.records import timing_figure, token_total

__all__ = [
    "Base",
    "HardwareSample",
    "Measurement",
    "Model",
    "Result",
    "Run",
    "UTCDateTime",
]

# Stable constraint names keep Alembic migrations portable between backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Fingerprints are 16 hex chars today; the room is for a longer hash later.
FINGERPRINT_LENGTH = 64

# SQLite only auto-increments an INTEGER PRIMARY KEY, not a BIGINT one.
RowId = BigInteger().with_variant(Integer(), "sqlite")
# The column values of one row, as SQLAlchemy inserts and returns them.
Row = dict[str, Any]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no time zone type: values are stored as naive UTC and given
    back their zone when read, so both backends return aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def json_column(*, nullable: bool = False) -> Any:
    # none_as_null: Python None is SQL NULL ("missing"), not the JSON literal null.
    return mapped_column(JSON(none_as_null=True), nullable=nullable)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(32))
    backend: Mapped[str] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(Text)
    plugin_version: Mapped[str] = mapped_column(String(64))
    settings: Mapped[JSONObject] = json_column()
    environment: Mapped[JSONObject] = json_column()
    fingerprint: Mapped[str | None] = mapped_column(String(128), index=True)
    calibration: Mapped[JSONObject | None] = json_column(nullable=True)
    # Live progress, updated with each result (storage/progress.py); not in the JSON report.
    items_selected: Mapped[int | None] = mapped_column(Integer)
    items_done: Mapped[int] = mapped_column(Integer, server_default="0")
    items_passed: Mapped[int] = mapped_column(Integer, server_default="0")
    items_failed: Mapped[int] = mapped_column(Integer, server_default="0")
    items_errored: Mapped[int] = mapped_column(Integer, server_default="0")
    items_skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    current_item: Mapped[str | None] = mapped_column(Text)
    current_model: Mapped[str | None] = mapped_column(Text)
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("run_id", "key"),
        # History and baselines look a model's runs up by key and fingerprint.
        Index("ix_models_key_fingerprint", "key", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)
    # Copies of metadata entries, for queries.
    quantization: Mapped[str | None] = mapped_column(Text)
    architecture: Mapped[str | None] = mapped_column(Text)
    params_string: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # The model's own fingerprint; the run's combines those of all its models.
    fingerprint: Mapped[str | None] = mapped_column(String(FINGERPRINT_LENGTH))
    status: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    load_requested: Mapped[JSONObject] = json_column()
    load_applied: Mapped[JSONObject] = json_column()
    load_not_applied: Mapped[JSONObject] = json_column()
    load_time_s: Mapped[float | None] = mapped_column(Double)
    client_load_time_s: Mapped[float | None] = mapped_column(Double)
    metadata_: Mapped[JSONObject] = mapped_column("metadata", JSON(none_as_null=True))


class Result(Base):
    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint("run_id", "nodeid"),
        Index("ix_results_model_key_nodeid", "model_key", "nodeid"),
        Index("ix_results_model_key_case_id", "model_key", "case_id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    model_key: Mapped[str] = mapped_column(Text)
    nodeid: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    capability: Mapped[str] = mapped_column(Text)
    task: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[Any] = json_column(nullable=True)
    metrics: Mapped[JSONObject] = json_column()
    # Promoted copies for queries; NULL when the item did not measure them.
    quality_score: Mapped[float | None] = mapped_column(Double)
    ttft_s_median: Mapped[float | None] = mapped_column(Double)
    decode_tps_median: Mapped[float | None] = mapped_column(Double)
    decode_tps_ci95_low: Mapped[float | None] = mapped_column(Double)
    decode_tps_ci95_high: Mapped[float | None] = mapped_column(Double)
    prefill_tps_median: Mapped[float | None] = mapped_column(Double)
    e2e_s_median: Mapped[float | None] = mapped_column(Double)
    aggregate_output_tps: Mapped[float | None] = mapped_column(Double)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    energy_j: Mapped[float | None] = mapped_column(Double)
    joules_per_token: Mapped[float | None] = mapped_column(Double)
    # timing/hardware without their "samples" lists when those went to child tables.
    timing: Mapped[JSONObject] = json_column()
    server_stats: Mapped[JSONObject] = json_column()
    hardware: Mapped[JSONObject] = json_column()
    flags: Mapped[JSONObject] = json_column()
    duration_s: Mapped[float | None] = mapped_column(Double)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Measurement(Base):
    """One measured request: an entry of ``timing["samples"]``."""

    __tablename__ = "measurements"
    __table_args__ = (UniqueConstraint("result_id", "idx"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("results.id", ondelete="CASCADE"),
    )
    idx: Mapped[int] = mapped_column(Integer)
    ttfr_s: Mapped[float | None] = mapped_column(Double)
    ttft_s: Mapped[float | None] = mapped_column(Double)
    decode_tps: Mapped[float | None] = mapped_column(Double)
    prefill_tps: Mapped[float | None] = mapped_column(Double)
    e2e_s: Mapped[float | None] = mapped_column(Double)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger)
    token_count_estimated: Mapped[bool | None] = mapped_column(Boolean)
    server_ttft_s: Mapped[float | None] = mapped_column(Double)
    server_decode_tps: Mapped[float | None] = mapped_column(Double)
    # Entries without a column (itl_s, chunks, ...) and values that do not fit one.
    extra: Mapped[JSONObject | None] = json_column(nullable=True)
    # Column keys the sample did not have, so a rebuilt sample has the same keys.
    absent_keys: Mapped[list[str] | None] = json_column(nullable=True)


class HardwareSample(Base):
    """One raw reading: an entry of ``hardware["samples"]``."""

    __tablename__ = "hardware_samples"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("results.id", ondelete="CASCADE"),
        index=True,
    )
    t_s: Mapped[float | None] = mapped_column(Double)  # seconds since the item started
    signal: Mapped[str | None] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Double)
    gpu_index: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[JSONObject | None] = json_column(nullable=True)
    absent_keys: Mapped[list[str] | None] = json_column(nullable=True)


# --- Entries of reporting/schema.py <-> rows ---------------------------------
#
# Entries arrive as ``model_dump(mode="json")`` dicts, so every value is plain
# JSON (NaN and infinities are already None, as in the JSON report).

SampleColumns = dict[str, type]
MEASUREMENT_COLUMNS: SampleColumns = {
    "ttfr_s": float,
    "ttft_s": float,
    "decode_tps": float,
    "prefill_tps": float,
    "e2e_s": float,
    "output_tokens": int,
    "prompt_tokens": int,
    "token_count_estimated": bool,
    "server_ttft_s": float,
    "server_decode_tps": float,
}
HARDWARE_COLUMNS: SampleColumns = {"t_s": float, "signal": str, "value": float, "gpu_index": int}
_INT64 = 2**63


def parse_time(value: str) -> datetime:
    """ISO 8601 to aware UTC; a naive time is taken as UTC (the schema says UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def number(value: Any) -> float | None:
    """A finite float; None for text, bools, containers and missing values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if result == result and abs(result) != float("inf") else None


def count(value: Any) -> int | None:
    """A whole number for a BIGINT column; fractional counts are rounded."""
    result = number(value)
    if result is None or abs(result) >= _INT64:
        return None
    return round(result)


def _fits(value: Any, kind: type) -> bool:
    if value is None:
        return True
    if kind is float:
        return number(value) is not None
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) < _INT64
    return isinstance(value, kind)


def split_sample(sample: Row, columns: SampleColumns) -> Row:
    """Column values of one sample; what fits no column goes to ``extra``."""
    row: Row = dict.fromkeys(columns)
    extra: Row = {}
    for key, value in sample.items():
        if key in columns and _fits(value, columns[key]):
            row[key] = value
        else:
            extra[key] = value
    absent = [key for key in columns if key not in sample]
    row["extra"] = extra or None
    row["absent_keys"] = absent or None
    return row


def join_sample(row: Mapping[Any, Any], columns: SampleColumns) -> Row:
    """The sample ``split_sample`` was given (ints in float columns come back as floats)."""
    absent = set(row["absent_keys"] or ())
    sample = {key: row[key] for key in columns if key not in absent}
    sample.update(row["extra"] or {})
    return sample


def sample_rows(samples: Any, columns: SampleColumns) -> list[Row] | None:
    """Rows for a ``samples`` list, or None to keep it inside the JSON as it is.

    Only a non-empty list of objects is split, so an empty or odd value
    survives a round trip unchanged.
    """
    if not isinstance(samples, list) or not samples:
        return None
    if not all(isinstance(sample, dict) for sample in samples):
        return None
    return [split_sample(sample, columns) for sample in samples]


def promoted(result: Row) -> Row:
    """The query columns of a result, copied out of its JSON."""
    timing, hardware = result["timing"], result["hardware"]
    return {
        "quality_score": number(result["metrics"].get("quality_score")),
        "ttft_s_median": timing_figure(timing, "ttft_s"),
        "decode_tps_median": timing_figure(timing, "decode_tps"),
        "decode_tps_ci95_low": timing_figure(timing, "decode_tps", "ci95_low"),
        "decode_tps_ci95_high": timing_figure(timing, "decode_tps", "ci95_high"),
        "prefill_tps_median": timing_figure(timing, "prefill_tps"),
        "e2e_s_median": timing_figure(timing, "e2e_s"),
        "aggregate_output_tps": number(timing.get("aggregate_output_tps")),
        "output_tokens": count(token_total(timing, "output_tokens")),
        "prompt_tokens": count(token_total(timing, "prompt_tokens")),
        "energy_j": number(hardware.get("energy_j")),
        "joules_per_token": number(hardware.get("joules_per_token")),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def model_fingerprint(metadata: Mapping[str, Any]) -> str | None:
    """The fingerprint column's value: one that does not fit is unknown, never cut short."""
    value = _text(metadata.get("fingerprint"))
    return value if value is not None and len(value) <= FINGERPRINT_LENGTH else None


def model_row(run_id: str, model: Row) -> Row:
    load, metadata = model["load"], model["metadata"]
    return {
        "run_id": run_id,
        "key": model["key"],
        "quantization": _text(metadata.get("quantization")),
        "architecture": _text(metadata.get("architecture")),
        "params_string": _text(metadata.get("params_string")),
        "size_bytes": count(metadata.get("size_bytes")),
        "fingerprint": model_fingerprint(metadata),
        "status": model["status"],
        "error": model["error"],
        "load_requested": load["requested"],
        "load_applied": load["applied"],
        "load_not_applied": load["not_applied"],
        "load_time_s": load["load_time_s"],
        "client_load_time_s": load["client_load_time_s"],
        "metadata": metadata,
    }


def model_entry(row: Mapping[Any, Any]) -> Row:
    return {
        "key": row["key"],
        "status": row["status"],
        "error": row["error"],
        "load": {
            "requested": row["load_requested"],
            "applied": row["load_applied"],
            "not_applied": row["load_not_applied"],
            "load_time_s": row["load_time_s"],
            "client_load_time_s": row["client_load_time_s"],
        },
        "metadata": row["metadata"],
    }


_RUN_FIELDS = ("id", "status", "backend", "base_url", "plugin_version", "settings")
_RUN_FIELDS_2 = ("environment", "fingerprint", "calibration")


def run_row(run: Row) -> Row:
    row = {key: run[key] for key in (*_RUN_FIELDS, *_RUN_FIELDS_2)}
    row["started_at"] = parse_time(run["started_at"])
    row["finished_at"] = parse_time(run["finished_at"]) if run["finished_at"] else None
    return row


def run_entry(row: Mapping[Any, Any]) -> Row:
    entry = {key: row[key] for key in _RUN_FIELDS}
    entry["started_at"] = format_time(row["started_at"])
    entry["finished_at"] = format_time(row["finished_at"])
    entry.update({key: row[key] for key in _RUN_FIELDS_2})
    return entry


# Fields stored as they are, in a column of the same name.
_RESULT_FIELDS = (
    *("nodeid", "kind", "capability", "task", "case_id", "outcome", "error", "prompt"),
    *("output", "reference", "metrics", "server_stats", "flags", "duration_s"),
)


def result_row(run_id: str, result: Row) -> tuple[Row, list[Row] | None, list[Row] | None]:
    """The results row plus its measurement and hardware sample rows (None: kept in JSON)."""
    timing, hardware = dict(result["timing"]), dict(result["hardware"])
    measurements = sample_rows(timing.get("samples"), MEASUREMENT_COLUMNS)
    if measurements is not None:
        del timing["samples"]
    readings = sample_rows(hardware.get("samples"), HARDWARE_COLUMNS)
    if readings is not None:
        del hardware["samples"]
    row = {key: result[key] for key in _RESULT_FIELDS}
    row.update(promoted(result))
    row.update(
        run_id=run_id,
        model_key=result["model"],
        timing=timing,
        hardware=hardware,
        finished_at=parse_time(result["finished_at"]) if result["finished_at"] else None,
    )
    return row, measurements, readings


def result_entry(
    row: Mapping[Any, Any],
    measurements: Sequence[Mapping[Any, Any]],
    readings: Sequence[Mapping[Any, Any]],
) -> Row:
    entry = {key: row[key] for key in _RESULT_FIELDS}
    entry["model"] = row["model_key"]
    timing, hardware = dict(row["timing"]), dict(row["hardware"])
    if measurements:
        timing["samples"] = [join_sample(m, MEASUREMENT_COLUMNS) for m in measurements]
    if readings:
        hardware["samples"] = [join_sample(r, HARDWARE_COLUMNS) for r in readings]
    entry.update(timing=timing, hardware=hardware, finished_at=format_time(row["finished_at"]))
    return entry
