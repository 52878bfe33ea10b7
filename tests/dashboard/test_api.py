"""The JSON API against a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pytest_lmbench.records import ModelEntry, ResultEntry, RunInfo
from pytest_lmbench.storage.store import open_store

from .conftest import (
    HOSTILE,
    MATH,
    MODEL,
    RUN_A,
    RUN_B,
    RUNNING,
    SPEED,
    Served,
    begin_run_elsewhere,
)


def test_runs_list_with_counts_progress_and_filters(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        runs = client.get("/api/runs").json()
        assert [r["id"] for r in runs] == [RUNNING, RUN_B, RUN_A]  # newest first
        running, b, a = runs
        assert running["status"] == "running"
        assert running["progress"]["items_selected"] == 4
        assert running["progress"]["items_done"] == 1
        assert running["progress"]["percent"] == 25.0
        assert running["progress"]["current_item"] == SPEED
        assert running["progress"]["eta_s"] is not None
        assert (b["passed"], b["failed"], b["errors"], b["results"]) == (1, 1, 0, 2)
        assert a["models"] == [MODEL]
        assert a["host"] == "bench-1"
        assert a["duration_s"] == 300.0
        assert a["progress"]["current_item"] is None  # finished: nothing is running

        by_status = client.get("/api/runs", params={"status": "completed"}).json()
        assert [r["id"] for r in by_status] == [RUN_B, RUN_A]
        by_host = client.get("/api/runs", params={"host": "bench-2"}).json()
        assert [r["id"] for r in by_host] == [RUNNING]
        assert client.get("/api/runs", params={"model": "other"}).json() == []


def test_run_detail_results_and_unknown_runs(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        detail = client.get(f"/api/runs/{RUN_B[:8]}").json()  # a unique prefix is enough
        assert detail["id"] == RUN_B
        assert detail["fingerprint"] == "fp-2"
        assert detail["model_entries"][0]["key"] == MODEL
        results = client.get(f"/api/runs/{RUN_B}/results").json()
        assert [r["nodeid"] for r in results] == [SPEED, MATH]
        assert results[1]["output"] == HOSTILE  # JSON carries it as data
        missing = client.get("/api/runs/nope")
        assert missing.status_code == 404
        assert missing.json() == {"detail": f"no run 'nope' in {served.state.store.url}"}


def test_model_history_marks_fingerprints(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        history = client.get(f"/api/models/{MODEL}/history").json()
    assert history["model"] == MODEL
    assert [p["run_id"] for p in history["points"]] == [RUN_A, RUN_B]  # finished runs only
    assert [p["decode_tps_median"] for p in history["points"]] == [50.2, 30.2]
    assert history["fingerprints"] == ["fp-1", "fp-2"]
    first = history["figures"][0]
    assert (first["decode_tps_ci95_low"], first["decode_tps_ci95_high"]) == (49.0, 51.0)
    assert first["ttft_s_median"] == 0.1
    assert first["joules_per_token"] is None
    assert [f["quality"] for f in history["figures"]] == [{"reasoning": 1.0}, {"reasoning": 0.0}]


def test_compare_uses_the_baseline_test(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        compared = client.get("/api/compare", params={"a": RUN_A, "b": RUN_B}).json()
    assert (compared["a"], compared["b"]) == (RUN_A, RUN_B)
    rows = {row["item"]: row for row in compared["rows"]}
    speed = rows[f"throughput/pp512-tg128-c1[{MODEL}]"]["comparisons"]
    decode = next(c for c in speed if c["metric"] == "decode_tps")
    assert decode["verdict"] == "regression"  # 5 runs against 5, 40 % slower
    assert decode["delta_pct"] < -30
    assert decode["p_value"] < 0.05
    quality = rows[f"reasoning/math_001[{MODEL}]"]["comparisons"][0]
    assert quality["metric"] == "quality_score"
    assert quality["verdict"] == "untestable"  # one case against one: no test can tell


def test_results_by_model_is_the_seeds_endpoint(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        rows: list[dict[str, Any]] = client.get("/api/results", params={"model": MODEL}).json()
        assert client.get("/api/results", params={"model": "none"}).json() == []
    assert len(rows) == 5
    assert {r["run_id"] for r in rows} == {RUN_A, RUN_B, RUNNING}
    assert "output" not in rows[0]  # the flat rows, as lmbench export writes them


def test_leaderboard_ranks_each_models_latest_completed_run(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    with open_store(filled) as store:
        run = RunInfo(
            id="dddd", started_at="2026-05-04T12:00:00+00:00", backend="lmstudio",
            base_url="http://127.0.0.1:1234", plugin_version="0.1.0",
        )  # fmt: skip
        store.begin_run(run)
        store.save_model("dddd", ModelEntry(key="fast/model", status="ok"))
        fast = ResultEntry(
            nodeid="throughput/grid.json::pp512-tg128-c1[fast/model]", model="fast/model",
            kind="throughput", capability="throughput", case_id="pp512-tg128-c1",
            outcome="passed", timing={"decode_tps": {"median": 80.0}, "concurrency": 1},
        )  # fmt: skip
        store.add_result("dddd", fast)
        store.finish_run("dddd", "completed", "2026-05-04T12:01:00+00:00")
    served = serve_dashboard(filled)
    with served.client() as client:
        by_speed = client.get("/api/leaderboard").json()
        by_quality = client.get("/api/leaderboard", params={"rank_by": "quality"}).json()
        assert client.get("/api/leaderboard", params={"rank_by": "vibes"}).status_code == 422
        page = client.get("/leaderboard", params={"rank_by": "quality"}).text
        by_energy = client.get("/api/leaderboard", params={"rank_by": "joules_per_token"}).json()
    assert [(x["model"], x["run_id"], x["decode_tps_median"]) for x in by_speed] == [
        ("fast/model", "dddd", 80.0),
        (MODEL, RUN_B, 30.2),  # its latest completed run, not its best
    ]
    # Quality: measured first; a model without a quality score comes last.
    assert [(x["model"], x["quality_score_mean"]) for x in by_quality] == [
        (MODEL, 0.0),
        ("fast/model", None),
    ]
    assert page.index(MODEL) < page.index("fast/model")
    # Every --lm-rank-by key ranks, with the report leaderboard's own figures.
    assert by_speed[0]["figures"]["decode_tps"] == 80.0
    assert {x["model"] for x in by_energy} == {MODEL, "fast/model"}
    assert all(x["figures"].get("joules_per_token") is None for x in by_energy)
    assert "tok/s per GB" in page


def test_a_run_starting_anywhere_is_an_event_for_the_runs_page(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    seen: list[str] = []
    with served.client() as client, client.stream("GET", "/api/runs/events") as stream:
        begin_run_elsewhere(filled, "eeee", "2026-05-05T12:00:00+00:00")
        for line in stream.iter_lines():
            seen.append(line)
            if line.startswith("data:"):
                break
    assert "event: runs" in seen
    assert seen[-1] == "data: [4, 2]"  # four runs, two of them running


def test_a_run_starting_before_the_runs_page_subscribes_is_still_an_event(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    """The race of a browser: the run begins between the page and its EventSource."""
    served = serve_dashboard(filled)
    with served.client() as client:
        found = re.search(r'<table id="runs" data-since="([0-9a-f]+)">', client.get("/").text)
        assert found is not None
        begin_run_elsewhere(filled, "eeee", "2026-05-05T12:00:00+00:00")
        # Missed, the event never comes: the read times out well before the 15 s ping.
        since = {"since": found.group(1)}
        with client.stream("GET", "/api/runs/events", params=since, timeout=5.0) as stream:
            lines = []
            for line in stream.iter_lines():
                lines.append(line)
                if line.startswith("data:"):
                    break
    assert lines[-2:] == ["event: runs", "data: [4, 2]"]
