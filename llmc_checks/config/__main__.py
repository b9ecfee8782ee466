"""`python -m llmc_checks.config ...`: see `cli.py`."""

from llmc_checks.config.cli import main

if __name__ == "__main__":  # importing this module (pkgutil.walk_packages) runs nothing
    raise SystemExit(main())
