"""The JSON Schema that ships with the package, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmc_checks.config.models import Config

SCHEMA_PATH = Path(__file__).parent.parent / "schema.json"


def schema_text() -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "llmc-checks config",
        **{k: v for k, v in _without_null(Config.model_json_schema()).items() if k != "title"},
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def _without_null(node: Any) -> Any:
    """The schema without pydantic's `null` branches: a key left empty (YAML null) is an
    error in the models (an optional key is left out instead), so the editor flags it too."""
    if isinstance(node, list):
        return [_without_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _without_null(v) for k, v in node.items()}
    if "anyOf" in out:
        options = [o for o in out["anyOf"] if o != {"type": "null"}]
        if len(options) < len(out["anyOf"]):
            out.pop("anyOf")
            if out.get("default", ...) is None:
                del out["default"]
            out = {**options[0], **out} if len(options) == 1 else {"anyOf": options, **out}
    return out
