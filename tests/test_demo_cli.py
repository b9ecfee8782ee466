"""`llmc-checks demo [DIR]`: the example config and demo snapshot, out of an installed
package, so the demo works without a clone (issue 14)."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmc_checks import cli
from llmc_checks.config import load_config
from llmc_checks.demo import CONFIG, SNAPSHOT, DemoExists, copy_demo
from llmc_checks.gate import Gate, Options

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "llmc_checks"
EXAMPLE = REPO / "checks.example.yaml"


def _outcome(config: Path) -> list[tuple[str, str, float | None]]:
    outcome = Gate(load_config(config), config, Options()).outcome()
    assert outcome.error is None, outcome.error
    return [(r.name, r.status, r.observed) for r in outcome.results]


def test_the_copied_demo_gates_like_the_repository_example(tmp_path: Path) -> None:
    config, snapshot = copy_demo(tmp_path / "demo")
    assert (config.name, snapshot.name) == ("checks.yaml", "snapshot.jsonl.gz")
    assert snapshot.read_bytes() == (PACKAGE / "demo" / "snapshot.jsonl.gz").read_bytes()
    # Away from the repository: the copied config finds its snapshot beside it.
    assert _outcome(config) == _outcome(EXAMPLE)


def test_the_packaged_example_is_the_repository_example() -> None:
    # One example, two homes (the README's command, and the package): only the header
    # comment and the snapshot path, relative to each file, may differ.
    def body(path: Path) -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if not line.startswith("# ") and "snapshot:" not in line]

    packaged = PACKAGE / "demo" / CONFIG
    assert body(packaged) == body(EXAMPLE)
    assert "  snapshot: snapshot.jsonl.gz" in packaged.read_text(encoding="utf-8").splitlines()


def test_existing_files_are_kept_unless_forced(tmp_path: Path) -> None:
    (tmp_path / CONFIG).write_text("mine\n", encoding="utf-8")
    with pytest.raises(DemoExists, match=r"checks\.yaml already exists \(--force overwrites it\)"):
        copy_demo(tmp_path)
    assert (tmp_path / CONFIG).read_text(encoding="utf-8") == "mine\n"
    assert not (tmp_path / SNAPSHOT).exists()
    copy_demo(tmp_path, force=True)
    assert (tmp_path / CONFIG).read_bytes() == (PACKAGE / "demo" / CONFIG).read_bytes()


def test_the_command_prints_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "new" / "folder"
    assert cli.main(["demo", str(target)]) == 0
    assert capsys.readouterr().out == (
        f"wrote {target / CONFIG} and {target / SNAPSHOT}\n"
        f"run the demo gate: pytest --llmc-config {target / CONFIG}\n"
    )
    assert cli.main(["demo", str(target)]) == 1
    assert capsys.readouterr().err == (
        f"llmc-checks demo: {target / CONFIG} already exists (--force overwrites it)\n"
    )


def test_the_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 0
    assert (tmp_path / "llmc-demo" / CONFIG).is_file()
    assert "pytest --llmc-config llmc-demo/checks.yaml" in capsys.readouterr().out


def test_a_folder_that_cannot_be_made_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    assert cli.main(["demo", str(tmp_path / "file" / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"llmc-checks demo: cannot write to {tmp_path / 'file' / 'sub'}: ")
    assert err.count("\n") == 1


def test_a_command_is_required_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert re.search(r"^\s+demo\s+copy the example", capsys.readouterr().out, re.M)


def test_python_dash_m_runs_the_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmc_checks", "demo", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / SNAPSHOT).is_file()


def test_the_wheel_carries_the_command_and_the_demo() -> None:
    # Read from pyproject.toml, not the installed metadata: an editable install made
    # before the entry point existed would not show it.
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    scripts = re.search(r"^\[project\.scripts\]\n((?:.+\n)+)", text, re.M)
    assert scripts is not None
    assert 'llmc-checks = "llmc_checks.cli:main"' in scripts[1].splitlines()
    data = re.search(r"^\[tool\.setuptools\.package-data\]\nllmc_checks = \[(.*)\]$", text, re.M)
    assert data is not None
    patterns = re.findall(r'"([^"]+)"', data[1])
    for name in (f"demo/{CONFIG}", f"demo/{SNAPSHOT}"):
        assert (PACKAGE / name).is_file()
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
