"""How the metrics of each task weigh in its ``quality_score``.

Kept apart from :mod:`pytest_lmbench.metrics.scoring` (which pulls in the
rouge-score/nltk stack) so option checking at pytest start stays cheap. The
README's table of default weights is :func:`markdown_table`; a test keeps the
two equal.
"""

from __future__ import annotations

from pytest_lmbench.vocabulary import TASKS, weighable_metrics

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
