"""The README's main job, `tox -e demo`, as its command line runs it: from the repository
root, whose pyproject.toml turns warnings into errors."""

from __future__ import annotations

import configparser
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def demo_command(toxinidir: Path, *posargs: str) -> list[str]:
    """The demo env's pytest command from tox.ini, its placeholders filled in."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    lines = [line.strip() for line in tox["testenv:demo"]["commands"].splitlines()]
    [command] = [line for line in lines if line.startswith("pytest ")]
    words = shlex.split(command.replace("{toxinidir}", str(toxinidir)))
    words = [w for w in words if w != "{posargs}"]
    return [sys.executable, "-m", *words, *posargs]


def test_the_demo_command_keeps_our_warnings_as_warnings(tmp_path: Path) -> None:
    from .conftest import _unavailable

    if _unavailable():
        pytest.skip(str(_unavailable()))
    # The managed server cannot apply a unified KV cache: a LmbenchWarning says so.
    command = demo_command(tmp_path, "-k", "math_001", "--lm-unified-kv-cache", "-rw")
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "LmbenchWarning" in done.stdout
    assert "unified_kv_cache" in done.stdout
    report = json.loads((tmp_path / "lmbench-results" / "latest.json").read_text())
    assert [r["outcome"] for r in report["results"]] == ["passed"]
    assert (tmp_path / "lmbench-results" / "results.db").is_file()


def test_the_demo_command_is_found() -> None:
    command = demo_command(Path("/x"))
    assert "--lm-serve-gguf=smollm2" in command
    assert not any(word.startswith("--lm-runs") for word in command)  # the default, 3
