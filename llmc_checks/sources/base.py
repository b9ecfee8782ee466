"""The contract every source fulfils: a request in, the selected runs out."""

from __future__ import annotations

from typing import Protocol

from llmc_checks.model import BaselineRequest, Loaded, RunRequest

__all__ = ["BaselineRequest", "Loaded", "RunRequest", "Source"]


class Source(Protocol):
    def load(self, request: RunRequest) -> Loaded:
        """Select and load runs; raise SourceError / DataError, never return partial data."""
        ...

    def describe(self) -> str:
        """A short, secret-free description for reports ("snapshot demo.jsonl.gz")."""
        ...
