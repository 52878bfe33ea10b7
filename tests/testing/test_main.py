"""``python -m pytest_lmbench.testing`` serves a test server by hand until Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_lmbench.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_serves_lmstudio_until_ctrl_c() -> None:
    with serving() as (proc, url):
        assert url.startswith("http://127.0.0.1:")
        models = httpx.get(url + "/api/v1/models", timeout=10).json()["models"]
        assert {m["key"] for m in models} == {"qwen/qwen3-4b", "google/gemma-3-4b"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "Ctrl-C" in (proc.stderr.read() if proc.stderr else "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serves_ollama_on_a_given_port() -> None:
    port = _free_port()
    with serving("--ollama", f"--port={port}") as (proc, url):
        assert url == f"http://127.0.0.1:{port}"
        tags = httpx.get(url + "/api/tags", timeout=10).json()["models"]
        assert {m["name"] for m in tags} == {"qwen3:4b", "gemma3:4b"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_bad_port_is_a_usage_error(port: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_lmbench.testing", f"--port={port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--port" in done.stderr
    assert done.stdout == ""


def test_a_taken_port_is_a_usage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "pytest_lmbench.testing", f"--port={port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
