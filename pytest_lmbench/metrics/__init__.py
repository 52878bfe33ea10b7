"""Scorers, the metric registry, weights, statistics and timing.

Importing the package registers the built-in metrics, so they are registered
before any a conftest or plugin adds (a case reports them first), and whoever
reads the registry finds them there.
"""

from __future__ import annotations

from pytest_lmbench.metrics import builtin

__all__ = ["builtin"]
