"""The package's layering (DESIGN §3), as import-linter contracts in pyproject.toml.

Lower layers never import upper ones, config/ and sources/ don't know each other,
renderers don't import the gate, and no sibling modules import each other in a cycle.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def lint_imports(cwd: Path, package_root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with pyproject.toml's contracts, over the package under `package_root`."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from importlinter.cli import lint_imports; "
        "raise SystemExit(lint_imports(config_filename='pyproject.toml', no_cache=True, "
        "no_logo=True))"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(package_root)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_package_keeps_its_import_contracts() -> None:
    result = lint_imports(REPO, REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("model.py", "from llmc_checks import gate"),  # the bottom layer imports the top
        ("report/cells.py", "from llmc_checks import gate"),  # a renderer imports the gate
        ("config/models.py", "from llmc_checks.sources import snapshot"),  # config ⇄ sources
    ],
)
def test_an_upward_import_breaks_a_contract(tmp_path: Path, module: str, upward: str) -> None:
    copy = tmp_path / "llmc_checks"
    shutil.copytree(REPO / "llmc_checks", copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{upward}\n", encoding="utf-8")
    result = lint_imports(tmp_path, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
