"""A suite file that cannot be read as one is a one-line error naming file and case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_lmbench.errors import SuiteError
from pytest_lmbench.gates.baseline import BaselineError, read_baseline
from pytest_lmbench.suites.loader import bundled_root, image_mime, load_capability_suite


def _vision_suite(tmp_path: Path, image: bytes) -> Path:
    folder = tmp_path / "vision"
    folder.mkdir()
    shutil.copy(bundled_root() / "vision" / "vision_caption.md", folder / "t.md")
    (folder / "picture.png").write_bytes(image)
    case = {"id": "c1", "image": "picture.png", "input": {"question": "?"}, "references": ["x"]}
    suite = {"capability": "vision", "task": "caption", "template": "t.md", "cases": [case]}
    (folder / "s.json").write_text(json.dumps(suite))
    return folder / "s.json"


def test_a_suite_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "general_text"
    folder.mkdir()
    (folder / "s.json").write_bytes(b'{"capability": "general_text", "task": "qa\xff"}')
    with pytest.raises(SuiteError, match=r"s\.json: not UTF-8 text \(byte 42\)$"):
        load_capability_suite(folder / "s.json")


def test_a_suite_file_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "general_text"
    folder.mkdir()
    (folder / "s.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SuiteError, match="nested too deeply"):
        load_capability_suite(folder / "s.json")


def test_an_image_that_is_no_png_jpeg_or_webp_is_refused_at_collection(tmp_path: Path) -> None:
    path = _vision_suite(tmp_path, b"GIF89a" + b"\x00" * 32)
    with pytest.raises(SuiteError, match=r"case c1: field image: picture\.png is not a PNG, JPEG"):
        load_capability_suite(path)


def test_a_jpeg_is_sent_as_a_jpeg(tmp_path: Path) -> None:
    [case] = load_capability_suite(_vision_suite(tmp_path, b"\xff\xd8\xff\xe0" + b"\x00" * 32))
    assert [image.mime for image in case.images()] == ["image/jpeg"]


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff\xdb", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"<svg", None),
    ],
)
def test_image_mime_from_the_bytes(head: bytes, mime: str | None) -> None:
    assert image_mime(head) == mime


def test_a_deeply_nested_baseline_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BaselineError, match="nested too deeply"):
        read_baseline(path)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 1 // 0 }}", "raised ZeroDivisionError"),
        ("{{ question.__class__.__mro__ }}", "not allowed"),
        ("{{ [].append.__self__ }}", "not allowed"),
    ],
)
def test_a_template_that_raises_or_breaks_the_sandbox_is_one_line(
    tmp_path: Path, template: str, message: str
) -> None:
    folder = tmp_path / "general_text"
    folder.mkdir()
    (folder / "t.md").write_text(template)
    case = {"id": "q1", "input": {"question": "?"}, "references": ["x"]}
    suite = {"capability": "general_text", "task": "qa", "template": "t.md", "cases": [case]}
    (folder / "s.json").write_text(json.dumps(suite))
    with pytest.raises(SuiteError, match=f"case q1: template t.md for q1.*{message}") as raised:
        load_capability_suite(folder / "s.json")
    assert "\n" not in str(raised.value)


def _agentic_suite(tmp_path: Path, case: dict[str, object]) -> Path:
    folder = tmp_path / "agentic"
    folder.mkdir()
    (folder / "t.md").write_text("{{ request }}")
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    suite = {"capability": "agentic", "task": "multi_step", "template": "t.md", "tools": tools}
    (folder / "s.json").write_text(json.dumps({**suite, "cases": [case]}))
    return folder / "s.json"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, r"case a1: field steps: required for agentic \(\[\] for no tool call\)$"),
        (
            {"steps": [{"expected_calls": [{"name": "g"}], "results": []}]},
            r"case a1: step 1: tools not offered: g$",
        ),
        ({"steps": [{"expected_calls": []}]}, r"case a1: field steps\.0\.expected_calls: "),
    ],
)
def test_an_agentic_case_needs_steps_of_offered_tools(
    tmp_path: Path, extra: dict[str, object], message: str
) -> None:
    path = _agentic_suite(tmp_path, {"id": "a1", "input": {"request": "x"}, **extra})
    with pytest.raises(SuiteError, match=message):
        load_capability_suite(path)
