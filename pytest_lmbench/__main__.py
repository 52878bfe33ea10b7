"""``python -m pytest_lmbench``: the ``lmbench`` command."""

from __future__ import annotations

from pytest_lmbench.cli import main

raise SystemExit(main())
