"""The JSON Schema that ships with the package, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path

from llmc_checks.config.models import Config

SCHEMA_PATH = Path(__file__).parent.parent / "schema.json"


def schema_text() -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "llmc-checks config",
        **{k: v for k, v in Config.model_json_schema().items() if k != "title"},
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
