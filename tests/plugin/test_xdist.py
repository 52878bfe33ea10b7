"""Under pytest-xdist (-n): each model loads once, on one worker; results are stored once."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from pytest_lmbench.collection.distribution import group_mark, model_in_nodeid, plain_nodeid
from pytest_lmbench.testing import LMStudioTestServer
from pytest_lmbench.testing.oracle import oracle_rules

from .conftest import lmbench_args, write_suite

MODELS = ("qwen/qwen3-4b", "google/gemma-3-4b")


@pytest.fixture
def suite(pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer) -> Path:
    root = write_suite(pytester.path / "suite")
    lmstudio_server.engine.answers[:] = oracle_rules([root])
    lmstudio_server.engine.script.ttft_s = 0.001
    lmstudio_server.engine.script.token_interval_s = 0.0001
    return root


def test_each_model_loads_once_on_one_worker(
    pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        "-n",
        "2",
        "-v",
        f"--lm-suite-dir={suite}",
        *(f"--lm-model={m}" for m in MODELS),
        *lmbench_args(lmstudio_server, pytester.path),
    )
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        ["lmbench: -n: items of one model run on one worker (--dist loadgroup)"]
    )
    loads = Counter(
        (r.json or {}).get("model")
        for r in lmstudio_server.engine.requests
        if r.path == "/api/v1/models/load"
    )
    assert loads == dict.fromkeys(MODELS, 1)
    workers: dict[str, set[str]] = defaultdict(set)
    for worker, model in re.findall(r"\[(gw\d)\] .*PASSED .*\[([^\]]+)\]", result.stdout.str()):
        workers[model].add(worker)
    assert {m: len(w) for m, w in workers.items()} == dict.fromkeys(MODELS, 1)
    with sqlite3.connect(pytester.path / "results.db") as conn:
        nodeids = [row[0] for row in conn.execute("select nodeid from results")]
    assert len(nodeids) == len(set(nodeids)) == 8
    # The stored nodeid is the one a run without -n stores: no "@group" suffix.
    assert all(n.endswith(("[qwen/qwen3-4b]", "[google/gemma-3-4b]")) for n in nodeids)


def test_users_model_tests_join_their_model_group(
    pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer, suite: Path
) -> None:
    pytester.makepyfile(
        test_mine="""
        import pytest

        def test_chat(lm):
            assert lm.chat("hello there").content

        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_chat_n(lm, n):
            assert lm.chat(f"hello {n}").content
        """
    )
    result = pytester.runpytest(
        "-n",
        "2",
        "test_mine.py",
        f"--lm-suite-dir={suite}",
        *(f"--lm-model={m}" for m in MODELS),
        *lmbench_args(lmstudio_server, pytester.path),
    )
    result.assert_outcomes(passed=16)
    assert lmstudio_server.engine.load_calls == 2


@pytest.mark.parametrize(
    ("nodeid", "model"),
    [
        ("s/reasoning/math.json::math_001[qwen/qwen3-4b]", "qwen/qwen3-4b"),
        ("s/reasoning/math.json::math_001[qwen/qwen3-4b@q4_k_m]", "qwen/qwen3-4b@q4_k_m"),
        ("test_mine.py::test_chat_n[qwen/qwen3-4b-2]", "qwen/qwen3-4b"),
        ("test_mine.py::test_chat_n[2-qwen/qwen3-4b]", "qwen/qwen3-4b"),
        ("test_mine.py::test_x[a-qwen/qwen3-4b-b]", "qwen/qwen3-4b"),
        ("test_mine.py::test_chat_n[qwen/qwen3-4b-instruct]", "qwen/qwen3-4b-instruct"),
        ("test_mine.py::test_plain", None),
        ("test_mine.py::test_p[other]", None),
    ],
)
def test_model_in_nodeid(nodeid: str, model: str | None) -> None:
    keys = ("qwen/qwen3-4b", "qwen/qwen3-4b@q4_k_m", "qwen/qwen3-4b-instruct")
    assert model_in_nodeid(nodeid, keys) == model


class _Item:
    """The two attributes plain_nodeid reads (narrow unit test)."""

    def __init__(self, nodeid: str, model: str) -> None:
        self.nodeid = nodeid
        self.mark = group_mark(model).mark

    def iter_markers(self, name: str) -> list[pytest.Mark]:
        return [self.mark] if name == self.mark.name else []


def test_stored_nodeid_drops_the_group_suffix_xdist_may_add() -> None:
    # pytest < 9.2 with --dist loadgroup: the worker's nodeid ends in "@<group>".
    plain = "reasoning/math.json::math_001[qwen/qwen3-4b@q4_k_m]"
    tagged = _Item(f"{plain}@qwen/qwen3-4b_q4_k_m", "qwen/qwen3-4b@q4_k_m")
    assert plain_nodeid(tagged) == plain  # type: ignore[arg-type]
    assert plain_nodeid(_Item(plain, "qwen/qwen3-4b@q4_k_m")) == plain  # type: ignore[arg-type]


def test_another_dist_mode_is_kept_with_a_warning(
    pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        "-n",
        "2",
        "--dist",
        "loadfile",
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "math_001",
        *lmbench_args(lmstudio_server, pytester.path),
    )
    result.stdout.fnmatch_lines(
        ["*PytestWarning: lmbench: --dist loadfile may run one model's items on several workers*"]
    )
    result.stdout.no_fnmatch_line("*--dist loadgroup)")
    result.assert_outcomes(passed=1)


def test_without_n_nothing_changes(
    pytester: pytest.Pytester, lmstudio_server: LMStudioTestServer, suite: Path
) -> None:
    result = pytester.runpytest(
        f"--lm-suite-dir={suite}",
        "--lm-model=qwen/qwen3-4b",
        "-k",
        "math_001",
        *lmbench_args(lmstudio_server, pytester.path),
    )
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("lmbench: -n*")
