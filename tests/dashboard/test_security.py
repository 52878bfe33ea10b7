"""Who may reach the dashboard and who may start runs; untrusted output stays inert."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_lmbench import cli
from pytest_lmbench.dashboard.security import CSP, Access

from .conftest import HOSTILE, RUN_B, Served


def test_a_non_loopback_host_needs_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        Access.for_host("0.0.0.0", None)
    assert Access.for_host("0.0.0.0", "secret").token == "secret"
    made = Access.for_host("127.0.0.1", None)
    assert made.generated
    assert len(made.token) >= 24
    assert Access.for_host("::1", None).generated

    monkeypatch.delenv("LMBENCH_DASHBOARD_TOKEN", raising=False)
    assert cli.main(["serve", "--host", "192.168.1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lmbench: --host 192.168.1.5 is not a loopback address: give --token")
    assert err.count("\n") == 1


def test_headers_hosts_and_escaping(filled: str, serve_dashboard: Callable[..., Served]) -> None:
    served = serve_dashboard(filled)
    with served.client() as client:
        page = client.get(f"/runs/{RUN_B}")
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert HOSTILE not in page.text
        api = client.get("/api/runs")
        assert api.headers["content-security-policy"] == CSP
        # The HTML report keeps its own policy: its one inline script is allowed by hash.
        report = client.get(f"/runs/{RUN_B}/report")
        assert report.status_code == 200
        assert "script-src 'sha256-" in report.headers["content-security-policy"]
        assert HOSTILE not in report.text
        # A DNS name rebound to 127.0.0.1 does not reach a loopback dashboard.
        rebound = client.get("/api/runs", headers={"Host": "evil.example:8080"})
        assert rebound.status_code == 421
        assert client.get("/api/runs", headers={"Host": "localhost:1"}).status_code == 200


def test_starting_and_stopping_need_the_token(
    filled: str, serve_dashboard: Callable[..., Served]
) -> None:
    served = serve_dashboard(filled)
    body = {"models": ["m"]}
    with served.client() as client:
        assert client.post("/api/runs", json=body).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.post("/api/runs", json=body, headers=wrong).status_code == 401
        assert client.post(f"/api/runs/{RUN_B}/stop").status_code == 401
        auth = {"Authorization": f"Bearer {served.token}"}
        refused = client.post(
            "/api/runs", json={**body, "options": {"lm_output_dir": "/etc"}}, headers=auth
        )
        assert refused.status_code == 422
        assert "option 'lm_output_dir' cannot be set from the dashboard" in refused.text
        bad = client.post("/api/runs", json={**body, "options": {"lm_runs": "0"}}, headers=auth)
        assert bad.status_code == 422
        assert "--lm-runs: must be greater than 0" in bad.text
        flag = client.post("/api/runs", json={"models": ["--lm-db=x"]}, headers=auth)
        assert flag.status_code == 422
        # A run another machine (or session) started is not ours to stop.
        assert client.post(f"/api/runs/{RUN_B}/stop", headers=auth).status_code == 409
        # The form needs the page's CSRF token, and no other site may post it.
        assert client.post("/start", data={"models": "m"}).status_code == 403
        foreign = {"Origin": "http://evil.example"}
        sent = client.post("/start", data={"models": "m", "csrf": served.csrf}, headers=foreign)
        assert sent.status_code == 403


def test_read_only_starts_nothing(filled: str, serve_dashboard: Callable[..., Served]) -> None:
    served = serve_dashboard(filled, read_only=True)
    auth = {"Authorization": f"Bearer {served.token}"}
    with served.client() as client:
        assert client.post("/api/runs", json={"models": ["m"]}, headers=auth).status_code == 403
        assert client.get("/start").status_code == 403
        assert client.get("/api/runs").status_code == 200
