"""The contract every source fulfils: a request in, the selected runs out.

The request and answer types (RunRequest, BaselineRequest, Loaded) live in model.py.
"""

from __future__ import annotations

from typing import Protocol

from llmc_checks.model import Loaded, RunRequest

__all__ = ["PostHogSettings", "Source"]


class Source(Protocol):
    def load(self, request: RunRequest) -> Loaded:
        """Select and load runs; raise SourceError / DataError, never return partial data."""
        ...

    def describe(self) -> str:
        """A short, secret-free description for reports ("snapshot demo.jsonl.gz")."""
        ...


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class PostHogSettings(Protocol):
    """What the live source reads of its settings (the config's `source.posthog`).

    A protocol, so sources/ need not import the config package (nor it them).
    """

    @property
    def host(self) -> str: ...
    @property
    def project_id(self) -> int: ...
    @property
    def api_key(self) -> _Secret: ...
    @property
    def timeout_s(self) -> float: ...
