"""The fake servers' fixtures, for these tests with or without the lmbench plugin.

Imported rather than listed in ``pytest_plugins``: the plugin registers the
fixtures module itself, and pluggy refuses one module under two names.
"""

from __future__ import annotations

from pytest_lmbench.testing.fixtures import lmstudio_server, ollama_server

__all__ = ["lmstudio_server", "ollama_server"]
