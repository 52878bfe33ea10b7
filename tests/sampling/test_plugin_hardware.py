"""The hardware options through pytest, with a stand-in ``pynvml`` module in place of a GPU.

--lm-max-temp, --lm-max-power, --lm-cooldown-temp and --lm-store-samples, and energy
per token over the measured rounds only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_lmbench.testing import FakeModel, LMStudioTestServer

from ..conftest import run_throughput_case

MODEL = "qwen/qwen3-4b"


@pytest.fixture
def server() -> Iterator[LMStudioTestServer]:
    with LMStudioTestServer([FakeModel(key=MODEL)]) as srv:
        srv.engine.script.ttft_s = 0.01
        srv.engine.script.token_interval_s = 0.01
        yield srv


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch, fake_nvml: Callable[..., Any]) -> Callable[..., Any]:
    """Install a one-GPU stand-in as ``pynvml``, which the plugin imports lazily."""

    def install(**knobs: Any) -> Any:
        nvml = fake_nvml(gpus=1, **knobs)
        monkeypatch.setitem(sys.modules, "pynvml", nvml)
        return nvml

    return install


def run_item(
    pytester: pytest.Pytester, server: LMStudioTestServer, *args: str, gen_tokens: int = 8
) -> tuple[pytest.RunResult, dict[str, Any]]:
    case = {"prompt_tokens": 16, "gen_tokens": gen_tokens, "concurrency": 1}
    return run_throughput_case(
        pytester, server.base_url, MODEL, case, "--lm-sample-interval=0.05", *args
    )


def test_max_temp_and_max_power_fail_the_item_with_the_figures(
    pytester: pytest.Pytester, server: LMStudioTestServer, gpu: Callable[..., Any]
) -> None:
    gpu(temps_c=(95.0,), power_w=300.0)
    result, item = run_item(
        pytester, server, "--lm-runs=1", "--lm-warmup=0", "--lm-max-temp=85", "--lm-max-power=250"
    )
    result.assert_outcomes(failed=1)
    expected = (
        "GPU temperature reached 95.0 °C, above --lm-max-temp 85; "
        "GPU power reached 300.0 W, above --lm-max-power 250"
    )
    assert item["error"] == expected
    assert item["hardware"]["limit_exceeded"] == expected
    assert item["hardware"]["gpu_temp_c"]["max"] == 95.0
    result.stdout.fnmatch_lines(["*GPU temperature reached 95.0 °C, above --lm-max-temp 85*"])


def test_limits_above_the_peaks_pass(
    pytester: pytest.Pytester, server: LMStudioTestServer, gpu: Callable[..., Any]
) -> None:
    gpu(temps_c=(95.0,), power_w=300.0)
    result, item = run_item(
        pytester, server, "--lm-runs=1", "--lm-warmup=0", "--lm-max-temp=96", "--lm-max-power=301"
    )
    result.assert_outcomes(passed=1)
    assert "limit_exceeded" not in item["hardware"]
    assert item["hardware"]["gpu_power_w"]["max"] == 300.0


def test_cooldown_is_waited_for_and_recorded_and_samples_are_stored(
    pytester: pytest.Pytester, server: LMStudioTestServer, gpu: Callable[..., Any]
) -> None:
    # Hot at the first look, cool at the next poll (one second later).
    nvml = gpu(temps_c=(90.0, 80.0), power_w=120.0)
    result, item = run_item(
        pytester,
        server,
        "--lm-runs=1",
        "--lm-warmup=0",
        "--lm-cooldown-temp=85",
        "--lm-store-samples",
    )
    result.assert_outcomes(passed=1)
    cooldown = item["hardware"]["cooldown"]
    assert (cooldown["target_c"], cooldown["reached"], cooldown["gpu_temp_c"]) == (85, True, 80.0)
    assert 0.9 <= cooldown["waited_s"] < 5
    assert nvml.temperature_reads >= 3  # two cooldown polls, then the sampler's own reads
    samples = item["hardware"]["samples"]
    assert {"t_s", "signal", "value", "gpu_index"} == set(samples[0])
    temps = [s for s in samples if s["signal"] == "gpu_temp_c"]
    power = [s for s in samples if s["signal"] == "gpu_power_w"]
    assert temps
    assert all((s["value"], s["gpu_index"]) == (80.0, 0) for s in temps)
    assert power
    assert all(s["value"] == 120.0 for s in power)
    assert item["hardware"]["n_samples"] == len(power)


def test_samples_are_not_stored_by_default(
    pytester: pytest.Pytester, server: LMStudioTestServer, gpu: Callable[..., Any]
) -> None:
    gpu(power_w=120.0)
    result, item = run_item(pytester, server, "--lm-runs=1", "--lm-warmup=0")
    result.assert_outcomes(passed=1)
    assert "samples" not in item["hardware"]
    assert "cooldown" not in item["hardware"]


def test_joules_per_token_covers_the_measured_rounds_only(
    pytester: pytest.Pytester, server: LMStudioTestServer, gpu: Callable[..., Any]
) -> None:
    # 300 W all along; calibration and two warmup rounds run before the two measured
    # ones, so the whole item uses about twice the measured rounds' energy.
    gpu(power_w=300.0)
    result, item = run_item(pytester, server, "--lm-runs=2", "--lm-warmup=2", gen_tokens=40)
    result.assert_outcomes(passed=1)
    hardware, timing = item["hardware"], item["timing"]
    assert hardware["measured_energy_source"] == hardware["energy_source"] == "nvml_counter"
    assert hardware["measured_energy_j"] == pytest.approx(
        300.0 * hardware["measured_duration_s"], rel=0.02
    )
    assert timing["output_tokens_total"] == 80  # the measured requests' tokens only
    assert hardware["joules_per_token"] == pytest.approx(hardware["measured_energy_j"] / 80)
    assert hardware["joules_per_token_window"] == "measured_rounds"
    assert hardware["energy_j"] > 1.5 * hardware["measured_energy_j"]
    assert hardware["duration_s"] > 1.5 * hardware["measured_duration_s"]


def test_stored_samples_draw_hardware_charts_over_the_run_in_the_html_report(
    pytester: pytest.Pytester, server: LMStudioTestServer, gpu: Callable[..., Any]
) -> None:
    gpu(temps_c=(70.0,), power_w=150.0)
    result, _item = run_item(pytester, server, "--lm-runs=2", "--lm-warmup=0", "--lm-store-samples")
    result.assert_outcomes(passed=1)
    html = (pytester.path / "out" / "latest.html").read_text()
    for title in ("GPU power over the run", "GPU temperature over the run", "CPU over the run"):
        assert f'aria-label="{title}"' in html
    power = html.split('aria-label="GPU power over the run"')[1].split("</svg>")[0]
    assert 'stroke-dasharray="2 3"><title>throughput/' in power  # the item's start is marked
    assert '<path d="M' in power  # a line through the readings

    plain, _ = run_item(pytester, server, "--lm-runs=1", "--lm-warmup=0")
    plain.assert_outcomes(passed=1)
    assert "over the run" not in (pytester.path / "out" / "latest.html").read_text()
