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
