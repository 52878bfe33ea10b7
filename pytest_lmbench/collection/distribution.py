"""pytest-xdist: all items of one model run on one worker, so each model loads once.

Every item that needs a model carries an ``xdist_group`` mark named after it.
xdist's own loadgroup reads that mark through a ``@group`` suffix it writes
into worker nodeids, which pytest 9.2 silently ignores (pytest-xdist #1386).
So the controller does not rely on it: its scheduler also finds the model in
the nodeid's ``[...]`` part, which it knows from ``--lm-model``. ``-n`` alone
(``--dist load``) is switched to that scheduler; another ``--dist`` is kept,
with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

SWITCHED_NOTE = "lmbench: -n: items of one model run on one worker (--dist loadgroup)"
# Modes that keep every item of one group on one worker; "no" is a plain run.
GROUPED = ("loadgroup", "no")
NOTE_KEY = pytest.StashKey[str]()


def group_name(model: str) -> str:
    """The model key, minus the characters xdist's loadgroup reads in nodeids."""
    return re.sub(r"[@\[\]]", "_", model)


def group_mark(model: str) -> pytest.MarkDecorator:
    return pytest.mark.xdist_group(group_name(model))


def plain_nodeid(item: pytest.Item) -> str:
    """The item's nodeid without the ``@group`` suffix loadgroup may append on workers."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    suffix = "@" + "_".join(sorted(names))
    if names and item.nodeid.endswith(suffix):
        return item.nodeid[: -len(suffix)]
    return item.nodeid


def model_in_nodeid(nodeid: str, models: Sequence[str]) -> str | None:
    """The model a nodeid's last ``[...]`` names, alone or as one ``-``-joined parameter id."""
    _head, sep, tail = nodeid.rpartition("[")
    if not sep or not tail.endswith("]"):
        return None
    ids = tail[:-1]
    for key in sorted(models, key=len, reverse=True):
        if ids == key or ids.startswith(f"{key}-") or ids.endswith(f"-{key}") or f"-{key}-" in ids:
            return key
    return None


def configure(config: pytest.Config, models: Sequence[str]) -> None:
    """On the xdist controller, with models: schedule each model's items on one worker."""
    if not config.pluginmanager.hasplugin("xdist"):
        # The mark is on every item; --strict-markers must accept it without xdist too.
        config.addinivalue_line("markers", "xdist_group(name): used by pytest-xdist")
    if not models or config.option.collectonly or hasattr(config, "workerinput"):
        return
    if not getattr(config.option, "tx", None):
        return  # no xdist, or -n 0
    dist = config.option.dist
    if dist == "load":
        config.option.dist = "loadgroup"
        config.stash[NOTE_KEY] = SWITCHED_NOTE
    elif dist not in GROUPED:
        config.issue_config_time_warning(
            pytest.PytestWarning(
                f"lmbench: --dist {dist} may run one model's items on several workers, "
                "each loading the model; use --dist loadgroup (the default with -n)"
            ),
            stacklevel=2,
        )
    if config.option.dist == "loadgroup":
        config.pluginmanager.register(_SchedulerHook(tuple(models)), "lmbench-xdist")


def header_lines(config: pytest.Config) -> list[str]:
    note = config.stash.get(NOTE_KEY, None)
    return [note] if note else []


class _SchedulerHook:
    """Registered only under xdist: pytest_xdist_make_scheduler is an xdist hook."""

    def __init__(self, models: tuple[str, ...]) -> None:
        self.models = models

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        from xdist.scheduler import LoadGroupScheduling

        models = self.models

        class ModelGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                scope: str = super()._split_scope(nodeid)
                if scope != nodeid:
                    return scope  # xdist wrote an xdist_group into the nodeid
                key = model_in_nodeid(nodeid, models)
                return group_name(key) if key is not None else nodeid

        return ModelGroupScheduling(config, log)
