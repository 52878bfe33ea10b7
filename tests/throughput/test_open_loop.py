"""Issue 16: open-loop request rates, goodput and the saturation sweep, end to end.

Rates and goodput run against the OpenAI-compatible double; the sweep against the
asyncio load server in its own process, configured to decode at most 16 streams.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_lmbench.metrics.slo import meets
from pytest_lmbench.testing.doubles import DOUBLES
from pytest_lmbench.testing.loadserver import MODEL, LoadScript, load_server_process

pytestmark = pytest.mark.timing


def run_items(
    pytester: pytest.Pytester, base_url: str, model: str, gen_tokens: int, *args: str
) -> list[Any]:
    folder = pytester.path / "suite" / "throughput"
    folder.mkdir(parents=True, exist_ok=True)
    case = {"prompt_tokens": 16, "gen_tokens": gen_tokens}
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    outcome = pytester.runpytest(
        f"--lm-suite-dir={folder.parent}",
        f"--lm-model={model}",
        "--lm-backend=openai",
        f"--lm-base-url={base_url}",
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json",
        "-p",
        "no:cacheprovider",
        *args,
    )
    sweeps = {"--lm-concurrency=sweep", "--lm-rate=sweep"}
    outcome.assert_outcomes(passed=1 if sweeps & set(args) else 2)
    # The terminal summary shows each load item's curve or achieved rate.
    outcome.stdout.fnmatch_lines(["*knee *" if sweeps & set(args) else "*achieved*queue delay*"])
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    return report["results"]  # type: ignore[no-any-return]


def test_rates_are_achieved_with_queueing_delay_and_goodput(pytester: pytest.Pytester) -> None:
    double = DOUBLES["openai"]()
    double.server.engine.script.ttft_s = 0.05
    double.server.engine.script.token_interval_s = 0.005
    slo = "--lm-slo=ttft_p95=60ms,e2e_p95=1s"
    with double.server:
        results = run_items(
            pytester, double.server.base_url, double.text_model, 8, "--lm-rate=8,32", slo,
            "--lm-rate-requests=200",
        )  # fmt: skip
    by_id = {r["case_id"]: r for r in results}
    assert set(by_id) == {"pp16-tg8-r8", "pp16-tg8-r32"}
    for rate, item in ((8, by_id["pp16-tg8-r8"]), (32, by_id["pp16-tg8-r32"])):
        timing = item["timing"]
        assert timing["rate_per_s"] == rate
        assert timing["requests"] == 200
        assert timing["achieved_rate_per_s"] == pytest.approx(rate, rel=0.05)
        assert "concurrency" not in timing  # not a single-stream headline figure
        samples = timing["samples"]
        assert len(samples) == 200
        delays = [s["queue_delay_s"] for s in samples]
        assert all(d is not None and d >= 0 for d in delays)
        assert timing["queue_delay_s"]["n"] == 200
        assert timing["queue_delay_s"]["median"] < 0.010
        # Goodput by hand: requests meeting every objective per second of measured wall.
        objectives = {"ttft_p95": 0.060, "e2e_p95": 1.0}
        good = sum(meets(s, objectives) for s in samples)
        assert timing["good_requests"] == good
        assert timing["goodput_per_s"] == pytest.approx(good / timing["measured_wall_s"])
        assert set(timing["objectives"]) == {"ttft_p95", "e2e_p95"}


def test_concurrency_sweep_finds_the_knee_of_a_16_stream_server(
    pytester: pytest.Pytester,
) -> None:
    # Decoding dominates each request, so a level's fixed costs do not fake growth.
    script = LoadScript(ttft_s=0.02, token_interval_s=0.01, max_streams=16)
    with load_server_process(script) as url:
        [item] = run_items(
            pytester, url, MODEL, 64, "--lm-concurrency=sweep", "--lm-runs=2", "--lm-warmup=1"
        )
    timing = item["timing"]
    assert item["case_id"] == "pp16-tg64-csweep"
    levels = [point["concurrency"] for point in timing["sweep"]]
    assert levels[:5] == [1, 2, 4, 8, 16]
    assert timing["knee_concurrency"] in (16, 32)
    assert timing["concurrency"] == timing["knee_concurrency"]
    assert "less than 5%" in timing["sweep_stop"]
    tps = [point["aggregate_output_tps"] for point in timing["sweep"]]
    assert tps[4] > 1.5 * tps[3]  # 16 streams still pay...
    assert all(point["ttft_p95_s"] is not None for point in timing["sweep"])


def test_rate_sweep_stops_where_the_server_saturates(pytester: pytest.Pytester) -> None:
    # 4 decode slots, 0.17 s a request: about 23 requests per second at most.
    script = LoadScript(ttft_s=0.02, token_interval_s=0.01, max_streams=4)
    with load_server_process(script) as url:
        [item] = run_items(
            pytester, url, MODEL, 16, "--lm-rate=sweep", "--lm-rate-duration=2", "--lm-warmup=1"
        )
    timing = item["timing"]
    assert item["case_id"] == "pp16-tg16-rsweep"
    rates = [point["rate_per_s"] for point in timing["sweep"]]
    assert rates[:4] == [1, 2, 4, 8]
    assert timing["knee_rate_per_s"] in (16, 32, 64)
    assert "less than 5%" in timing["sweep_stop"]
    assert all(point["achieved_rate_per_s"] is not None for point in timing["sweep"])
