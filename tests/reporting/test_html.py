"""render_html: escaping, self-containment, ordering and truncation (no browser needed)."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from pytest_lmbench.records import Report, RunInfo
from pytest_lmbench.reporting.html_report import render_html

PAYLOAD = "<script>document.title='pwned'</script>"  # as in conftest.make_report
ESCAPED = "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"
URL_ATTRS = {
    "src",
    "href",
    "action",
    "formaction",
    "srcset",
    "poster",
    "data",
    "xlink:href",
    "background",
}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def _collect(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def test_untrusted_text_is_escaped(hostile_report: Report) -> None:
    html = render_html(hostile_report)
    assert PAYLOAD not in html
    assert "<img src=x" not in html
    # The payload is in the output and in the case id (summary, pre, search index).
    assert html.count(ESCAPED) >= 3
    tags = _collect(html).tags
    assert [t for t, _ in tags].count("script") == 1
    assert not [t for t, _ in tags if t == "img"]
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]


def test_no_external_reference_of_any_kind(hostile_report: Report) -> None:
    html = render_html(hostile_report)
    collected = _collect(html)
    for tag, attrs in collected.tags:
        for name, value in attrs.items():
            if name in URL_ATTRS:
                assert (value or "").startswith("#"), (tag, name, value)
            # Text like the backend's base URL may mention http, but never in markup.
            assert "://" not in (value or "") or name.startswith("data-"), (tag, name, value)
    code = "".join(collected.scripts + collected.styles)
    assert "http" not in code
    assert "url(" not in code
    assert "@import" not in code
    assert not re.search(r"<(link|iframe|object|embed|img|video|audio|source)\b", html)


def test_content_security_policy_allows_exactly_our_script(report: Report) -> None:
    html = render_html(report)
    [script] = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1)
    assert "eval" not in script


def test_sections_and_run_header(report: Report) -> None:
    html = render_html(report)
    for needle in (
        "3f9c2a71-8d4e-4b7a-9c1e-5a2b6d8e0f13",
        "lmstudio",
        "sha256:9b1d4c0e7a55",
        "AMD Ryzen 9 7950X 16-Core",  # environment table
        "flash_attention: the server does not report this setting",  # not applied + reason
        "LoadFailed: out of VRAM",
        "qwen3-4b-instruct: not applied: flash_attention",  # warning line in the header
        "Capability breakdown",
        'id="charts"',
        "overhead_per_token_us",
    ):
        assert needle in html, needle
    assert html.count('<svg class="chart"') == 4
    assert "no history yet" in html


def test_failures_and_errors_come_first(report: Report) -> None:
    html = render_html(report)
    outcomes = re.findall(r'<details class="item o-(\w+)"', html)
    assert len(outcomes) == len(report.results)
    bad = [o in ("failed", "error") for o in outcomes]
    assert bad == sorted(bad, reverse=True)


def test_missing_metric_shows_a_dash_not_zero(report: Report) -> None:
    html = render_html(report)
    assert "accuracy <b>—</b>" in html  # capability table mean over only-None values
    assert "<th>accuracy</th><td>—</td>" in html  # the errored item itself


def test_long_output_is_cut_with_a_note(report: Report) -> None:
    report.results[3].output = "x" * 10_000
    html = render_html(report)
    assert "x" * 4000 in html
    assert "x" * 4001 not in html
    assert "6,000 more characters not shown" in html


def test_history_trend_is_drawn(report: Report) -> None:
    history: dict[str, list[dict[str, Any]]] = {
        "qwen3-4b-instruct": [
            {"run_id": "r0", "started_at": "2025-05-01T10:00:00Z", "decode_tps_median": 48.0},
            {"run_id": "r1", "started_at": "2025-05-15T10:00:00Z", "decode_tps_median": None},
        ],
        "retired-model": [
            {"run_id": "r0", "started_at": "2025-05-01T10:00:00Z", "decode_tps_median": 90.0}
        ],
    }
    html = render_html(report, history)
    assert "no history yet" not in html
    assert "Decode speed history" in html
    assert "retired-model" in html


@pytest.mark.parametrize("status", ["running", "interrupted"])
def test_empty_run_renders(status: str) -> None:
    run = RunInfo(
        id="empty",
        started_at="2025-01-01T00:00:00Z",
        backend="ollama",
        base_url="http://localhost:11434",
        plugin_version="0.1.0",
        status=status,  # type: ignore[arg-type]
    )
    html = render_html(Report(run=run))
    assert "No models in this run." in html
    assert html.count('<svg class="chart"') == 4


def test_many_throughput_items_are_pooled_per_grid_point(report: Report) -> None:
    template = next(r for r in report.results if r.kind == "throughput")
    report.results = [
        template.model_copy(update={"case_id": f"pp512-tg128-c1-r{i}"}) for i in range(60)
    ]
    html = render_html(report)
    assert "60 items pooled by prompt size and concurrency" in html
    assert "qwen3-4b-instruct · pp512 · c1" in html
    assert "pp512-tg128-c1-r59</code>" in html  # every item is still listed
