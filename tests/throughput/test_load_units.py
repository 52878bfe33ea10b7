"""Issue 16: the open-loop schedule, objectives and goodput (and its gate)."""

from __future__ import annotations

import json
from statistics import fmean, pstdev

import pytest

from pytest_lmbench.config.parsers import as_concurrency, as_rates, as_slo
from pytest_lmbench.metrics.slo import goodput, meets, objective_report
from pytest_lmbench.records import Sample
from pytest_lmbench.runners.openloop import arrival_offsets_s
from pytest_lmbench.suites.schema import ThroughputCase
from pytest_lmbench.testing.doubles import DOUBLES


def test_poisson_schedule_keeps_the_requested_rate_and_its_randomness() -> None:
    offsets = arrival_offsets_s(2.0, 200, seed=7)
    assert offsets[-1] == pytest.approx(100.0)  # 200 requests at 2/s span 100 s
    assert offsets == sorted(offsets)
    gaps = [b - a for a, b in zip([0.0, *offsets], offsets, strict=False)]
    # Exponential gaps: their spread is about their mean (a fixed-interval schedule has 0).
    assert 0.8 < pstdev(gaps) / fmean(gaps) < 1.2
    assert arrival_offsets_s(2.0, 200, seed=7) == offsets  # seeded
    assert arrival_offsets_s(2.0, 200, seed=8) != offsets


def test_option_values() -> None:
    assert as_rates("1,2,4.5") == (1.0, 2.0, 4.5)
    assert as_rates("sweep") == "sweep"
    assert as_concurrency("sweep") == "sweep"
    assert as_slo("ttft_p95=2s,itl_p95=100ms,e2e_p99=30") == {
        "ttft_p95": 2.0,
        "itl_p95": 0.1,
        "e2e_p99": 30.0,
    }
    for bad in ("ttft=2s", "latency_p95=1s", "ttft_p95=fast", "ttft_p95=0"):
        with pytest.raises(ValueError, match="objective"):
            as_slo(bad)
    with pytest.raises(ValueError):
        as_rates("0")


def test_item_ids_name_the_load() -> None:
    case = ThroughputCase(prompt_tokens=512, gen_tokens=128)
    assert case.model_copy(update={"rate": 4.0}).id == "pp512-tg128-r4"
    assert case.model_copy(update={"rate": 0.5}).id == "pp512-tg128-r0.5"
    assert case.model_copy(update={"sweep": "concurrency"}).id == "pp512-tg128-csweep"
    assert case.model_copy(update={"sweep": "rate"}).id == "pp512-tg128-rsweep"


def _sample(ttft_s: float, itl_s: list[float], e2e_s: float, error: str | None = None) -> Sample:
    return {"ttft_s": ttft_s, "itl_s": itl_s, "e2e_s": e2e_s, "error": error, "output_tokens": 9}


def test_goodput_counts_requests_that_met_every_objective() -> None:
    objectives = {"ttft_p95": 1.0, "itl_p95": 0.05, "e2e_p95": 5.0}
    samples = [
        _sample(0.5, [0.01, 0.02], 2.0),  # good
        _sample(1.5, [0.01], 2.0),  # TTFT too long
        _sample(0.5, [0.01, 0.2], 2.0),  # mean gap 0.105 s: too slow per token
        _sample(0.5, [0.01], 6.0),  # too long overall
        _sample(0.5, [0.01], 2.0, error="no tokens"),  # failed: never good
        _sample(1.0, [0.05], 5.0),  # on the limits: good
    ]
    assert [meets(s, objectives) for s in samples] == [True, False, False, False, False, True]
    assert goodput(samples, objectives, wall_s=4.0) == {
        "good_requests": 2,
        "goodput_per_s": 0.5,
        "measured_wall_s": 4.0,
    }


def test_objectives_read_the_items_percentile() -> None:
    timing = {"ttft_s": {"p95": 2.5}, "e2e_s": {"p95": 3.0}}
    report = objective_report(timing, {"ttft_p95": 2.0, "e2e_p95": 30.0, "itl_p95": 0.1})
    assert report["ttft_p95"] == {"limit_s": 2.0, "value_s": 2.5, "met": False}
    assert report["e2e_p95"]["met"] is True
    assert report["itl_p95"] == {"limit_s": 0.1, "value_s": None, "met": False}


def test_min_goodput_gates_an_item(pytester: pytest.Pytester) -> None:
    double = DOUBLES["openai"]()
    double.server.engine.script.ttft_s = 0.001
    double.server.engine.script.token_interval_s = 0.001
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True)
    case = {"prompt_tokens": 8, "gen_tokens": 4, "concurrency": 2, "min_goodput": 100000}
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    with double.server:
        outcome = pytester.runpytest(
            f"--lm-suite-dir={folder.parent}",
            f"--lm-model={double.text_model}",
            *double.args,
            f"--lm-output-dir={pytester.path / 'out'}",
            "--lm-no-db",
            "--lm-formats=json",
            "--lm-runs=2",
            "--lm-slo=e2e_p95=10s",
            "-p",
            "no:cacheprovider",
        )
    outcome.assert_outcomes(failed=1)
    outcome.stdout.fnmatch_lines(["*goodput_per_s value * is below min_goodput_per_s 100000*"])
    [item] = json.loads((pytester.path / "out" / "latest.json").read_text())["results"]
    assert item["timing"]["good_requests"] == 4
