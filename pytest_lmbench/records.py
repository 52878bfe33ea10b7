"""The JSON report, ``schema_version: 1``. Add fields; never rename.

These models are also what the store persists and what reports render, so
every producer and consumer agrees on one shape. A result's ``timing`` and its
per-request ``samples`` are typed dicts: the JSON stays a plain object, and a
producer may add keys (they are kept) without a new schema version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import NotRequired, TypedDict

# A JSON object whose keys the server or the user chooses (server stats, model
# metadata, the environment, settings): kept as given.
JSON = dict[str, Any]

# "incomplete": every item ran, but some results could not be stored (they are in
# the JSON report).
RunStatus = Literal["running", "completed", "interrupted", "failed", "incomplete"]
Outcome = Literal["passed", "failed", "error", "skipped"]
ResultKind = Literal["capability", "throughput", "custom"]


class Summary(TypedDict, total=False):
    """A statistic over repeated measurements, with its n and the 95 % CI of its median.

    ``metrics.stats.summarize`` fills every key; a report written by hand or by an
    older version may hold fewer, so none is required when reading.
    """

    n: int
    mean: float | None
    median: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    std: float | None
    min: float | None
    max: float | None
    ci95_low: float | None
    ci95_high: float | None


@with_config(ConfigDict(extra="allow"))
class Sample(TypedDict, total=False):
    """One measured request (a ``measurements`` row in the store). None: not measured."""

    ttfr_s: float | None
    ttft_s: float | None
    decode_tps: float | None
    prefill_tps: float | None
    e2e_s: float | None
    itl_s: list[float]
    output_tokens: int | None
    prompt_tokens: int | None
    token_count_estimated: bool
    token_count_suspect: bool  # the server's count could not be true; ours is used
    chunks: int
    server_ttft_s: float | None
    server_decode_tps: float | None
    server_prefill_tps: float | None
    batch: int  # throughput: which round of ``concurrency`` requests
    error: str | None
    # False: this request opened its connection (a connect and TLS, before it was sent).
    connection_reused: bool | None
    connect_s: float | None  # that connect's duration; None on a reused connection
    queue_delay_s: float | None  # open loop: its scheduled arrival -> sent
    # embedding items: one request of a batch of inputs
    inputs_per_s: float | None
    embed_tokens_per_s: float | None


# A per-request figure of an item: a Summary over its requests (throughput), or one
# value (a capability item: its request's, or the median over --lm-repeat requests).
Figure = Summary | float | None


@with_config(ConfigDict(extra="allow"))
class Timing(TypedDict, total=False):
    """A result's timing; read a figure with :func:`timing_figure`."""

    ttfr_s: Figure
    ttft_s: Figure
    decode_tps: Figure
    prefill_tps: Figure
    e2e_s: Figure
    itl_s: Figure
    server_ttft_s: Figure
    server_decode_tps: Figure
    server_prefill_tps: Figure
    output_tokens: float | None  # capability: the (median) request's count
    prompt_tokens: float | None  # capability: measured; throughput: the case's target
    samples: list[Sample]
    # throughput items
    concurrency: int
    gen_tokens: int
    prompt_tokens_actual: float | None
    runs: int
    warmup: int
    aggregate_output_tps: float | None
    aggregate_output_tps_summary: Summary
    aggregate_output_tps_values: list[float]
    aggregate_decode_tps: float | None
    aggregate_decode_tps_summary: Summary
    aggregate_decode_tps_values: list[float]
    requests_per_s: float | None
    output_tokens_total: int
    connections_opened_measured: int  # measured requests that opened their connection
    # open-loop (rate) items
    rate_per_s: float
    achieved_rate_per_s: float | None
    queue_delay_s: Summary
    requests: int
    in_flight_max: int
    # with --lm-slo: each objective against the item's percentile, and goodput
    objectives: JSON
    good_requests: int
    goodput_per_s: float | None
    measured_wall_s: float  # the measured rounds' wall time, goodput's denominator
    # sweep items: one point per load level, the knee, why the sweep stopped
    sweep: list[JSON]
    knee_concurrency: int
    knee_rate_per_s: float
    sweep_stop: str
    sweep_measured_tokens: int
    # embedding items: inputs per request, and the rates over the measured requests
    embed_batch: int
    inputs_per_s: Figure
    embed_tokens_per_s: Figure
    # against the previous run of the same model fingerprint
    speed_delta_pct: float
    previous_run_decode_tps: float


class SignalStats(TypedDict):
    """One hardware signal over an item; all None for a signal that was never read."""

    min: float | None
    max: float | None
    avg: float | None


class HardwareReading(TypedDict):
    """One raw reading (``--lm-store-samples``): a ``hardware_samples`` row in the store."""

    t_s: float
    signal: str
    value: float
    gpu_index: int | None


@with_config(ConfigDict(extra="allow"))
class Hardware(TypedDict, total=False):
    """What the sampler saw during one item; None: not measured (no such sensor here)."""

    vram_gb: SignalStats
    gtt_gb: SignalStats
    gpu_temp_c: SignalStats
    gpu_power_w: SignalStats
    gpu_util_pct: SignalStats
    gpu_sm_clock_mhz: SignalStats
    cpu_pct: SignalStats
    ram_gb: SignalStats
    server_cpu_pct: SignalStats
    server_rss_gb: SignalStats
    other_cpu_pct: SignalStats  # every process but the server and the harness; 100 = one core
    # Its mean over the measured rounds (the whole item when none are marked).
    measured_other_cpu_pct: float | None
    energy_j: float | None  # the whole item
    energy_source: str | None  # "nvml_counter" or "power_integral"
    n_samples: int
    interval_s: float
    duration_s: float
    measured_energy_j: float | None  # the measured rounds only (throughput items)
    measured_energy_source: str | None
    measured_duration_s: float | None
    joules_per_token: float | None
    joules_per_token_window: str | None  # "measured_rounds" or "item"
    samples: list[HardwareReading]
    cooldown: JSON  # --lm-cooldown-temp: target_c, reached, gpu_temp_c, waited_s
    limit_exceeded: str


@with_config(ConfigDict(extra="allow"))
class RawToolCall(TypedDict):
    """A tool call exactly as the model sent it (checked, never executed)."""

    name: str
    arguments_raw: str  # as received: may be invalid JSON
    id: str | None
    latency_s: float | None  # its request: sent -> end of the stream that carried the call
    turn: NotRequired[int]  # agentic: which answer of the conversation (1 = the first)


class Flags(TypedDict, total=False):
    """What to know about how a result came about (a hook may add its own keys)."""

    route: str | None  # the server route that answered
    # The sampling settings (top_k, stop, ...) that route carried, and those it could
    # not carry with the reason (the last request's; every request of an item is alike).
    sampling_applied: JSON
    sampling_not_applied: dict[str, str]
    # --lm-skip-tested: the digest of machine, server, settings and item that makes a
    # later result of this item the same measurement (session.resume).
    resume_key: str
    min_quality: float  # the threshold the item was judged against
    finish_reason: str | None
    finish_reason_inferred: bool
    token_count_estimated: bool  # counted from chunks: the server gave no count
    token_count_suspect: bool  # the server's count could not be true: ours is used
    reasoning_chars: int
    short_generation: bool  # throughput: a request stopped before gen_tokens
    prompt_tokens_estimated: bool
    disagreement: bool  # client and server timing differ by more than 10 %
    prompt_tokens_source: str | None  # "server" (usage), "tokenizer", or None: unknown
    contended: bool | None  # other processes took > half a core while measured (None: unknown)
    contention_other_cpu_pct: float | None
    baseline_contended: bool  # its baseline comparison was untestable for contention
    http_429_retries: int  # chats the server answered HTTP 429 and that were asked again
    http_429_wait_s: float  # how long those waits (Retry-After) took, never in a timing
    gates: list[str]  # the item's gate failures
    baseline_ref: str
    baseline_status: str  # compared, missing, refused, no_baseline
    baseline_refused: str
    baseline_fingerprints: JSON
    baseline: list[JSON]  # one comparison per metric
    tool_calls: list[RawToolCall]  # tooling: the calls of the (last) answer, raw


# Metric name -> value: a score in [0, 1], a count, a label, or the per-run scores.
Metrics = dict[str, float | int | str | bool | list[float | None] | None]


class Counts(TypedDict):
    """Outcomes of some results; ``success_rate`` is passed over passed + failed."""

    total_tests: int
    successful_tests: int
    failed_tests: int
    error_tests: int
    skipped_tests: int
    success_rate: float | None


@with_config(ConfigDict(extra="allow"))
class CapabilitySummary(Counts, total=False):
    """One capability of one model; also ``mean_<metric>`` for every numeric metric."""

    avg_latency_s: float | None
    avg_throughput_tps: float | None


class PublishedComparison(TypedDict):
    """A published figure beside this run's measurement of the same model."""

    server: str
    label: str  # "LM Studio", "Ollama", ... or the file's key
    decode_tps: float | None
    ttft_s: float | None
    source: str | None
    hardware: str | None
    other_hardware: bool | None  # None: the file names no hardware
    compared_with: str  # "headline" or the throughput item of the same grid point
    measured_decode_tps: float | None
    measured_ttft_s: float | None
    decode_diff_pct: float | None  # (measured - published) / published x 100
    ttft_diff_pct: float | None


class ModelSummary(TypedDict):
    """One model's figures; speed and TTFT from its single-stream throughput items."""

    status: str | None
    capabilities: dict[str, CapabilitySummary]
    totals: Counts
    decode_tps_median: float | None
    decode_tps_ci95_low: float | None
    decode_tps_ci95_high: float | None
    decode_tps_n: int
    ttft_s_p50: float | None
    ttft_s_p95: float | None
    quality_score_mean: float | None
    energy_j_total: float | None
    joules_per_token_mean: float | None
    tokens_per_sec_per_gb: float | None
    tokens_per_sec_per_billion_params: float | None
    published: NotRequired[list[PublishedComparison]]  # with --lm-reference only


@with_config(ConfigDict(extra="allow"))
class ReportSummary(TypedDict, total=False):
    """``Report.summary``: built once per session (a hook may add keys)."""

    models: dict[str, ModelSummary]
    totals: Counts
    comparisons: list[JSON]  # --lm-server: the same weights on several servers, side by side


class HistoryPoint(TypedDict):
    """One earlier run of a model (same fingerprint) in its history chart."""

    run_id: str
    started_at: str | None
    decode_tps_median: float | None  # its single-stream throughput items' median
    quality_score_mean: float | None
    status: NotRequired[str]  # "completed" or "interrupted" (older callers: absent)


# model key -> its runs, oldest first
History = dict[str, list[HistoryPoint]]


if TYPE_CHECKING:
    TimingField = Timing
    HardwareField = Hardware
    FlagsField = Flags
    MetricsField = Metrics
    SummaryField = ReportSummary
else:
    # Read leniently: a stored, older or hand-written report keeps its odd values
    # (readers use timing_figure/token_total, which check); producers are typed.
    TimingField = HardwareField = FlagsField = MetricsField = SummaryField = JSON


class LoadInfo(BaseModel):
    requested: JSON = Field(default_factory=dict)
    applied: JSON = Field(default_factory=dict)
    not_applied: dict[str, str] = Field(default_factory=dict)
    load_time_s: float | None = None  # server-reported
    client_load_time_s: float | None = None  # our wall clock


class RunInfo(BaseModel):
    id: str
    started_at: str  # ISO 8601 UTC
    finished_at: str | None = None
    status: RunStatus = "running"
    backend: str
    base_url: str
    plugin_version: str
    settings: JSON = Field(default_factory=dict)  # never holds the token
    environment: JSON = Field(default_factory=dict)
    fingerprint: str | None = None
    calibration: JSON | None = None


class PublishedFigure(BaseModel):
    """A speed published elsewhere for a model on one server (``--lm-reference``)."""

    model_config = ConfigDict(extra="forbid")

    server: str  # the file's key: lm_studio, ollama, llama_cpp, vllm, or any name
    decode_tps: float | None = Field(default=None, gt=0)  # the file's toks_per_sec
    ttft_s: float | None = Field(default=None, gt=0)  # the file's ttft_sec
    source: str | None = None
    hardware: str | None = None
    prompt_tokens: int | None = Field(default=None, gt=0)
    gen_tokens: int | None = Field(default=None, gt=0)
    concurrency: int | None = Field(default=None, gt=0)


class ModelEntry(BaseModel):
    key: str
    status: Literal["ok", "load_failed", "not_loaded"] = "not_loaded"
    error: str | None = None
    load: LoadInfo = Field(default_factory=LoadInfo)
    metadata: JSON = Field(default_factory=dict)
    # --lm-reference: the file's figures for this model ([] none); None without the option.
    published: list[PublishedFigure] | None = None


class ResultEntry(BaseModel):
    nodeid: str
    model: str
    kind: ResultKind
    capability: str
    case_id: str
    task: str | None = None
    outcome: Outcome
    error: str | None = None
    # For outcome "error": connection, http, timeout, stream, protocol, model_mismatch,
    # load (the model could not be asked or its answer read), or hook.
    error_kind: str | None = None
    prompt: str | None = None
    output: str | None = None
    reference: Any = None
    metrics: MetricsField = Field(default_factory=dict)
    timing: TimingField = Field(default_factory=lambda: Timing())
    server_stats: JSON = Field(default_factory=dict)
    hardware: HardwareField = Field(default_factory=lambda: Hardware())
    flags: FlagsField = Field(default_factory=lambda: Flags())
    duration_s: float | None = None
    finished_at: str | None = None


class Report(BaseModel):
    schema_version: Literal[1] = 1
    run: RunInfo
    models: list[ModelEntry] = Field(default_factory=list)
    results: list[ResultEntry] = Field(default_factory=list)
    summary: SummaryField = Field(default_factory=lambda: ReportSummary())


# -- reading timing figures ------------------------------------------------------------
# A timing entry is a runner's summary ({"median": ..., "p95": ..., "n": ...}) or, for
# one request, a plain number: its own median (or mean, or value), with no spread.
_CENTRAL_STATS = frozenset({"median", "p50", "mean", "value"})


def finite(value: Any) -> float | None:
    """A finite float; None for text, bools, containers, NaN and missing values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def metric_number(metrics: Mapping[str, Any], name: str) -> float | None:
    """A metric as a number (``True`` counts 1.0 in a mean), or None for a label or nothing."""
    value = metrics.get(name)
    return float(value) if isinstance(value, bool) else finite(value)


def run_scores(metrics: Mapping[str, Any]) -> list[float]:
    """The quality score of each ``--lm-repeat`` run that had one."""
    values = metrics.get("quality_scores")
    found = (finite(v) for v in values) if isinstance(values, list) else ()
    return [v for v in found if v is not None]


def timing_figure(timing: Mapping[str, Any], key: str, stat: str = "median") -> float | None:
    """``timing[key]``'s ``stat``: from a summary, or a plain value for a central stat.

    A plain value has no spread: asking it for an interval or a tail percentile
    gives None, never the value itself.
    """
    value = timing.get(key)
    if isinstance(value, Mapping):
        return finite(value.get(stat))
    return finite(value) if stat in _CENTRAL_STATS else None


def timing_summary(timing: Mapping[str, Any], key: str) -> Summary | None:
    """``timing[key]`` when it is a summary over requests, else None."""
    value = timing.get(key)
    return cast(Summary, value) if isinstance(value, Mapping) else None


def token_total(timing: Mapping[str, Any], key: str) -> int | None:
    """Tokens over all of an item's measured requests (``samples``), else its plain value.

    With ``--lm-repeat 3`` a capability item's ``timing[key]`` is the median
    request's count; the total is the sum over its samples, in the store, the
    CSV and wherever else an item's token count is shown.
    """
    samples = timing.get("samples")
    if isinstance(samples, list):
        present = [
            v for s in samples if isinstance(s, Mapping) and (v := finite(s.get(key))) is not None
        ]
        if present:
            return round(sum(present))
    single = finite(timing.get(key))
    return None if single is None else round(single)


# -- the published JSON Schema ------------------------------------------------------------
SCHEMA_ID = "urn:pytest-lmbench:report:v1"


def report_json_schema() -> JSON:
    """The JSON Schema of ``schema_version: 1`` reports, ``timing`` typed as producers write it.

    Shipped as ``pytest_lmbench/schemas/report-v1.json`` (a test keeps the two equal)
    and printed by ``lmbench schema``.
    """
    schema = Report.model_json_schema()
    definitions = schema.setdefault("$defs", {})
    typed_fields = (
        ("ResultEntry", "timing", Timing),
        ("ResultEntry", "hardware", Hardware),
        ("ResultEntry", "flags", Flags),
        ("Report", "summary", ReportSummary),
    )
    for owner, name, kind in typed_fields:
        typed = TypeAdapter(kind).json_schema(ref_template="#/$defs/{model}")
        definitions.update(typed.pop("$defs", {}))
        definitions[kind.__name__] = typed
        where = schema if owner == "Report" else definitions[owner]
        where["properties"][name] = {"$ref": f"#/$defs/{kind.__name__}"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
