"""--lm-server: the same model on LM Studio and Ollama test servers in one run (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.testing import LMStudioTestServer, OllamaTestServer
from pytest_lmbench.testing.fixtures import default_ollama_models

LMS, OLL = "lms:qwen/qwen3-4b", "oll:qwen3:4b"


def grid(root: Path) -> Path:
    folder = root / "suite" / "throughput"
    folder.mkdir(parents=True, exist_ok=True)
    case = {"prompt_tokens": 32, "gen_tokens": 24, "concurrency": 1}
    (folder / "grid.json").write_text(json.dumps({"capability": "throughput", "cases": [case]}))
    return folder.parent


def qa_suite(root: Path) -> None:
    folder = root / "suite" / "general_text"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.md").write_text("{{ question }}")
    case = {"id": "q1", "input": {"question": "Capital of France?"}, "references": ["Paris"]}
    suite = {"capability": "general_text", "task": "qa", "template": "t.md", "cases": [case]}
    (folder / "qa.json").write_text(json.dumps(suite))


def pace(server: LMStudioTestServer | OllamaTestServer, tokens_per_s: float) -> None:
    server.engine.script.ttft_s = 0.005
    server.engine.script.token_interval_s = 1 / tokens_per_s


def run(
    pytester: pytest.Pytester,
    servers: dict[str, str],
    models: tuple[str, ...],
    *extra: str,
) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest(
        f"--lm-suite-dir={grid(pytester.path)}",
        *(f"--lm-server={name}={url}" for name, url in servers.items()),
        *(f"--lm-model={model}" for model in models),
        f"--lm-output-dir={pytester.path / 'out'}",
        "--lm-no-db",
        "--lm-formats=json,html",
        "--lm-runs=5",
        "-p",
        "no:cacheprovider",
        *extra,
    )
    latest = pytester.path / "out" / "latest.json"
    return result, json.loads(latest.read_text()) if latest.exists() else {}


@pytest.fixture
def two_servers(
    lmstudio_server: LMStudioTestServer, ollama_server: OllamaTestServer
) -> dict[str, str]:
    return {
        "lms": f"lmstudio@{lmstudio_server.base_url}",
        "oll": f"ollama@{ollama_server.base_url}",
    }


def loads(server: LMStudioTestServer | OllamaTestServer) -> list[str]:
    found = []
    for request in server.engine.requests:
        body = request.json if isinstance(request.json, dict) else {}
        if request.path == "/api/v1/models/load" or (
            request.path == "/api/chat" and not body.get("messages") and not body.get("keep_alive")
        ):
            found.append(str(body.get("model")))
    return found


def test_each_server_loads_its_model_once_and_the_comparison_groups_them(
    pytester: pytest.Pytester,
    two_servers: dict[str, str],
    lmstudio_server: LMStudioTestServer,
    ollama_server: OllamaTestServer,
) -> None:
    pace(lmstudio_server, 400)
    pace(ollama_server, 400)
    qa_suite(pytester.path)
    reference = pytester.path / "published.yaml"
    reference.write_text(f"{LMS}:\n  lm_studio:\n    toks_per_sec: 400\n")
    result, report = run(
        pytester, two_servers, (LMS, OLL), "--lm-min-quality=0", f"--lm-reference={reference}"
    )
    assert result.ret == 0
    ids = sorted(r["nodeid"].rsplit("::", 1)[1] for r in report["results"])
    assert ids == [f"pp32-tg24-c1[{LMS}]", f"pp32-tg24-c1[{OLL}]", f"q1[{LMS}]", f"q1[{OLL}]"]
    assert loads(lmstudio_server) == ["qwen/qwen3-4b"]
    assert loads(ollama_server) == ["qwen3:4b"]
    models = {m["key"]: m for m in report["models"]}
    assert models[LMS]["metadata"]["server"] == "lms"
    assert models[OLL]["metadata"]["server_backend"] == "ollama"
    assert models[LMS]["metadata"]["fingerprint"] != models[OLL]["metadata"]["fingerprint"]
    assert set(report["run"]["environment"]["server"]["servers"]) == {"lms", "oll"}
    assert report["run"]["backend"] == "multi"
    [group] = report["summary"]["comparisons"]
    # LM Studio reports no digest: the facts both servers report make them the same weights.
    assert group["same_weights_by"] == "architecture, parameters, quantization"
    assert sorted(group["models"]) == [LMS, OLL]
    items = {row["item"]: row for row in group["items"]}
    assert set(items) == {"general_text/qa.json::q1", "throughput/grid.json::pp32-tg24-c1"}
    assert items["general_text/qa.json::q1"]["fastest"] is None  # no speed to compare
    for side in group["overall"]["models"].values():
        assert side["quality_by_capability"] == {"general_text": 0.0}
    item = items["throughput/grid.json::pp32-tg24-c1"]
    for side in item["models"].values():
        assert side["decode_tps_n"] == 5
        assert side["decode_tps_ci95_low"] <= side["decode_tps"] <= side["decode_tps_ci95_high"]
    loser = next(s for s in item["models"].values() if not s["fastest"])
    assert loser["verdict"] in ("slower", "no significant difference")
    assert group["overall"]["models"][OLL]["published"] == []
    [published] = group["overall"]["models"][LMS]["published"]
    assert published["decode_tps"] == 400
    result.stdout.fnmatch_lines(
        [
            "same weights (architecture, parameters, quantization): *",
            f"  {LMS}: vs published LM Studio *",
            f"  {OLL}: vs published: —",
        ]
    )
    html = (pytester.path / "out" / "latest.html").read_text()
    assert "Same weights on several servers" in html


@pytest.mark.timing
def test_scripted_speeds_of_50_and_80_come_out_as_such(
    pytester: pytest.Pytester,
    two_servers: dict[str, str],
    lmstudio_server: LMStudioTestServer,
    ollama_server: OllamaTestServer,
) -> None:
    pace(lmstudio_server, 50)
    pace(ollama_server, 80)
    result, report = run(pytester, two_servers, (LMS, OLL))
    assert result.ret == 0
    [group] = report["summary"]["comparisons"]
    sides = group["overall"]["models"]
    assert sides[LMS]["decode_tps"] == pytest.approx(50, rel=0.1)
    assert sides[OLL]["decode_tps"] == pytest.approx(80, rel=0.1)
    assert group["overall"]["fastest"] == OLL
    assert sides[LMS]["verdict"] == "slower"
    assert sides[LMS]["p_value"] <= 0.05
    assert sides[LMS]["vs_fastest_pct"] == pytest.approx(-37.5, abs=6)
    result.stdout.fnmatch_lines(
        [f"  overall: decode tok/s {LMS} * (-3? %: slower, p=*) · {OLL} * fastest"]
    )


def test_two_ollama_servers_group_by_digest_and_lm_same_groups_what_facts_cannot(
    pytester: pytest.Pytester, ollama_server: OllamaTestServer, lmstudio_server: LMStudioTestServer
) -> None:
    other = OllamaTestServer(default_ollama_models())
    with other:
        pace(other, 400)
        pace(ollama_server, 400)
        pace(lmstudio_server, 400)
        servers = {
            "a": f"ollama@{ollama_server.base_url}",
            "b": f"ollama@{other.base_url}",
            "lms": f"lmstudio@{lmstudio_server.base_url}",
        }
        models = ("a:gemma3:4b", "b:gemma3:4b", "lms:google/gemma-3-4b", "lms:qwen/qwen3-4b")
        same = "--lm-same=lms:google/gemma-3-4b,a:gemma3:4b"
        _, report = run(pytester, servers, models, same, "--lm-runs=2")
    groups = {tuple(g["models"]): g["same_weights_by"] for g in report["summary"]["comparisons"]}
    # Gemma's parameter sizes differ (4B, 4.3B): only --lm-same puts it with LM Studio's.
    assert groups == {("lms:google/gemma-3-4b", "a:gemma3:4b"): "--lm-same"}
    report_b = {m["key"]: m for m in report["models"]}
    assert (
        report_b["a:gemma3:4b"]["metadata"]["digest"]
        == report_b["b:gemma3:4b"]["metadata"]["digest"]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lm-server=lms", "--lm-model=lms:x"), "expected NAME=BACKEND@URL"),
        (
            ("--lm-server=a=ollama@/models/x.gguf", "--lm-model=a:x"),
            "expected the URL of a running server",
        ),
        (("--lm-server=a=ollama@http://h:1", "--lm-server=a=lmstudio@http://h:2"), "given twice"),
    ],
)
def test_a_bad_server_is_one_line(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest(*args, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--lm-server*{message}*"])


def test_a_model_without_its_server_name_stops_the_run(
    pytester: pytest.Pytester, two_servers: dict[str, str]
) -> None:
    result, _ = run(pytester, two_servers, ("qwen3:4b",))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    line = "*--lm-model: model 'qwen3:4b' names no server: with --lm-server, use NAME:KEY, "
    result.stderr.fnmatch_lines([line + "NAME one of lms, oll"])


def test_all_covers_every_server(pytester: pytest.Pytester, two_servers: dict[str, str]) -> None:
    """--lm-model=all with --lm-server lists each server's models as NAME:KEY."""
    listed = pytester.runpytest(
        f"--lm-suite-dir={grid(pytester.path)}",
        *(f"--lm-server={name}={url}" for name, url in two_servers.items()),
        "--lm-model=all",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
    )
    ids = [line for line in listed.stdout.lines if "::" in line]
    assert any(f"[{LMS}]" in line for line in ids), ids
    assert any(f"[{OLL}]" in line for line in ids), ids
    assert {line.split("[", 1)[1].split(":", 1)[0] for line in ids} == {"lms", "oll"}
    result, report = run(pytester, two_servers, ("oll:qwen3*",), "--lm-runs=1", "--lm-warmup=0")
    result.assert_outcomes(passed=1)
    assert [m["key"] for m in report["models"]] == [OLL]
