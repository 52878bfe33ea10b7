"""The collector: suite files become one ``pytest.Function`` per model and case.

Items are real Functions, so fixtures (model load, hardware sampler,
pytest-benchmark) work for them as for any test. Their ids are readable and
relative to the suite root, wherever the suites are installed:
``reasoning/math.json::math_003[qwen/qwen3-4b]``, so the store, baselines,
history and ``lmbench compare`` match a tox run with a run from a checkout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

from pytest_lmbench.collection.distribution import group_mark
from pytest_lmbench.errors import SuiteError
from pytest_lmbench.suites.loader import (
    CapabilityCase,
    load_capability_suite,
    load_embedding_suite,
    load_throughput_suite,
)
from pytest_lmbench.suites.schema import EmbeddingCase, ThroughputCase

Level = TypeVar("Level", int, float)
# Load levels from the command line: a list, "sweep", or None (the grid's own).
Levels = tuple[Level, ...] | Literal["sweep"] | None


@dataclass(frozen=True)
class ItemSpec:
    model: str
    capability: str
    case_id: str
    kind: Literal["capability", "throughput"]
    task: str | None = None
    capability_case: CapabilityCase | None = None
    throughput_case: ThroughputCase | None = None
    embedding_case: EmbeddingCase | None = None


SPEC_KEY = pytest.StashKey[ItemSpec]()
# Suite-relative file ids handed out so far, and the file each belongs to.
_FILE_IDS = pytest.StashKey[dict[str, Path]]()
# Set when suite files were found but no model was given (reported after collection).
SUITES_WITHOUT_MODEL = pytest.StashKey[bool]()


def capability_item(lmbench_context: Any, lmbench_spec: ItemSpec) -> None:
    """Run one capability case (the callable behind every capability item)."""
    from pytest_lmbench.runners.agentic import run_agentic
    from pytest_lmbench.runners.capability import run_capability

    case = lmbench_spec.capability_case
    assert case is not None
    runner = run_agentic if case.suite.capability == "agentic" else run_capability
    runner(lmbench_context, case)


def throughput_item(lmbench_context: Any, lmbench_spec: ItemSpec, lmbench_benchmark: Any) -> None:
    """Run one throughput grid point (the callable behind every throughput item)."""
    from pytest_lmbench.runners.throughput import run_throughput

    assert lmbench_spec.throughput_case is not None
    run_throughput(lmbench_context, lmbench_spec.throughput_case, lmbench_benchmark)


def embedding_item(lmbench_context: Any, lmbench_spec: ItemSpec, lmbench_benchmark: Any) -> None:
    """Run one embedding case (the callable behind every embedding item)."""
    from pytest_lmbench.runners.embedding import run_embedding

    assert lmbench_spec.embedding_case is not None
    run_embedding(lmbench_context, lmbench_spec.embedding_case, lmbench_benchmark)


class LmbenchItem(pytest.Function):
    """A Function whose location is its suite file and case, not the plugin's code."""

    def reportinfo(self) -> tuple[Any, int | None, str]:
        # Line 0: skip reports need a line number; the case is "in" its suite file.
        return self.path, 0, self.name


def suite_file_id(config: pytest.Config, path: Path) -> str:
    """``<capability>/<file>.json``: the file's id without the folder the suites live in.

    Two suite roots holding the same capability file (a user's ``general_text/qa.json``
    next to the bundled one) would share that id; the later one is prefixed
    with its root's folder name, so no two items share a nodeid.
    """
    taken = config.stash.setdefault(_FILE_IDS, {})
    file_id = f"{path.parent.name}/{path.name}"
    owner = taken.setdefault(file_id, path)
    if owner != path:
        file_id = f"{path.parent.parent.name}/{file_id}"
        taken.setdefault(file_id, path)
    return file_id


class SuiteFile(pytest.File):
    def __init__(
        self,
        *,
        models: tuple[str, ...],
        concurrency: Levels[int],
        rates: Levels[float] = None,
        embedding_models: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.models = models
        # Embedding cases become items only for these (the server lists them as such).
        self.embedding_models = embedding_models
        self.concurrency = concurrency
        self.rates = rates

    def collect(self) -> Iterator[pytest.Item]:
        if not self.models:
            self.config.stash[SUITES_WITHOUT_MODEL] = True
            return
        try:
            specs = list(self._specs())
        except SuiteError as exc:
            raise self.CollectError(str(exc)) from None
        for model in self.models:
            for spec in specs:
                if "embedding_case" in spec and model not in self.embedding_models:
                    continue
                yield self._item(ItemSpec(model=model, **spec))

    def _specs(self) -> Iterator[dict[str, Any]]:
        capability = self.path.parent.name
        if capability == "throughput":
            cases = load_throughput_suite(self.path)
            for case in with_load_levels(cases, self.concurrency, self.rates):
                yield {
                    "capability": capability,
                    "case_id": case.id,
                    "kind": "throughput",
                    "throughput_case": case,
                }
            for embedding in load_embedding_suite(self.path):
                yield {
                    "capability": capability,
                    "case_id": embedding.id,
                    "kind": "throughput",
                    "embedding_case": embedding,
                }
            return
        for item in load_capability_suite(self.path):
            yield {
                "capability": capability,
                "case_id": item.case.id,
                "kind": "capability",
                "task": item.suite.task,
                "capability_case": item,
            }

    def _item(self, spec: ItemSpec) -> LmbenchItem:
        callobj = throughput_item if spec.kind == "throughput" else capability_item
        if spec.embedding_case is not None:
            callobj = embedding_item
        item: LmbenchItem = LmbenchItem.from_parent(
            self, name=f"{spec.case_id}[{spec.model}]", callobj=callobj
        )
        item.stash[SPEC_KEY] = spec
        item.add_marker(pytest.mark.lmbench)
        item.add_marker(pytest.mark.capability(spec.capability))
        item.add_marker(getattr(pytest.mark, spec.capability))
        item.add_marker(group_mark(spec.model))
        item.extra_keyword_matches.update(
            {spec.model, spec.capability, spec.task or spec.capability}
        )
        return item


def with_load_levels(
    cases: list[ThroughputCase], concurrency: Levels[int], rates: Levels[float]
) -> list[ThroughputCase]:
    """``--lm-concurrency`` and ``--lm-rate`` replace each grid point's load, without duplicates.

    Given both, each grid point runs at every concurrency and at every rate.
    """
    if not concurrency and not rates:
        return cases
    out: dict[str, ThroughputCase] = {}
    for case in cases:
        for changed in _loads(case, concurrency, rates):
            out.setdefault(changed.id, changed)
    return list(out.values())


def _loads(
    case: ThroughputCase, concurrency: Levels[int], rates: Levels[float]
) -> Iterator[ThroughputCase]:
    if concurrency == "sweep":
        yield case.model_copy(update={"sweep": "concurrency"})
    elif concurrency:
        for level in concurrency:
            yield case.model_copy(update={"concurrency": level})
    if rates == "sweep":
        yield case.model_copy(update={"sweep": "rate"})
    elif rates:
        for rate in rates:
            yield case.model_copy(update={"rate": rate})
