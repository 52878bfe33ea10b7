"""Published speeds (``--lm-reference``) beside this run's measurement of the same model.

The difference is (measured - published) / published in percent, for decode speed
and TTFT: against the throughput item of the grid point the figure names
(``prompt_tokens``, ``gen_tokens``, ``concurrency``) when this run measured it, else
against the model's headline figures. A figure whose hardware names neither this
machine's GPU nor its CPU is marked as from other hardware: it answers "how fast
is it there", not "which server is fastest here".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_lmbench.records import (
    PublishedComparison,
    PublishedFigure,
    ResultEntry,
    finite,
    timing_figure,
)

_LABELS = {
    "lm_studio": "LM Studio",
    "lmstudio": "LM Studio",
    "ollama": "Ollama",
    "llama_cpp": "llama.cpp",
    "llamacpp": "llama.cpp",
    "vllm": "vLLM",
    "mlx": "MLX",
}
NO_FIGURE = "—"


def server_label(server: str) -> str:
    return _LABELS.get(server.lower().replace("-", "_").replace(".", "_"), server)


def diff_pct(measured: float | None, published: float | None) -> float | None:
    if measured is None or published is None or published <= 0:
        return None
    return (measured - published) / published * 100.0


def _grid_item(figure: PublishedFigure, results: Sequence[ResultEntry]) -> ResultEntry | None:
    if figure.prompt_tokens is None or figure.gen_tokens is None:
        return None
    case_id = f"pp{figure.prompt_tokens}-tg{figure.gen_tokens}-c{figure.concurrency or 1}"
    return next((r for r in results if r.kind == "throughput" and r.case_id == case_id), None)


def _machine_names(environment: Mapping[str, Any]) -> list[str]:
    gpus = environment.get("gpus")
    names = (
        [g.get("name") for g in gpus if isinstance(g, Mapping)] if isinstance(gpus, list) else []
    )
    names.append(environment.get("cpu_model"))
    return [n.lower() for n in names if isinstance(n, str) and n.strip()]


def _other_hardware(hardware: str | None, environment: Mapping[str, Any]) -> bool | None:
    if not hardware:
        return None
    wanted = hardware.lower()
    return not any(name in wanted or wanted in name for name in _machine_names(environment))


def compare(
    figures: Sequence[PublishedFigure],
    results: Sequence[ResultEntry],
    headline: tuple[float | None, float | None],
    environment: Mapping[str, Any],
) -> list[PublishedComparison]:
    """Each figure beside the measurement; ``headline`` is (decode tok/s, TTFT p50 s)."""
    compared = []
    for figure in figures:
        item = _grid_item(figure, results)
        if item is not None:
            decode = timing_figure(item.timing, "decode_tps")
            ttft = timing_figure(item.timing, "ttft_s")
        else:
            decode, ttft = (finite(v) for v in headline)
        compared.append(
            PublishedComparison(
                server=figure.server,
                label=server_label(figure.server),
                decode_tps=figure.decode_tps,
                ttft_s=figure.ttft_s,
                source=figure.source,
                hardware=figure.hardware,
                other_hardware=_other_hardware(figure.hardware, environment),
                compared_with=item.case_id if item is not None else "headline",
                measured_decode_tps=decode,
                measured_ttft_s=ttft,
                decode_diff_pct=diff_pct(decode, figure.decode_tps),
                ttft_diff_pct=diff_pct(ttft, figure.ttft_s),
            )
        )
    return compared


def format_pct(value: float | None) -> str:
    return NO_FIGURE if value is None else f"{value:+.0f} %"


def versus(comparison: Mapping[str, Any]) -> str:
    """``vs published LM Studio +12 %`` (decode speed), with the figure's provenance."""
    text = f"vs published {comparison['label']} {format_pct(comparison['decode_diff_pct'])}"
    where = [str(v) for v in (comparison["source"], comparison["hardware"]) if v]
    if comparison["other_hardware"]:
        where.append("other hardware")
    return text + (f" ({', '.join(where)})" if where else "")


def versus_line(published: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The terminal's line for a model: None without --lm-reference, "—" with no entry."""
    if published is None:
        return None
    if not published:
        return f"  vs published: {NO_FIGURE}"
    return "  " + " · ".join(versus(c) for c in published)
