"""CI gates end to end: a baseline file, then runs at scripted speeds against the test server.

The test server runs in this process; each benchmark session is a ``pytester``
run pointed at it with ``--lm-base-url``. Decode speed is ``1 / token_interval_s``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

# Imported here, outside the pytester runs: an in-process run drops the modules it
# imported, and SQLAlchemy's compiled parts do not survive being imported twice.
import pytest_lmbench.storage.store  # noqa: F401
from pytest_lmbench.testing import FakeEngine, FakeModel, LMStudioTestServer, Quirks, Script

# Scripted timings: run alone (tox's serial stage), not beside another busy worker.
pytestmark = pytest.mark.timing

MODEL = "qwen/qwen3-4b"
CASE = "pp64-tg20-c1"
INTERVAL_S = 0.005  # 200 tok/s
# Five speeds a factor 1.3 apart: a run of five consecutive requests holds each once.
SPREAD_TPS = (100.0, 130.0, 170.0, 220.0, 290.0)


class CyclingEngine(FakeEngine):
    """Gives the n-th chat request the n-th speed of :attr:`speeds` (cyclically).

    Keyed on the recorded request count, so the two snapshots one streamed
    request takes agree, and any five consecutive requests cover every speed.
    """

    speeds: tuple[float, ...] = ()

    def snapshot(self) -> tuple[Script, Quirks]:
        script, quirks = super().snapshot()
        if self.speeds:
            chats = sum("chat" in r.path for r in self.requests)
            script.token_interval_s = 1.0 / self.speeds[(chats - 1) % len(self.speeds)]
        return script, quirks


@pytest.fixture
def server() -> Iterator[LMStudioTestServer]:
    engine = CyclingEngine([FakeModel(key=MODEL)])
    with LMStudioTestServer(engine=engine) as lms:
        # A busy machine shifts a whole session's TTFTs by up to ~10 ms (scheduling,
        # the GIL shared with the in-process session): 250 ms keeps that under 5 %.
        lms.engine.script.ttft_s = 0.25
        lms.engine.script.token_interval_s = INTERVAL_S
        yield lms
    assert not lms.errors, f"the test server raised inside a handler: {lms.errors[0]!r}"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> Path:
    root = pytester.path / "suite" / "throughput"
    root.mkdir(parents=True)
    grid = {"capability": "throughput", "cases": [{"prompt_tokens": 64, "gen_tokens": 20}]}
    (root / "grid.json").write_text(json.dumps(grid))
    return root.parent


def bench(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path, *extra: str
) -> pytest.RunResult:
    out = pytester.path / "out"
    return pytester.runpytest(
        f"--lm-suite-dir={suite}",
        f"--lm-model={MODEL}",
        f"--lm-base-url={server.base_url}",
        f"--lm-output-dir={out}",
        f"--lm-db=sqlite:///{out / 'r.db'}",
        "--lm-runs=5",
        "--lm-warmup=0",
        "-p",
        "no:cacheprovider",
        "-rA",
        *extra,
    )


def write_baseline(pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path) -> Path:
    path = pytester.path / "ci" / "lmbench-baseline.json"
    result = bench(pytester, server, suite, f"--lm-update-baseline={path}")
    assert result.ret == 0, result.stdout.str()
    data = json.loads(path.read_text())
    assert data["kind"] == "lmbench-baseline"
    assert f"{MODEL}::throughput/{CASE}" in data["items"]
    return path


def test_same_speed_twice_passes(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path
) -> None:
    baseline = write_baseline(pytester, server, suite)
    result = bench(pytester, server, suite, f"--lm-baseline={baseline}")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*baseline: 4 comparisons: 0 regressions*"])


def test_thirty_percent_slower_decode_fails_and_says_why(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path
) -> None:
    baseline = write_baseline(pytester, server, suite)
    server.engine.script.token_interval_s = INTERVAL_S / 0.7
    junit = pytester.path / "junit.xml"
    result = bench(pytester, server, suite, f"--lm-baseline={baseline}", f"--junitxml={junit}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    pattern = (
        rf"regression: throughput/{CASE}\[{re.escape(MODEL)}\] decode_tps median "
        r"(\d+(?:\.\d+)?) vs baseline (\d+(?:\.\d+)?) \((-\d+\.\d) %, p=(0\.\d+), "
        r"n=5 vs 5, limit -10 %\)"
    )
    found = re.search(pattern, output)
    assert found is not None, output
    current, before, delta, p_value = (float(g) for g in found.groups())
    assert current == pytest.approx(140, rel=0.05)
    assert before == pytest.approx(200, rel=0.05)
    assert delta == pytest.approx(-30, abs=3)
    assert p_value <= 0.05
    # Named in the failed item, in the terminal summary and in JUnit XML.
    assert output.count(found.group(0)) >= 2
    assert found.group(0) in junit.read_text()


def test_difference_inside_the_run_to_run_spread_passes(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path
) -> None:
    engine = server.engine
    assert isinstance(engine, CyclingEngine)
    engine.speeds = SPREAD_TPS
    baseline = write_baseline(pytester, server, suite)
    # Every speed 12 % lower: the median moves beyond 10 %, but the runs interleave.
    engine.speeds = tuple(0.88 * tps for tps in SPREAD_TPS)
    result = bench(pytester, server, suite, f"--lm-baseline={baseline}")
    assert result.ret == 0, result.stdout.str()
    report = json.loads((pytester.path / "out" / "latest.json").read_text())
    (flag,) = [f for f in report["results"][0]["flags"]["baseline"] if f["metric"] == "decode_tps"]
    assert flag["delta_pct"] == pytest.approx(-12, abs=3)
    assert flag["p_value"] > 0.05
    assert flag["verdict"] == "unchanged"


def test_baseline_from_another_fingerprint_is_refused_unless_any_env(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path
) -> None:
    # As --lm-update-baseline writes it, but measured on another machine.
    baseline = pytester.path / "baseline.json"
    item = {"kind": "throughput", "timing": {"decode_tps": {"median": 200.0, "samples": [200.0]}}}
    data = {
        "schema_version": 1,
        "kind": "lmbench-baseline",
        "created_at": "2025-01-01T00:00:00+00:00",
        "run_id": "0" * 32,
        "fingerprints": {MODEL: "0123456789abcdef"},
        "items": {f"{MODEL}::throughput/{CASE}": item},
    }
    baseline.write_text(json.dumps(data))
    result = bench(pytester, server, suite, f"--lm-baseline={baseline}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"*baseline {baseline} was measured on fingerprint 0123456789abcdef, this run is *; "
            "refusing to compare (pass --lm-baseline-any-env to compare anyway)*"
        ]
    )
    result = bench(pytester, server, suite, f"--lm-baseline={baseline}", "--lm-baseline-any-env")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*baseline: 1 comparisons: 0 regressions*",
            "*compared across fingerprints 0123456789abcdef (baseline)*",
        ]
    )


def test_last_run_in_the_store_is_the_baseline(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path
) -> None:
    assert bench(pytester, server, suite).ret == 0
    server.engine.script.token_interval_s = INTERVAL_S / 0.7
    result = bench(pytester, server, suite, "--lm-baseline=last")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*regression: throughput/{CASE}*decode_tps median*"])


def test_gates_file_limits_fail_items_and_the_session(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path
) -> None:
    gates = pytester.path / "gates.yaml"
    gates.write_text(
        f"throughput:\n  min_success_rate: 1.0\n  cases:\n    {CASE}: {{min_decode_tps: 1000}}\n"
    )
    result = bench(pytester, server, suite, f"--lm-gates={gates}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"*gate: throughput/{CASE}*decode_tps median * is below min_decode_tps 1000*",
            "*success_rate 0% (0 of 1 passed) is below min_success_rate 100%*",
        ]
    )


def test_bad_gates_file_is_a_usage_error(
    pytester: pytest.Pytester, server: LMStudioTestServer, suite: Path
) -> None:
    gates = pytester.path / "gates.yaml"
    gates.write_text("throughput: {min_decode_tps: -3}\n")
    result = bench(pytester, server, suite, f"--lm-gates={gates}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--lm-gates: {gates}: throughput.min_decode_tps: *"])
