"""Backend registry: option value -> the module whose ``create(options)`` makes it.

Built-in server types are in ``BACKENDS`` (:mod:`pytest_lmbench.vocabulary`);
installed distributions add theirs through the ``pytest_lmbench.backends`` entry
point group. Importing a backend is lazy: only the one a session uses is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from pytest_lmbench.backends.base import Backend, BackendOptions
from pytest_lmbench.errors import LmbenchError
from pytest_lmbench.vocabulary import (
    BACKEND_ENTRY_POINT_GROUP,
    BACKENDS,
    backend_names,
    installed_backends,
)

# name -> module; a new server type is one module and one line in the registry,
# which lives in pytest_lmbench.vocabulary so the option parsers can name it.
REGISTRY = BACKENDS

Create = Callable[[BackendOptions], Backend]


class UnknownBackend(LmbenchError):
    """No built-in, installed or hook-made server type has this name."""


def make_backend(name: str, options: BackendOptions) -> Backend:
    """The built-in or installed server type ``name``; raises :class:`UnknownBackend`."""
    return find_create(name)(options)


def find_create(name: str) -> Create:
    if name in REGISTRY:
        create: Create = importlib.import_module(REGISTRY[name]).create
        return create
    entry_point = installed_backends().get(name)
    if entry_point is None:
        raise UnknownBackend(unknown_message(name))
    return _as_create(name, entry_point.load())


def _as_create(name: str, target: object) -> Create:
    """An entry point names a module with ``create`` or the callable itself."""
    if isinstance(target, ModuleType):
        target = getattr(target, "create", None)
    if not callable(target):
        raise UnknownBackend(
            f"--lm-backend={name}: the {BACKEND_ENTRY_POINT_GROUP} entry point names "
            "neither a module with create(options) nor a callable"
        )
    create: Create = target
    return create


def unknown_message(name: str) -> str:
    """One line: what is known, and how a plugin adds a server type."""
    return (
        f"--lm-backend: unknown server type {name!r} (known: {', '.join(backend_names())}; "
        f"a plugin adds one with a {BACKEND_ENTRY_POINT_GROUP} entry point "
        "or the pytest_lmbench_make_backend hook)"
    )
