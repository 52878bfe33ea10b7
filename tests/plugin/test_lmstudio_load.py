"""LM Studio loads through the plugin: applied config, variants, warnings, routes."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.testing import FakeModel, Fault, LMStudioTestServer

from .conftest import lmbench_args

QWEN = "qwen/qwen3-4b"
# The in-process inner run would otherwise inherit this project's filterwarnings=error.
SHOW_WARNINGS = ("-W", "default::pytest_lmbench.errors.LmbenchWarning")


def _report(tmp: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp / "out" / "latest.json").read_text())
    return data


def _model(tmp: Path, key: str = QWEN) -> dict[str, Any]:
    return next(m for m in _report(tmp)["models"] if m["key"] == key)


@pytest.fixture
def no_lms_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    kept = [d for d in dirs if d and not os.access(os.path.join(d, "lms"), os.X_OK)]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))


def run(pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path, *args: str) -> Any:
    return pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "-k",
        "capital_fr",
        *args,
        *lmbench_args(server, pytester.path),
    )


def test_applied_is_the_whole_echoed_load_config(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    run(pytester, lms, suite, f"--lm-model={QWEN}").assert_outcomes(passed=1)
    load = _model(pytester.path)["load"]
    assert load["requested"] == {}
    assert load["applied"] == {
        "context_length": 4096,
        "eval_batch_size": 512,
        "flash_attention": True,
        "offload_kv_cache_to_gpu": True,
    }
    assert load["not_applied"] == {}


def test_the_fingerprint_covers_the_real_context_length(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    prints = []
    for trained in (40960, 2048):  # the server's default context is min(4096, trained)
        lms.engine.models[QWEN].max_context_length = trained
        run(pytester, lms, suite, f"--lm-model={QWEN}").assert_outcomes(passed=1)
        model = _model(pytester.path)
        assert model["load"]["applied"]["context_length"] == min(4096, trained)
        prints.append(model["metadata"]["fingerprint"])
    assert prints[0] != prints[1]


@pytest.mark.parametrize(
    ("key", "quantization", "bits"),
    [
        (QWEN, "Q4_K_M", 4),
        (f"{QWEN}@q4_k_m", "Q4_K_M", 4),  # the selected variant: the server's own name
        (f"{QWEN}@q8_0", "q8_0", None),  # another variant: its suffix; bits unknown
    ],
)
def test_a_variant_records_its_own_quantization(
    pytester: pytest.Pytester, suite: Path, key: str, quantization: str, bits: int | None
) -> None:
    from pytest_lmbench.testing.oracle import oracle_rules

    variants = [f"{QWEN}@q4_k_m", f"{QWEN}@q8_0"]
    with LMStudioTestServer([FakeModel(key=QWEN, variants=variants)]) as server:
        server.engine.answers[:] = oracle_rules([suite])
        run(pytester, server, suite, f"--lm-model={key}").assert_outcomes(passed=1)
    metadata = _model(pytester.path, key)["metadata"]
    assert (metadata["quantization"], metadata["bits_per_weight"]) == (quantization, bits)
    assert metadata["selected_variant"] == f"{QWEN}@q4_k_m"


def test_gpu_offload_without_lms_is_a_visible_warning(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path, no_lms_on_path: None
) -> None:
    result = run(pytester, lms, suite, f"--lm-model={QWEN}", "--lm-gpu-offload=max", *SHOW_WARNINGS)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            "*LmbenchWarning: qwen/qwen3-4b: gpu_offload not applied: the REST load API cannot "
            "set a GPU offload ratio and `lms` is not on PATH",
        ]
    )
    assert _model(pytester.path)["load"]["not_applied"] == {
        "gpu_offload": "the REST load API cannot set a GPU offload ratio and `lms` is not on PATH"
    }


def test_the_warning_can_be_made_an_error(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path, no_lms_on_path: None
) -> None:
    result = run(
        pytester,
        lms,
        suite,
        f"--lm-model={QWEN}",
        "--lm-gpu-offload=max",
        "-W",
        "error::pytest_lmbench.errors.LmbenchWarning",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*LmbenchWarning*gpu_offload not applied*"])
    assert lms.engine.load_calls == lms.engine.unload_calls == 1


def test_a_failed_unload_is_a_visible_warning(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    lms.engine.faults.append(Fault("http_error", route="/api/v1/models/unload", status=500))
    result = run(pytester, lms, suite, f"--lm-model={QWEN}", *SHOW_WARNINGS)
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*LmbenchWarning: unloading qwen/qwen3-4b failed: *HTTP 500*Injected fault*"]
    )


def test_a_high_temperature_runs_on_the_openai_route(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path
) -> None:
    run(pytester, lms, suite, f"--lm-model={QWEN}", "--lm-temperature=1.5").assert_outcomes(
        passed=1
    )
    chats = [r for r in lms.engine.requests if "chat" in r.path]
    assert {r.path for r in chats} == {"/v1/chat/completions"}
    (result,) = _report(pytester.path)["results"]
    assert result["flags"]["route"] == "/v1/chat/completions"


def test_release_all_warns_even_where_warnings_are_errors(lms: LMStudioTestServer) -> None:
    from pytest_lmbench.backends.base import LoadConfig
    from pytest_lmbench.backends.lmstudio import LMStudioBackend
    from pytest_lmbench.errors import LmbenchWarning
    from pytest_lmbench.session.lifecycle import ModelManager

    backend = LMStudioBackend(lms.base_url, timeout_s=10.0, lms_path="")
    manager = ModelManager(backend, LoadConfig(), {m.key: m for m in backend.list_models()})
    manager.ensure_loaded(QWEN)
    lms.engine.faults.append(Fault("http_error", route="/api/v1/models/unload", status=500))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("error")
        manager.release_all()  # session end: must not raise
    backend.close()
    assert [(w.category, str(w.message)) for w in seen] == [
        (
            LmbenchWarning,
            "unloading qwen/qwen3-4b failed: LM Studio unload failed "
            "(HTTP 500, internal_error): Injected fault",
        )
    ]


def test_a_project_that_errors_on_warnings_still_gets_ours_as_warnings(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path, no_lms_on_path: None
) -> None:
    # As the demo from this repository's root: its pyproject.toml says filterwarnings = error.
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n')
    result = run(pytester, lms, suite, f"--lm-model={QWEN}", "--lm-gpu-offload=max")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*LmbenchWarning*gpu_offload not applied*"])


def test_a_filter_naming_our_warning_is_an_explicit_choice(
    pytester: pytest.Pytester, lms: LMStudioTestServer, suite: Path, no_lms_on_path: None
) -> None:
    pytester.makepyprojecttoml(
        "[tool.pytest.ini_options]\n"
        'filterwarnings = ["error::pytest_lmbench.errors.LmbenchWarning"]\n'
    )
    result = run(pytester, lms, suite, f"--lm-model={QWEN}", "--lm-gpu-offload=max")
    result.assert_outcomes(errors=1)
