"""The README's option table is the options table: every option, ini key, variable and help."""

from __future__ import annotations

from pathlib import Path

from pytest_lmbench.config.table import SPECS

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> dict[str, list[str]]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `--lm-"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            flag = cells[0].strip("`").split()[0]
            rows[flag.split("/")[0].rstrip("`")] = cells
    return rows


def test_every_option_is_in_the_readme_with_its_ini_key_variables_and_help() -> None:
    rows = readme_rows()
    flags = {spec.flag for spec in SPECS}
    assert set(rows) == flags, f"README option table differs: {set(rows) ^ flags}"
    for spec in SPECS:
        cells = rows[spec.flag]
        assert cells[1] == f"`{spec.name}`", spec.flag
        assert cells[2] == f"`{', '.join(spec.envs)}`", spec.flag
        assert cells[4] == spec.help, spec.flag
