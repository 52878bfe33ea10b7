"""The server-rendered pages: runs, a run, a model's history, a comparison, the form."""

from __future__ import annotations

import re
from collections.abc import Callable

from .conftest import MODEL, RUN_A, RUN_B, RUNNING, Served


def test_runs_page_shows_progress_and_filters(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        page = client.get("/").text
        assert page.count("<tr class=") == 3
        assert f'data-run="{RUNNING}" data-status="running"' in page
        assert '<progress max="4" value="1">' in page
        assert "ETA" in page
        completed = client.get("/", params={"status": "completed"}).text
        assert RUNNING not in completed
        assert RUN_A[:8] in completed
        assert client.get("/static/live.js").status_code == 200


def test_run_model_and_compare_pages(filled: str, serve_dashboard: Callable[..., Served]) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        run = client.get(f"/runs/{RUN_B}").text
        assert 'aria-label="GPU power over the run"' in run  # its stored readings, drawn
        assert 'class="failed"' in run
        assert "math_001" in run
        model = client.get(f"/models/{MODEL}").text
        svgs = re.findall(r"<svg.*?</svg>", model, flags=re.S)
        assert len(svgs) == 4  # decode with its interval, TTFT, quality, J/token
        decode, ttft, quality, energy = svgs
        assert all("<circle" in svg for svg in (decode, ttft, quality))  # hover titles
        assert decode.count("<polygon") == 1  # the 95 % band between the two runs
        assert "<title>fingerprint fp-1 → fp-2</title>" in decode
        assert ">reasoning<" in quality  # one line per capability
        assert "no history yet" in energy  # no J/token was measured
        assert "<b>changed</b>" in model  # the fingerprint changed between the runs
        compare = client.get("/compare", params={"a": RUN_A, "b": RUN_B}).text
        assert '<tr class="regression"><td>throughput/pp512-tg128-c1' in compare
        assert client.get("/runs/nope").status_code == 404
