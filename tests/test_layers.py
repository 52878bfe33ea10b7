"""The package's shape: every import points down, no import circle, no module over 500 lines.

The layer order lives in ``pyproject.toml`` (``[tool.importlinter]``) and is
checked here with import-linter, so it cannot be forgotten like a linter one
must remember to run. A module that imports its own package (``from
pytest_lmbench.testing import X`` inside ``testing/``) is a circle through
``__init__`` that import-linter's sibling contract does not see; grimp's graph
finds it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pytest_lmbench"
PYPROJECT = ROOT / "pyproject.toml"
MAX_LINES = 500

# Prints one import circle of the package found on sys.path[0] as JSON (null: none).
_FIND_CIRCLE = """
import json, sys
import grimp

graph = grimp.build_graph("pytest_lmbench", cache_dir=None)

def circle_from(start, path, on_path, done):
    for imported in sorted(graph.find_modules_directly_imported_by(start)):
        if imported in on_path:
            return path[path.index(imported):] + [imported]
        if imported not in done:
            path.append(imported); on_path.add(imported)
            found = circle_from(imported, path, on_path, done)
            if found:
                return found
            path.pop(); on_path.discard(imported); done.add(imported)
    return None

done = set()
for module in sorted(graph.modules):
    if module not in done:
        found = circle_from(module, [module], {module}, done)
        if found:
            print(json.dumps(found)); sys.exit(0)
        done.add(module)
print("null")
"""


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contracts from pyproject.toml, on the package inside ``where``."""
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, no_cache=True, no_logo=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=where, capture_output=True, text=True, timeout=120
    )


def find_circle(where: Path) -> list[str] | None:
    script = f"import sys; sys.path.insert(0, {str(where)!r})\n" + _FIND_CIRCLE
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=where, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    circle: list[str] | None = json.loads(done.stdout)
    return circle


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the package to break on purpose; ``tmp_path`` goes first on sys.path."""
    shutil.copytree(PACKAGE, tmp_path / "pytest_lmbench", ignore=shutil.ignore_patterns("*.pyc"))
    return tmp_path


def test_every_import_points_down_and_no_package_has_a_circle() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_no_module_imports_itself_back() -> None:
    assert find_circle(ROOT) is None


def test_an_upward_import_breaks_the_layers(package_copy: Path) -> None:
    # config is at the bottom: it may not know the session that uses it.
    upward = package_copy / "pytest_lmbench" / "config" / "upward.py"
    upward.write_text("from pytest_lmbench.session.state import LmbenchSession\n")
    done = lint_imports(package_copy)
    assert done.returncode == 1
    assert "pytest_lmbench.config.upward -> pytest_lmbench.session.state" in done.stdout


def test_a_circle_between_siblings_is_found(package_copy: Path) -> None:
    sampling = package_copy / "pytest_lmbench" / "sampling"
    (sampling / "circle_a.py").write_text("from pytest_lmbench.sampling import circle_b\n")
    (sampling / "circle_b.py").write_text("from pytest_lmbench.sampling import circle_a\n")
    done = lint_imports(package_copy)
    assert done.returncode == 1
    assert "No cycles are allowed in pytest_lmbench.sampling." in done.stdout


def test_a_circle_through_a_package_init_is_found(package_copy: Path) -> None:
    png = package_copy / "pytest_lmbench" / "testing" / "png.py"
    png.write_text(png.read_text() + "\nfrom pytest_lmbench.testing import FakeModel\n")
    circle = find_circle(package_copy)
    assert circle is not None
    assert circle[0] == circle[-1]
    assert {"pytest_lmbench.testing", "pytest_lmbench.testing.png"} <= set(circle)


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_untyped_dicts_stay_rare() -> None:
    """``dict[str, Any]`` below 5 per 1,000 lines outside the test servers (issue 20).

    Data with a known shape has a type (``records``); free-form JSON says so with
    ``records.JSON``.
    """
    code = [p for p in PACKAGE.rglob("*.py") if "testing" not in p.relative_to(PACKAGE).parts]
    texts = [p.read_text(encoding="utf-8") for p in code]
    untyped = sum(text.count("dict[str, Any]") for text in texts)
    lines = sum(len(text.splitlines()) for text in texts)
    assert untyped / lines * 1000 < 5, f"{untyped} in {lines} lines"
