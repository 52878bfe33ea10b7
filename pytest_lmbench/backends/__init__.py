"""Backend registry: option value -> the module whose ``create(options)`` makes it.

Importing a backend is lazy: only the one a session uses is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pytest_lmbench.backends.base import Backend, BackendOptions
from pytest_lmbench.vocabulary import BACKENDS

# name -> module; a new server type is one module and one line in the registry,
# which lives in pytest_lmbench.vocabulary so the option parsers can name it.
REGISTRY = BACKENDS


def make_backend(name: str, options: BackendOptions) -> Backend:
    create: Callable[[BackendOptions], Backend] = importlib.import_module(REGISTRY[name]).create
    return create(options)
