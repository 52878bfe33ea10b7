"""Which metrics each task reports and how they weigh in its ``quality_score``.

Kept apart from :mod:`pytest_lmbench.metrics.scoring` (which pulls in the
rouge-score/nltk stack) so option checking at pytest start stays cheap. The
README's table of default weights is :func:`markdown_table`; a test keeps the
two equal.
"""

from __future__ import annotations

from pytest_lmbench.suites.schema import TASKS

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
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
}

# Reported next to function_call_accuracy; weight 0 unless a user weights them.
TOOL_PARTS: tuple[str, ...] = ("call_produced", "name_correct", "args_correct")

DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    # EM is all-or-nothing, F1 gives partial credit; SQuAD reports both equally.
    "qa": {"exact_match": 0.5, "f1": 0.5},
    # ROUGE-L rewards fluent ordering; unigram and bigram overlap share the rest.
    "summarization": {"rougeL": 0.5, "rouge1": 0.25, "rouge2": 0.25},
    # Naming the right label matters most; answering with the bare label is a
    # format bonus, and keeps "positive or negative? negative" from scoring full.
    "classification": {"accuracy": 0.75, "exact_match": 0.25},
    "logical": {"accuracy": 1.0},
    "math": {"accuracy": 1.0},
    # BFCL is pass/fail per case; the parts only explain a failure.
    "function_call": {"function_call_accuracy": 1.0},
    # Wording overlap and naming the key object count equally for a caption.
    "caption": {"rougeL": 0.5, "accuracy": 0.5},
    "vqa": {"accuracy": 1.0},
    "ocr": {"accuracy": 1.0},
    "counting": {"accuracy": 1.0},
}


def weighable_metrics(task: str) -> tuple[str, ...]:
    """The metrics a user may weight for ``task``: its own, plus the tool-call parts."""
    return DEFAULT_METRICS[task] + (TOOL_PARTS if task == "function_call" else ())


def markdown_table() -> list[str]:
    """The README table of default weights, one row per task in capability order."""
    lines = [
        "| capability | task | default weights | other metrics you may weight |",
        "|---|---|---|---|",
    ]
    for capability, tasks in TASKS.items():
        for task in tasks:
            weights = ", ".join(f"`{m}` {w:g}" for m, w in DEFAULT_WEIGHTS[task].items())
            unweighted = [m for m in weighable_metrics(task) if m not in DEFAULT_WEIGHTS[task]]
            others = ", ".join(f"`{m}`" for m in unweighted) or "—"
            lines.append(f"| {capability} | {task} | {weights} | {others} |")
    return lines
