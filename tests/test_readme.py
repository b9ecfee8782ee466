"""The README is the reference users read: keep it true to the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmc_checks.metrics_catalog import METRICS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _ci_test_command() -> str:
    lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.strip()]
    return lines[-1].strip()


def test_the_readme_test_command_is_what_ci_runs() -> None:
    command = _ci_test_command()
    assert command.startswith("python -m ruff check .")
    # The opening block's second command ends with exactly the CI command.
    opening = README[: README.index("## How it works")]
    assert f"&& {command}" in opening


def test_the_readme_opens_with_the_demo_gate() -> None:
    opening = README[: README.index("## How it works")]
    assert "pytest --llmc-config checks.example.yaml" in opening
    assert (ROOT / "checks.example.yaml").is_file()


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_is_documented_with_its_description(name: str) -> None:
    info = METRICS[name]
    row = re.search(rf"^\| `{name}` \| (\w+) \| (\w+) \| (.*) \|$", README, re.M)
    assert row is not None, f"{name} missing from the README's metric table"
    assert row.group(1) == info.scope
    assert row.group(2) == info.unit
    assert info.description.replace("$ai_total_items_analyzed", "`$ai_total_items_analyzed`") in (
        row.group(3)
    )


def test_every_option_is_documented() -> None:
    plugin = (ROOT / "llmc_checks" / "plugin.py").read_text()
    options = set(re.findall(r'"(--llmc-[a-z-]+)"', plugin))
    assert len(options) >= 10
    for option in options:
        env = "LLMC_" + option.removeprefix("--llmc-").replace("-", "_").upper()
        assert re.search(rf"^\| `{option}[^`]*` \| `{env}` \|", README, re.M), option


def _schema_keys(node: object, defs: dict[str, object], prefix: str = "") -> set[str]:
    """Dotted config keys from the shipped JSON Schema."""
    keys: set[str] = set()
    if not isinstance(node, dict):
        return keys
    if "$ref" in node:
        return _schema_keys(defs[str(node["$ref"]).rsplit("/", 1)[-1]], defs, prefix)
    for branch in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(branch, []):
            keys |= _schema_keys(sub, defs, prefix)
    if "items" in node:
        keys |= _schema_keys(node["items"], defs, prefix + "[]")
    for name, sub in node.get("properties", {}).items():
        key = f"{prefix}.{name}" if prefix else name
        keys.add(key)
        keys |= _schema_keys(sub, defs, key)
    return keys


def test_every_config_key_is_documented() -> None:
    schema = json.loads((ROOT / "llmc_checks" / "schema.json").read_text())
    keys = _schema_keys(schema, schema.get("$defs", {}))
    assert {"version", "source.posthog.api_key", "checks[].where.min_size"} <= keys
    for key in sorted(keys):
        leaf = key.rsplit(".", 1)[-1].removesuffix("[]")
        # A parent key counts as documented by its documented children (`run.level`).
        spellings = (f"`{key}`", f"`{key}[]`", f"`{leaf}`", f"`{key}.", f"`{key}[].")
        assert any(text in README for text in spellings), key


def _code_block_after(marker: str) -> list[str]:
    """The lines of the first fenced block after `marker` in the README."""
    start = README.index("```\n", README.index(marker)) + 4
    return README[start : README.index("```", start)].splitlines()


def _demo_table(config: Path, snapshot: Path | None = None) -> list[str]:
    """What the terminal summary prints for `config` over the demo snapshot, up to its
    verdict counts (the pairing list follows a blank line)."""
    from llmc_checks import report
    from llmc_checks.config import load_config
    from llmc_checks.gate import Gate, Options

    outcome = Gate(load_config(config), config, Options(snapshot=snapshot)).outcome()
    text = report.terminal(outcome, range(len(outcome.results)))
    return text.split("\n\n")[0].splitlines()


def test_the_quick_start_table_is_what_the_demo_prints() -> None:
    shown = _code_block_after("The demo prints a table like this")
    assert shown == _demo_table(ROOT / "checks.example.yaml")


# The checks of the "The terminal table" excerpt, over the demo snapshot.
_EXCERPT_CHECKS = """\
  - metric: noise_share
    max: 25%
  - metric: avg_cost_usd
    max: 0.12
    where: {min_size: 20}
  - metric: error_rate
    max: 10%
    confidence: 0.95
  - metric: error_rate
    max_increase: 0.02
  - metric: p95_latency_s
    max_increase: 20%
    severity: warn
"""


def test_the_terminal_table_excerpt_is_what_the_gate_prints(tmp_path: Path) -> None:
    example = (ROOT / "checks.example.yaml").read_text(encoding="utf-8")
    config = tmp_path / "checks.yaml"
    config.write_text(example[: example.index("checks:\n") + 8] + _EXCERPT_CHECKS, "utf-8")
    real = _demo_table(config, ROOT / "llmc_checks" / "demo" / "snapshot.jsonl.gz")
    shown = _code_block_after("### The terminal table")
    # The excerpt shortens the run header with "…"; every other line is as printed.
    head = real[0]
    for piece in shown[0].split("…"):
        assert piece in head, piece
        head = head[head.index(piece) + len(piece) :]
    assert shown[1:] == real[1:]
