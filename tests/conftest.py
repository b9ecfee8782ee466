"""Fixtures shared across test modules (helpers live in helpers.py and plugin_helpers.py)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from plugin_helpers import Snapshots


@pytest.fixture(scope="module")
def snaps(tmp_path_factory: pytest.TempPathFactory) -> Snapshots:
    """The plugin tests' seeded snapshots, generated once per module."""
    from plugin_helpers import make_snapshots  # only the plugin tests pay for its imports

    return make_snapshots(tmp_path_factory.mktemp("llmc-snapshots"))


@pytest.fixture
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs must not see the outer CI's LLMC_* settings or step summary."""
    for name in list(os.environ):
        if name.startswith("LLMC_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
