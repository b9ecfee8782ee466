"""`python -m llmc_checks.synth ...`: see `cli.py`."""

from llmc_checks.synth.cli import main

if __name__ == "__main__":  # importing this module (pkgutil.walk_packages) runs nothing
    raise SystemExit(main())
