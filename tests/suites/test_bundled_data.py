"""The bundled suites in ``capability_suites/``: schema, templates, images, tools, counts.

Every case must validate, render, point at a real image whose answer chunk
matches, name tools and parameters that exist, and score 1.0 when the model
gives the canonical answer: data and scorers must agree.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jsonschema import Draft202012Validator

import capability_suites
from pytest_lmbench.backends.base import ToolCall
from pytest_lmbench.metrics.scoring import ScoringInput, quality_score, score_case
from pytest_lmbench.metrics.text import parse_number
from pytest_lmbench.suites import vision_images
from pytest_lmbench.suites.loader import (
    load_capability_suite,
    load_embedding_suite,
    load_throughput_suite,
)
from pytest_lmbench.suites.schema import (
    TASKS,
    CapabilitySuite,
    Case,
    ExpectedCall,
    ThroughputCase,
    ThroughputSuite,
)
from pytest_lmbench.testing.png import read_png_text

ROOT = Path(capability_suites.__file__).resolve().parent
SUITE_FILES = sorted(p for p in ROOT.glob("*/*.json") if p.parent.name != "throughput")
THROUGHPUT_FILES = sorted(ROOT.glob("throughput/*.json"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (capability, file stem) -> minimum number of cases.
MINIMUMS: dict[tuple[str, str], int] = {
    ("general_text", "qa"): 25,
    ("general_text", "summarization"): 10,
    ("general_text", "classification"): 10,
    ("reasoning", "logical"): 15,
    ("reasoning", "math"): 20,
    ("tooling", "function_call"): 25,
    ("agentic", "multi_step"): 20,
}
TOOL_KINDS = ("single", "multiple", "parallel", "nested", "typed", "no_call")
AGENTIC_KINDS = ("multi_step", "error", "no_call", "parallel", "any_order")


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _load(path: Path) -> tuple[CapabilitySuite, list[Case]]:
    suite = CapabilitySuite.model_validate(json.loads(path.read_text(encoding="utf-8")))
    return suite, [Case.model_validate(raw) for raw in suite.cases]


def _all_cases() -> list[tuple[Path, CapabilitySuite, Case]]:
    found = []
    for path in SUITE_FILES:
        suite, cases = _load(path)
        found += [(path, suite, case) for case in cases]
    return found


def _cases_of(capability: str) -> list[tuple[Path, CapabilitySuite, Case]]:
    return [item for item in _all_cases() if item[1].capability == capability]


def _render(folder: Path, template: str, variables: dict[str, Any]) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    source = (folder / template).read_text(encoding="utf-8")
    return env.from_string(source).render(**variables).strip()


# -- files and schema ---------------------------------------------------------------------


def test_every_capability_has_suite_files() -> None:
    folders = {p.parent.name for p in SUITE_FILES}
    assert folders == set(TASKS)
    assert [_rel(p) for p in THROUGHPUT_FILES] == [
        "throughput/embedding.json",
        "throughput/grid.json",
    ]


@pytest.mark.parametrize("path", SUITE_FILES, ids=_rel)
def test_suite_file_validates(path: Path) -> None:
    suite, cases = _load(path)
    assert suite.capability == path.parent.name
    assert suite.task == path.stem
    assert suite.task in TASKS[suite.capability]
    assert suite.template == f"{suite.capability}_{suite.task}.md"
    assert (path.parent / suite.template).is_file()
    assert cases


@pytest.mark.parametrize("path", SUITE_FILES, ids=_rel)
def test_project_loader_accepts_suite_file(path: Path) -> None:
    loaded = load_capability_suite(path)
    assert len(loaded) == len(_load(path)[1])


def test_embedding_cases() -> None:
    path = ROOT / "throughput" / "embedding.json"
    assert [c.id for c in load_embedding_suite(path)] == [
        "embed-pp64-b1",
        "embed-pp64-b8",
        "embed-pp64-b32",
    ]
    assert load_throughput_suite(path) == []  # no generation grid in it
    assert load_embedding_suite(ROOT / "throughput" / "grid.json") == []


def test_throughput_grid() -> None:
    path = ROOT / "throughput" / "grid.json"
    suite = ThroughputSuite.model_validate(json.loads(path.read_text(encoding="utf-8")))
    cases = [ThroughputCase.model_validate(raw) for raw in suite.cases]
    assert [c.id for c in cases] == [
        "pp512-tg128-c1",
        "pp2048-tg128-c1",
        "pp128-tg512-c1",
        "pp512-tg128-c4",
    ]
    assert [c.id for c in load_throughput_suite(path)] == [c.id for c in cases]


def test_case_ids_unique_across_tree() -> None:
    counts = Counter(case.id for _, _, case in _all_cases())
    assert [case_id for case_id, n in counts.items() if n > 1] == []


def test_minimum_counts() -> None:
    per_file: Counter[tuple[str, str]] = Counter(
        (suite.capability, suite.task) for _, suite, _ in _all_cases()
    )
    for key, minimum in MINIMUMS.items():
        assert per_file[key] >= minimum, key
    vision = {task: per_file[("vision", task)] for task in TASKS["vision"]}
    assert all(n >= 2 for n in vision.values()), vision
    assert sum(vision.values()) >= 12


def test_tooling_covers_every_kind() -> None:
    kinds = Counter(tag for _, _, case in _cases_of("tooling") for tag in case.tags)
    for kind in TOOL_KINDS:
        assert kinds[kind] >= 3, kind


def test_agentic_covers_every_kind() -> None:
    cases = list(_cases_of("agentic"))
    kinds = Counter(tag for _, _, case in cases for tag in case.tags)
    for kind in AGENTIC_KINDS:
        assert kinds[kind] >= 1, kind
    assert kinds["multi_step"] >= 5
    for _, _, case in cases:
        steps = case.steps or []
        # Every call a right model makes gets a scripted result; no-call cases have no step.
        assert ("no_call" in case.tags) == (not steps), case.id
        assert all(step.results for step in steps), case.id
        assert case.references, case.id
    parallel = [case for _, _, case in cases if "parallel" in case.tags]
    assert all(any(len(s.expected_calls) > 1 for s in case.steps or []) for case in parallel)


# -- templates ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", SUITE_FILES, ids=_rel)
def test_templates_render_every_case(path: Path) -> None:
    suite, cases = _load(path)
    for case in cases:
        prompt = _render(path.parent, suite.template, case.input)
        assert prompt, case.id
        assert "{{" not in prompt, case.id
        assert "{%" not in prompt, case.id
        for value in case.input.values():
            if isinstance(value, str):
                assert value in prompt, f"{case.id}: input not in the prompt"


def test_tooling_prompt_is_only_the_request() -> None:
    for path, suite, case in _cases_of("tooling"):
        assert _render(path.parent, suite.template, case.input) == case.input["request"]


def test_text_prompts_do_not_mention_images() -> None:
    # A text case that speaks of an image would be unanswerable (and the fake
    # servers answer "I cannot see any image" to it).
    words = ("image", "picture", "photo")
    for path, suite, case in _all_cases():
        if suite.capability != "vision":
            prompt = _render(path.parent, suite.template, case.input).lower()
            assert not any(w in prompt for w in words), case.id


# -- per-task content ------------------------------------------------------------------


def test_general_text_cases() -> None:
    for _, suite, case in _cases_of("general_text"):
        assert case.references, case.id
        assert all(r.strip() for r in case.references), case.id
        if suite.task == "qa":
            assert set(case.input) <= {"question", "context"}, case.id
        elif suite.task == "summarization":
            assert set(case.input) == {"text"}, case.id
            assert 80 <= len(case.input["text"].split()) <= 150, case.id
            assert 1 <= len(case.references) <= 2, case.id
        else:
            assert set(case.input) == {"text", "labels"}, case.id
            assert case.references == [case.references[0]], case.id
            assert case.references[0] in case.input["labels"], case.id


def test_reasoning_cases() -> None:
    letters = "ABCD"
    for _, suite, case in _cases_of("reasoning"):
        if suite.task == "logical":
            options = case.input.get("options")
            if options is None:
                assert case.references in (["yes"], ["no"]), case.id
            else:
                assert 2 <= len(options) <= 4, case.id
                assert len(case.references) == 1, case.id
                assert case.references[0] in letters[: len(options)], case.id
        else:
            values = {parse_number(ref) for ref in case.references}
            assert None not in values, case.id
            assert len(values) == 1, case.id


def test_math_has_fractions_decimals_and_money() -> None:
    tags = Counter(tag for _, _, case in _cases_of("reasoning") for tag in case.tags)
    assert tags["fraction"] >= 2
    assert tags["decimal"] >= 3
    assert tags["money"] >= 4
    assert tags["distractor_numbers"] >= 3


# -- vision images -----------------------------------------------------------------------


def test_vision_images_exist_and_carry_the_answer() -> None:
    from PIL import Image, PngImagePlugin

    for path, _, case in _cases_of("vision"):
        assert case.image is not None, case.id
        assert case.image.startswith("images/"), case.id
        image_path = path.parent / case.image
        data = image_path.read_bytes()
        assert data.startswith(PNG_SIGNATURE), case.id
        with Image.open(image_path) as image:
            assert isinstance(image, PngImagePlugin.PngImageFile), case.id
            assert 128 <= max(image.size) <= 256, case.id
            answer = image.text[vision_images.ANSWER_KEY]
        assert read_png_text(data)[vision_images.ANSWER_KEY] == answer, case.id
        assert case.references[0] == answer, case.id
        assert "question" in case.input, case.id


def test_every_spec_image_is_used_and_shipped() -> None:
    folder = ROOT / "vision" / "images"
    shipped = {p.name for p in folder.glob("*.png")}
    used = {Path(case.image or "").name for _, _, case in _cases_of("vision")}
    assert shipped == set(vision_images.SPECS_BY_FILENAME) == used


@pytest.mark.parametrize("spec", vision_images.SPECS, ids=lambda s: s.name)
def test_regenerated_images_match_shipped(spec: vision_images.ImageSpec, tmp_path: Path) -> None:
    from PIL import Image

    written = vision_images.write_png(spec, tmp_path)
    shipped_path = ROOT / "vision" / "images" / spec.filename
    with Image.open(shipped_path) as shipped, Image.open(written) as fresh:
        assert fresh.mode == shipped.mode == "RGB"
        assert fresh.size == shipped.size
        assert fresh.tobytes() == shipped.tobytes()
        assert fresh.info.get(vision_images.ANSWER_KEY) == spec.answer
    # Writing twice gives the same bytes (no timestamps).
    first = written.read_bytes()
    assert vision_images.write_png(spec, tmp_path).read_bytes() == first


def test_generator_main_writes_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vision_images.main([str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == set(vision_images.SPECS_BY_FILENAME)
    assert capsys.readouterr().out.count("wrote ") == len(vision_images.SPECS)


def test_text_glyphs_are_well_formed() -> None:
    for char, rows in vision_images.GLYPHS.items():
        assert len(rows) == vision_images.GLYPH_HEIGHT, char
        assert all(len(r) == vision_images.GLYPH_WIDTH and set(r) <= {"#", "."} for r in rows)
    with pytest.raises(ValueError, match="no glyph"):
        vision_images.render_pixels(
            vision_images.ImageSpec(
                "bad", "text", {"text": "hi", "color": "black", "background": "white"}, "hi"
            )
        )


# -- tools -------------------------------------------------------------------------------


def _tool_schemas(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {}
    for tool in tools:
        assert tool["type"] == "function"
        function = tool["function"]
        assert set(function) == {"name", "description", "parameters"}
        found[function["name"]] = function["parameters"]
    assert len(found) == len(tools), "duplicate tool names"
    return found


def _check_answer_keys(value: Any, schema: dict[str, Any], where: str) -> None:
    """Dict answers (nested objects) may only name properties of the schema."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, options in value.items():
            assert key in properties, f"{where}: unknown nested key {key!r}"
            for option in options:
                _check_answer_keys(option, properties[key], where)
    elif isinstance(value, list):
        for element in value:
            _check_answer_keys(element, schema.get("items", {}), where)


def _has_dict(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_dict(v) for v in value)
    return isinstance(value, dict)


def _canonical_arguments(call: ExpectedCall) -> dict[str, Any]:
    """The first acceptable value of every argument, dict answers resolved too."""

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v[0]) for k, v in value.items() if v and v[0] != ""}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return {k: resolve(v[0]) for k, v in call.arguments.items() if v and v[0] != ""}


def test_tool_definitions_are_valid_json_schema() -> None:
    for path in SUITE_FILES:
        suite, _ = _load(path)
        if suite.capability != "tooling":
            continue
        assert suite.tools
        for name, parameters in _tool_schemas(suite.tools).items():
            Draft202012Validator.check_schema(parameters)
            assert parameters["type"] == "object", name
            assert set(parameters["required"]) <= set(parameters["properties"]), name
            for prop, schema in parameters["properties"].items():
                assert "type" in schema, f"{name}.{prop}"
                assert "description" in schema, f"{name}.{prop}"


def test_expected_calls_name_real_tools_and_parameters() -> None:
    for _, suite, case in _cases_of("tooling"):
        assert case.expected_calls is not None, case.id
        schemas = _tool_schemas(case.tools if case.tools is not None else suite.tools or [])
        assert ("no_call" in case.tags) == (case.expected_calls == []), case.id
        if "parallel" in case.tags:
            assert len(case.expected_calls) >= 2, case.id
        elif case.expected_calls:
            assert len(case.expected_calls) == 1, case.id
        for call in case.expected_calls:
            assert call.name in schemas, f"{case.id}: no tool {call.name}"
            parameters = schemas[call.name]
            properties = parameters["properties"]
            for arg, options in call.arguments.items():
                assert arg in properties, f"{case.id}: {call.name} has no parameter {arg}"
                assert options, f"{case.id}: {arg} lists no acceptable value"
                for option in options:
                    _check_answer_keys(option, properties[arg], case.id)
                    if option != "" and not _has_dict(option):
                        # Every acceptable value is one the schema allows (enums, types).
                        Draft202012Validator(properties[arg]).validate(option)
            for required in parameters["required"]:
                wanted = call.arguments.get(required)
                assert wanted, f"{case.id}: {required} is required"
                assert "" not in wanted, f"{case.id}: {required} is required"
            # The canonical answer must itself satisfy the tool's schema.
            Draft202012Validator(parameters).validate(_canonical_arguments(call))


# -- data and scorers agree ----------------------------------------------------------------


def _canonical_output(task: str, case: Case) -> str:
    if task == "function_call":
        return "I can answer that without a tool."
    if task in ("logical", "math"):
        return f"Answer: {case.references[0]}"
    return case.references[0]


def test_canonical_answers_score_full_marks() -> None:
    for _, suite, case in _all_cases():
        tools = case.tools if case.tools is not None else suite.tools or []
        calls = [
            ToolCall(name=call.name, arguments_json=json.dumps(_canonical_arguments(call)))
            for call in case.expected_calls or []
        ]
        metrics = score_case(
            ScoringInput(
                suite.task,
                output=_canonical_output(suite.task, case),
                reasoning="",
                references=case.references,
                tool_calls=calls,
                expected_calls=case.expected_calls,
                tools=tools,
            )
        )
        assert quality_score(suite.task, metrics) == pytest.approx(1.0), (case.id, metrics)


def test_wrong_answers_score_low() -> None:
    # Guards against references so loose that anything passes.
    wrong = {"logical": "Answer: maybe", "math": "Answer: 123456", "vqa": "I am not sure."}
    for _, suite, case in _all_cases():
        if suite.task in ("logical", "math", "ocr", "counting", "vqa"):
            output = wrong.get(suite.task, "unknown 999")
            metrics = score_case(
                ScoringInput(suite.task, output=output, reasoning="", references=case.references)
            )
            assert quality_score(suite.task, metrics) == 0.0, case.id
