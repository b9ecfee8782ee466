"""`python -m llmc_checks.config`: validate checks files, regenerate schema.json."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from llmc_checks.config.errors import ConfigError
from llmc_checks.config.load import load_config
from llmc_checks.config.models import Config
from llmc_checks.config.schema import SCHEMA_PATH, schema_text
from llmc_checks.units import counted

__all__ = ["SCHEMA_PATH", "main"]


def _check_files(config: Config, file: Path) -> None:
    """What validation alone cannot see: the snapshot the config reads must exist.

    (A `baseline: {file: ...}` may be missing: the first --llmc-update-baseline writes it.)
    """
    path = config.snapshot_path
    if path is not None and not path.is_file():
        problem = "does not exist" if not path.exists() else "is not a file"
        raise ConfigError(
            str(file), config.snapshot_position, "source.snapshot", f"{path} {problem}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmc_checks.config", description="Validate llmc-checks config files."
    )
    parser.add_argument(
        "--write-schema", action="store_true", help=f"regenerate {SCHEMA_PATH.name}"
    )
    parser.add_argument("files", nargs="*", type=Path, help="config files to validate")
    args = parser.parse_args(argv)
    if args.write_schema:
        SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
    status = 0
    for file in args.files:
        try:
            config = load_config(file)
            _check_files(config, file)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            status = 1
        else:
            print(f"{file}: ok, {counted(len(config.checks), 'check')}")
    if not args.write_schema and not args.files:
        parser.print_usage()
        status = 2
    return status
