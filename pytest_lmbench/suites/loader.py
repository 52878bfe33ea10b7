"""Reading suite folders: validation with errors that name file, case and field.

Suite roots are the bundled ``capability_suites`` package and every
``--lm-suite-dir``; a suite file is ``<root>/<capability>/<name>.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from pydantic import BaseModel, ValidationError

from pytest_lmbench.backends.base import ImageInput
from pytest_lmbench.errors import SuiteError, first_problem
from pytest_lmbench.records import JSON
from pytest_lmbench.suites.schema import (
    CapabilitySuite,
    Case,
    EmbeddingCase,
    ThroughputCase,
    ThroughputSuite,
)
from pytest_lmbench.vocabulary import CAPABILITIES


def bundled_root() -> Path:
    import capability_suites

    return Path(capability_suites.__file__).resolve().parent


def is_suite_file(path: Path, roots: tuple[Path, ...]) -> bool:
    if path.suffix != ".json" or path.parent.name not in CAPABILITIES:
        return False
    root = path.resolve().parent.parent
    # Any installed or checked-out copy of the bundled package counts: which copy
    # `import capability_suites` finds depends on sys.path, which pytest may change.
    bundled = root.name == "capability_suites" and (root / "__init__.py").is_file()
    return bundled or any(root == r for r in roots)


def suite_roots_in(args: Sequence[str]) -> list[Path]:
    """Suite folders named on the command line (``pytest my_suites/ --lm-model=...``).

    A folder whose capability subfolders hold suite files, a capability folder, or
    one suite file: each names its suite root, as ``--lm-suite-dir`` would.
    """
    roots: list[Path] = []
    for arg in args:
        path = Path(arg.split("::", 1)[0])
        if path.is_file() and path.suffix == ".json" and path.parent.name in CAPABILITIES:
            roots.append(path.resolve().parent.parent)
        elif path.is_dir() and path.name in CAPABILITIES and any(path.glob("*.json")):
            roots.append(path.resolve().parent)
        elif path.is_dir() and any(any((path / cap).glob("*.json")) for cap in CAPABILITIES):
            roots.append(path.resolve())
    return list(dict.fromkeys(roots))


@dataclass(frozen=True)
class CapabilityCase:
    suite: CapabilitySuite
    case: Case
    folder: Path
    template: str

    @property
    def tools(self) -> list[JSON]:
        return list(self.case.tools if self.case.tools is not None else self.suite.tools or [])

    @cached_property
    def prompt(self) -> str:
        """Rendered once: checked at collection, sent as it was checked."""
        return render(self.template, self.case.input, f"{self.suite.template} for {self.case.id}")

    def images(self) -> tuple[ImageInput, ...]:
        if self.case.image is None:
            return ()
        path = contained(self.folder, self.case.image, self.case.id)
        data = path.read_bytes()
        return (ImageInput(data=data, mime=image_mime(data) or "image/png", name=path.name),)


def load_capability_suite(path: Path) -> list[CapabilityCase]:
    data = _read_json(path)
    suite = _validate(CapabilitySuite, data, path, None)
    if suite.capability != path.parent.name:
        raise SuiteError(
            f"{path}: capability {suite.capability!r} but the file is in {path.parent.name}/"
        )
    template_path = contained(path.parent, suite.template, None)
    template = _read_text(template_path)
    cases = []
    seen: set[str] = set()
    for index, raw in enumerate(suite.cases):
        case_id = raw.get("id") if isinstance(raw, dict) else None
        case = _validate(Case, raw, path, str(case_id) if case_id else f"#{index}")
        if case.id in seen:
            raise SuiteError(f"{path}: case {case.id}: duplicate id")
        seen.add(case.id)
        item = CapabilityCase(suite, case, path.parent, template)
        _check_case(item, path)
        cases.append(item)
    return cases


def _check_case(item: CapabilityCase, path: Path) -> None:
    where = f"{path}: case {item.case.id}"
    try:
        item.prompt  # noqa: B018 (renders it: a template error is a collection error)
    except SuiteError as exc:
        raise SuiteError(f"{where}: {exc}") from None
    if item.case.image is not None:
        image = contained(item.folder, item.case.image, item.case.id)
        if not image.is_file():
            raise SuiteError(f"{where}: field image: {item.case.image} does not exist")
        if image_mime(image.read_bytes()[:16]) is None:
            raise SuiteError(f"{where}: field image: {item.case.image} is not a PNG, JPEG or WebP")
    if item.suite.capability == "tooling" and item.case.expected_calls is None:
        raise SuiteError(f"{where}: field expected_calls: required for tooling ([] for no call)")
    if item.suite.capability == "tooling" and not item.tools:
        raise SuiteError(f"{where}: field tools: a tooling case needs tools")
    if item.suite.capability == "agentic":
        _check_agentic(item, where)


def _check_agentic(item: CapabilityCase, where: str) -> None:
    if item.case.steps is None:
        raise SuiteError(f"{where}: field steps: required for agentic ([] for no tool call)")
    if not item.tools:
        raise SuiteError(f"{where}: field tools: an agentic case needs tools")
    offered = {_tool_name(tool) for tool in item.tools}
    for number, step in enumerate(item.case.steps, start=1):
        named = [call.name for call in step.expected_calls] + [r.name for r in step.results]
        unknown = sorted(set(named) - offered)
        if unknown:
            raise SuiteError(f"{where}: step {number}: tools not offered: {', '.join(unknown)}")


def _tool_name(tool: JSON) -> str | None:
    function = tool.get("function", tool)
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) else None


def load_throughput_suite(path: Path) -> list[ThroughputCase]:
    """A generation grid; an embedding suite holds none (:func:`load_embedding_suite`)."""
    suite = _validate(ThroughputSuite, _read_json(path), path, None)
    if suite.kind == "embedding":
        return []
    return [_validate(ThroughputCase, raw, path, f"#{i}") for i, raw in enumerate(suite.cases)]


def load_embedding_suite(path: Path) -> list[EmbeddingCase]:
    """The embedding cases of a throughput suite of ``kind: embedding`` (else none)."""
    suite = _validate(ThroughputSuite, _read_json(path), path, None)
    if suite.kind != "embedding":
        return []
    return [_validate(EmbeddingCase, raw, path, f"#{i}") for i, raw in enumerate(suite.cases)]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise SuiteError(f"{path}: JSON nested too deeply") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read ({exc.strerror})") from None


# What vision cases may send: the formats every vision-capable server here accepts.
_IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def image_mime(data: bytes) -> str | None:
    """``image/png``, ``image/jpeg`` or ``image/webp`` from the file's own bytes, else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for sig, mime in _IMAGE_SIGNATURES.items() if data.startswith(sig)), None)


def _validate(model: type[Any], data: Any, path: Path, case: str | None) -> Any:
    assert issubclass(model, BaseModel)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, problem = first_problem(exc)
        where = f"{path}: case {case}" if case else f"{path}"
        raise SuiteError(f"{where}: field {field}: {problem}") from None


def contained(folder: Path, relative: str, case_id: str | None) -> Path:
    """Resolve a path from a suite file; it may not leave the suite's folder."""
    root = folder.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        who = f"case {case_id}: " if case_id else ""
        raise SuiteError(f"{folder}: {who}path {relative!r} leaves the suite folder")
    return target


@cache
def _environment() -> jinja2.Environment:
    # Prompts are plain text, not HTML, so no autoescape (reports escape on output);
    # the sandbox keeps a user's suite template from reaching Python internals.
    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def render(template: str, variables: JSON, where: str) -> str:
    try:
        return _environment().from_string(template).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise SuiteError(f"template {where}: {exc.message}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise SuiteError(f"template {where}: line {exc.lineno}: {exc.message}") from None
    except jinja2.exceptions.SecurityError as exc:
        raise SuiteError(f"template {where}: not allowed: {exc}") from None
    except Exception as exc:  # a template is user code: whatever it raises is its error
        raise SuiteError(f"template {where} raised {type(exc).__name__}: {exc}") from None
