"""The gate's own loop: --llmc-after / --llmc-wait polling, with a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import FakeSource

from llmc_checks import gate
from llmc_checks.config import parse_config
from llmc_checks.gate import Gate, Options
from llmc_checks.model import Loaded, RunRequest

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
DEPLOY = NOW - timedelta(hours=1)
CONFIG = (
    "version: 1\nsource: {snapshot: unused.jsonl}\nchecks:\n  - metric: noise_share\n    max: 50%\n"
)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def _gate(
    monkeypatch: pytest.MonkeyPatch, source: FakeSource, clock: FakeClock, wait: timedelta | None
) -> Gate:
    monkeypatch.setattr(gate, "make_source", lambda config, options, notify: source)
    config = parse_config(CONFIG, filename="checks.yaml", base_dir=Path("."))
    options = Options(after=DEPLOY, wait=wait)
    return Gate(config, Path("checks.yaml"), options, sleep=clock.sleep, clock=clock)


def test_waits_politely_until_a_run_after_the_deploy_appears(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, clock = FakeSource(misses=3), FakeClock()
    outcome = _gate(monkeypatch, source, clock, timedelta(minutes=45)).outcome()
    assert [r.status for r in outcome.results] == ["pass"]
    assert len(source.requests) == 4  # three misses, then the run
    assert all(r.after == DEPLOY for r in source.requests)
    assert clock.sleeps == [60.0, 60.0, 60.0]  # one poll a minute


def test_gives_up_when_the_wait_is_over_and_says_how_long_it_waited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, clock = FakeSource(misses=1000), FakeClock()
    outcome = _gate(monkeypatch, source, clock, timedelta(minutes=2, seconds=30)).outcome()
    assert [r.status for r in outcome.results] == ["error"]
    assert outcome.error is not None
    assert outcome.error.startswith("no trace-level run after the deploy (waited 2m30s, ")
    # Polls at 0, 60, 120 and 150 s: the last sleep is cut to the time left.
    assert clock.sleeps == [60.0, 60.0, 30.0]
    assert len(source.requests) == 4
    assert "4 polls" in outcome.error


def test_without_wait_a_missing_run_is_an_error_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    source, clock = FakeSource(misses=1), FakeClock()
    outcome = _gate(monkeypatch, source, clock, None).outcome()
    assert [r.status for r in outcome.results] == ["error"]
    assert clock.sleeps == [] and len(source.requests) == 1


KEY = "phx_gate_SECRET_0123456789abcdef"


class LeakySource(FakeSource):
    """A bug deep in a client library whose message holds the key, upper-cased and cut."""

    def load(self, request: RunRequest) -> Loaded:
        raise RuntimeError(f"header {KEY.upper()} invalid near {KEY[:12]}")


def test_an_unexpected_error_never_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "version: 1\nsource:\n  posthog: {host: https://eu.posthog.com, project_id: 1, "
        f"api_key: {KEY}}}\nchecks:\n  - metric: noise_share\n    max: 50%\n"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=Path("."))
    monkeypatch.setattr(gate, "make_source", lambda *a, **k: LeakySource(0))
    outcome = Gate(config, Path("checks.yaml"), Options()).outcome()
    assert outcome.error is not None and "internal error: RuntimeError" in outcome.error
    shown = [outcome.error, *(r.message for r in outcome.results)]
    assert not any(KEY[:8].lower() in s.lower() or KEY[-8:].lower() in s.lower() for s in shown)
    assert "header *** invalid near ***" in outcome.error
