"""llmc-checks: gate CI on PostHog LLM-analytics clustering runs.

Kept import-free on purpose: pytest loads this package through the ``pytest11``
entry point on every run, and a user without ``--llmc-config`` should pay nothing.
"""

__version__ = "0.1.0"
