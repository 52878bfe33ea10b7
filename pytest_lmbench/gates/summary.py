"""The baseline part of the terminal summary: every change worth a look, then counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_lmbench.gates.baseline import VERDICTS, Comparison, describe, item_label
from pytest_lmbench.gates.quality import CapabilityComparison
from pytest_lmbench.records import Report


def baseline_lines(
    report: Report,
    ref: str,
    by_capability: Sequence[CapabilityComparison],
    *,
    max_regression: float,
    alpha: float,
) -> list[str]:
    lines = [
        f"baseline {ref}: a change counts beyond {max_regression:g} % when significant at "
        f"alpha {alpha:g} (one-sided Mann-Whitney U over repetitions; Wilcoxon signed-rank "
        "over a capability's cases)"
    ]
    counts = dict.fromkeys(VERDICTS, 0)
    notes: dict[str, None] = {}  # ordered set
    missing = 0
    for record in report.results:
        status = record.flags.get("baseline_status")
        missing += status in ("missing", "no_baseline")
        if status == "refused":
            notes[f"refused: {record.flags.get('baseline_refused')}"] = None
        for flag in record.flags.get("baseline") or []:
            counts[flag["verdict"]] += 1
            if flag["verdict"] != "unchanged":
                lines.append(describe(item_label(record), Comparison.from_flag(flag)))
            if flag.get("underpowered"):
                notes[_underpowered(flag, alpha)] = None
            if record.flags.get("baseline_contended"):
                notes[_CONTENDED] = None
            elif flag["verdict"] == "untestable":
                notes[_UNTESTABLE] = None
        prints = record.flags.get("baseline_fingerprints")
        if prints:
            notes[
                f"note: {record.model} compared across fingerprints "
                f"{prints['baseline']} (baseline) and {prints['current']} (this run)"
            ] = None
    for found in by_capability:
        counts[found.comparison.verdict] += 1
        if found.comparison.verdict != "unchanged":
            lines.append(describe(found.label, found.comparison))
    lines.append(
        f"baseline: {sum(counts.values())} comparisons: {counts['regression']} regressions, "
        f"{counts['improvement']} improvements, {counts['untestable']} untestable, "
        f"{counts['unchanged']} unchanged; {missing} items without a baseline"
    )
    return lines + list(notes)


_UNTESTABLE = (
    "note: an untestable change is beyond the limit but has too few repetitions (one, or "
    "too few to ever reach alpha) to be significant, and does not fail; raise --lm-runs "
    "(speed) or --lm-repeat (quality) to test it. Capability quality is tested over its cases."
)


_CONTENDED = (
    "note: other processes took more than half a core while an item or its baseline was "
    "measured (flags.contended): its comparisons are untestable; --lm-allow-contention "
    "compares them anyway."
)


def _underpowered(flag: Mapping[str, Any], alpha: float) -> str:
    return (
        f"note: {flag['metric']} with {flag['n_current']} vs {flag['n_baseline']} repetitions "
        f"can never be significant at alpha {alpha:g}; raise --lm-runs (or --lm-repeat)"
    )
