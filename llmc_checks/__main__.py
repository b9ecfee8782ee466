"""`python -m llmc_checks`: the `llmc-checks` command, for when scripts are not on PATH."""

from llmc_checks.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
