"""Root conftest: kept thin. The project's tests drive the plugin through pytester."""

from __future__ import annotations

pytest_plugins = ["pytester"]
