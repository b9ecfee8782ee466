"""The config language (DESIGN §2): YAML → strict, frozen pydantic models.

    cfg = load_config(Path("checks.yaml"))        # raises ConfigError, one line

Every problem becomes a `ConfigError` whose message is a single line pointing at
the offending node: `checks.yaml:14:5: checks[2].max: <what is wrong>`. Secrets
(the API key, any secret-looking environment variable) are never echoed.

Run `python -m llmc_checks.config --write-schema` after changing a model: the
JSON Schema generated from these models ships as `llmc_checks/schema.json`.

    models.py  the pydantic models     load.py    YAML, ${VAR}, validation
    errors.py  one-line ConfigError    schema.py  the JSON Schema    cli.py  the CLI
"""

from __future__ import annotations

from llmc_checks._net import is_loopback
from llmc_checks._yaml import Pos
from llmc_checks.config.errors import ConfigError
from llmc_checks.config.load import load_config, parse_config
from llmc_checks.config.models import (
    BaselineSpec,
    Change,
    Check,
    Config,
    FileBaseline,
    MatchConfig,
    MedianBaseline,
    PostHogSource,
    PreviousBaseline,
    ReportConfig,
    RunConfig,
    RunIdBaseline,
    SourceConfig,
    Where,
)
from llmc_checks.config.schema import SCHEMA_PATH, schema_text
from llmc_checks.units import format_duration, parse_duration, parse_percent

__all__ = [
    "SCHEMA_PATH",
    "BaselineSpec",
    "Change",
    "Check",
    "Config",
    "ConfigError",
    "FileBaseline",
    "MatchConfig",
    "MedianBaseline",
    "Pos",
    "PostHogSource",
    "PreviousBaseline",
    "ReportConfig",
    "RunConfig",
    "RunIdBaseline",
    "SourceConfig",
    "Where",
    "format_duration",
    "is_loopback",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_percent",
    "schema_text",
]
