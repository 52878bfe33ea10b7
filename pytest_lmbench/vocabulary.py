"""The names every layer agrees on: capabilities, tasks, metrics, limits, formats, backends.

A bottom-layer module with no imports from the plugin, so the option parsers and
config checks can name what the suites, scorers, gates and writers implement
without importing them. Adding a capability, task, report format or backend
starts here.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

CAPABILITIES: tuple[str, ...] = (
    "general_text",
    "reasoning",
    "vision",
    "tooling",
    "agentic",
    "throughput",
)
# The capabilities whose items carry a quality score (throughput measures speed).
QUALITY_CAPABILITIES: tuple[str, ...] = (
    "general_text",
    "reasoning",
    "vision",
    "tooling",
    "agentic",
)

# Which task names belong to which capability; each task has its scorer.
TASKS: dict[str, tuple[str, ...]] = {
    "general_text": ("qa", "summarization", "classification"),
    "reasoning": ("logical", "math"),
    "tooling": ("function_call",),
    "vision": ("caption", "vqa", "ocr", "counting"),
    # Conversations: tool calls answered with scripted results, then a final answer.
    "agentic": ("multi_step",),
}

# The built-in metrics each task may weight, in the order the terminal shows their
# means. What is scored and weighed is the metric registry (pytest_lmbench.metrics
# .registry, built-ins in metrics/builtin.py); tests/metrics/test_registry.py keeps
# this table equal to the built-in registrations.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "qa": ("exact_match", "f1"),
    "summarization": ("rouge1", "rouge2", "rougeL"),
    # accuracy = the label occurs as whole words; exact_match = nothing but the label.
    "classification": ("accuracy", "exact_match"),
    # accuracy = the extracted final answer matches (numbers by value).
    "logical": ("accuracy",),
    "math": ("accuracy",),
    "function_call": ("function_call_accuracy",),
    # accuracy = a reference keyword occurs as whole words (numbers by value).
    "caption": ("rougeL", "accuracy"),
    "vqa": ("accuracy",),
    "ocr": ("accuracy",),
    "counting": ("accuracy",),
    # agentic_accuracy = every step right, none extra, and the final answer right.
    "multi_step": ("agentic_accuracy", "calls_correct", "final_answer_correct"),
}

# Reported next to function_call_accuracy; weight 0 unless a user weights them.
# In the order a call can fail: none made, arguments not JSON, wrong tool, arguments
# outside the tool's JSON schema, arguments not among the possible answers (BFCL).
TOOL_PARTS: tuple[str, ...] = (
    "call_produced",
    "params_valid_json",
    "name_correct",
    "params_match_schema",
    "args_correct",
)


# metric, statistic, bound: each throughput limit and what it is compared with
THROUGHPUT_LIMITS: dict[str, tuple[str, str, str]] = {
    "min_decode_tps": ("decode_tps", "median", "min"),
    "min_prefill_tps": ("prefill_tps", "median", "min"),
    "max_ttft_p95_s": ("ttft_s", "p95", "max"),
    "min_aggregate_tps": ("aggregate_output_tps", "value", "min"),
    "min_goodput": ("goodput_per_s", "value", "min"),
}

# The most concurrent streams one throughput item may open (suites and --lm-concurrency).
MAX_CONCURRENCY = 4096

# KV cache types (--lm-kv-cache-quant) and their ggml type ids, which llama-cpp-python's
# server takes as --type_k / --type_v (LM Studio's llamaKCacheQuantizationType names).
KV_CACHE_TYPES: dict[str, int] = {
    "f32": 0,
    "f16": 1,
    "q4_0": 2,
    "q4_1": 3,
    "q5_0": 6,
    "q5_1": 7,
    "q8_0": 8,
    "iq4_nl": 20,
}

# --lm-rank-by: the leaderboard's sort keys (reporting.leaderboard computes each).
RANK_KEYS: tuple[str, ...] = (
    "decode_tps",
    "ttft_pp512",
    "quality",
    "tps_per_gb",
    "tps_per_b_params",
    "joules_per_token",
    "peak_vram_gb",
    *(f"quality_{c}" for c in CAPABILITIES if c != "throughput"),
)

# Report file formats (pytest_lmbench.reporting.writer writes each).
FORMATS: tuple[str, ...] = ("json", "html", "csv")

# The backend registry: server type (--lm-backend) -> the module whose
# ``create(options)`` makes it (pytest_lmbench.backends imports it lazily).
BACKENDS: dict[str, str] = {
    "lmstudio": "pytest_lmbench.backends.lmstudio",
    "openai": "pytest_lmbench.backends.openai",
    "ollama": "pytest_lmbench.backends.ollama",
}

# Installed distributions add server types here: entry point name = --lm-backend
# value, value = a module with ``create(options)`` or that callable itself.
BACKEND_ENTRY_POINT_GROUP = "pytest_lmbench.backends"


def installed_backends() -> dict[str, EntryPoint]:
    """Server types installed distributions declare, by name.

    Read on every call, not cached: a distribution installed (or put on
    ``sys.path``) after import counts. A built-in name cannot be taken over, so
    ``--lm-backend=openai`` means the same server type wherever it runs.
    """
    found = entry_points(group=BACKEND_ENTRY_POINT_GROUP)
    return {ep.name: ep for ep in found if ep.name not in BACKENDS}


def backend_names() -> tuple[str, ...]:
    """Every server type known without asking a hook: built-in, then installed."""
    return (*BACKENDS, *sorted(installed_backends()))
