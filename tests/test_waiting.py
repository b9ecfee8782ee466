"""Waiting and time (issue 14): long waits say what they wait for, `timeout_s` bounds a
whole request, and `--llmc-wait` on a frozen snapshot is refused at once.

Clocks and sleeps are fakes; the one real wait is a loopback server's own trickle.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import FakeSource
from plugin_helpers import USAGE_ERROR, Snapshots, output, run, write_config
from standin import StandIn

from llmc_checks import gate
from llmc_checks.config import PostHogSource as PostHogConfig
from llmc_checks.config import parse_config
from llmc_checks.gate import Gate, Options
from llmc_checks.model import RunRequest, SourceError
from llmc_checks.sources.posthog import PostHogSource
from llmc_checks.synth import Scenario, generate

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
DEPLOY = NOW - timedelta(hours=1)
KEY = "phx_wait_SECRET_0123456789"
PLAIN = RunRequest(level="trace", job=None, lookback=timedelta(days=14))
CONFIG = "version: 1\nsource: {snapshot: unused.jsonl}\nchecks: [{metric: noise_share, max: 50%}]\n"


class FakeTime:
    """Stands in for the `time` module the gate reads: monotonic() and sleep()."""

    def __init__(self, events: list[str]) -> None:
        self.t = 0.0
        self.events = events

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.events.append(f"sleep {seconds:g}")
        self.t += seconds


# -- the gate's --llmc-wait polls -------------------------------------------------------


def test_each_poll_says_what_why_and_when_before_it_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    fake = FakeTime(events)
    monkeypatch.setattr(gate, "make_source", lambda config, options, notify: FakeSource(2))
    config = parse_config(CONFIG, filename="checks.yaml", base_dir=Path("."))
    options = Options(after=DEPLOY, wait=timedelta(minutes=45))
    g = Gate(
        config, Path("checks.yaml"), options, sleep=fake.sleep, clock=fake.monotonic,
        notify=events.append,
    )  # fmt: skip
    assert g.outcome().error is None
    assert events == [
        "checks.yaml: poll 1: no trace-level run after the deploy; polling again in 1m "
        "(45m of --llmc-wait 45m left)",
        "sleep 60",
        "checks.yaml: poll 2: no trace-level run after the deploy; polling again in 1m "
        "(44m of --llmc-wait 45m left)",
        "sleep 60",
    ]


def test_the_last_poll_says_how_little_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    fake = FakeTime(events)
    monkeypatch.setattr(gate, "make_source", lambda config, options, notify: FakeSource(99))
    config = parse_config(CONFIG, filename="checks.yaml", base_dir=Path("."))
    options = Options(after=DEPLOY, wait=timedelta(seconds=90))
    g = Gate(
        config, Path("checks.yaml"), options, sleep=fake.sleep, clock=fake.monotonic,
        notify=events.append,
    )  # fmt: skip
    assert (g.outcome().error or "").endswith("(waited 1m30s, 3 polls)")
    assert events[2] == (
        "checks.yaml: poll 2: no trace-level run after the deploy; polling again in 30s "
        "(30s of --llmc-wait 1m30s left)"
    )
    assert events[3] == "sleep 30"
    assert len(events) == 4  # no line after the last poll: the error says it


# -- the live source's retries and backoff ----------------------------------------------

SMALL = generate(Scenario(seed=2, days=3, traces_per_day=40, max_samples=60))
DATA_NOW = max(r.window_end for r in SMALL.runs) + timedelta(hours=2)


@pytest.fixture(scope="module")
def _standin() -> Iterator[StandIn]:
    with StandIn(SMALL.rows, api_key=KEY, project_id=1) as s:
        yield s


@pytest.fixture
def standin(_standin: StandIn) -> StandIn:
    assert _standin.pending_faults() == []
    _standin.clear_log()
    return _standin


def live_source(
    url: str, events: list[str], *, timeout_s: float = 10.0, max_attempts: int = 4
) -> PostHogSource:
    config = PostHogConfig(host=url, project_id=1, api_key=KEY, timeout_s=timeout_s)
    return PostHogSource(
        config,
        sleep=lambda s: events.append(f"sleep {s:g}"),
        clock=lambda: DATA_NOW,
        rng=random.Random(7),
        max_attempts=max_attempts,
        notify=events.append,
    )


def test_a_retry_after_pause_is_announced(standin: StandIn) -> None:
    events: list[str] = []
    standin.inject("429", retry_after=7)
    live_source(standin.url, events).load(PLAIN)
    where = f"PostHog {standin.url.split('//')[1]} project 1"
    assert events == [
        f"{where}: query latest: PostHog rate-limited the query (429); retrying in 7.0 s, "
        "as its Retry-After asks (attempt 2 of 4)",
        "sleep 7",
    ]


def test_each_backoff_is_announced(standin: StandIn) -> None:
    events: list[str] = []
    standin.inject("503", times=2)
    live_source(standin.url, events).load(PLAIN)
    lines = [e for e in events if not e.startswith("sleep")]
    sleeps = [float(e.split()[1]) for e in events if e.startswith("sleep")]
    assert len(lines) == len(sleeps) == 2
    for attempt, (line, slept) in enumerate(zip(lines, sleeps, strict=True), start=2):
        assert line.endswith(
            f": query latest: PostHog answered 503; retrying in {slept:.1f} s, backing off "
            f"(attempt {attempt} of 4)"
        )
    # Each line comes before its sleep, so CI sees it while the job waits.
    assert [e.startswith("sleep") for e in events] == [False, True, False, True]


def test_no_line_when_nothing_is_waited_for(standin: StandIn) -> None:
    events: list[str] = []
    live_source(standin.url, events).load(PLAIN)
    assert events == []


def test_an_async_query_announces_its_polling(standin: StandIn) -> None:
    events: list[str] = []
    standin.inject("202", polls=2)
    live_source(standin.url, events).load(PLAIN)
    assert events[0].endswith(
        ": query latest runs asynchronously on PostHog; polling for its answer for up to 180 s"
    )
    assert events[1:] == ["sleep 0.5", "sleep 1", "sleep 2"]  # one line, not one a poll


# -- timeout_s bounds the whole request --------------------------------------------------

ANSWER = b'{"results": [], "columns": ["run_id"]}'


class Trickler:
    """A loopback HTTP server that sends its answer one byte every `interval` seconds.

    Each byte arrives well within a per-read timeout, so only a whole-request deadline
    can stop the client from waiting for all of it. `head` picks where the trickle
    starts: in the headers, or in the body after prompt headers.
    """

    def __init__(self, *, interval: float, head: bool) -> None:
        body = ANSWER
        headers = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        self.prompt, self.trickled = (b"", headers + body) if head else (headers, body)
        self.interval = interval
        self.stop = threading.Event()
        self.sent = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(5)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request (small: it fits in one read)
                conn.sendall(self.prompt)
                for byte in self.trickled:
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
                    self.sent += 1
            except OSError:
                return  # the client hung up: what a deadline does

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.server.close()


@pytest.mark.parametrize("head", [False, True], ids=["body", "headers"])
def test_a_trickling_server_cannot_outlast_the_timeout(head: bool) -> None:
    # 0.1 s a byte: the answer takes ~4 s (headers + body ~13 s), far past a 0.5 s timeout.
    trickler = Trickler(interval=0.1, head=head)
    events: list[str] = []
    try:
        source = live_source(trickler.url, events, timeout_s=0.5, max_attempts=1)
        started = time.monotonic()
        with pytest.raises(SourceError) as info:
            source.load(PLAIN)
        elapsed = time.monotonic() - started
    finally:
        trickler.close()
    assert str(info.value).endswith("query latest timed out after 0.5 s, 1 attempt")
    # Cut near the deadline: far fewer bytes went out than the whole answer.
    assert trickler.sent < len(trickler.trickled) // 2
    assert elapsed < 3.0  # loose: the answer alone would take over 4 s


def test_a_prompt_answer_is_not_cut(standin: StandIn) -> None:
    events: list[str] = []
    loaded = live_source(standin.url, events, timeout_s=5.0).load(PLAIN)
    assert loaded.latest.run_id == max(SMALL.runs, key=lambda r: r.window_end).run_id


# -- the plugin: a snapshot never waits; poll lines reach the terminal ----------------------


@pytest.mark.usefixtures("_clean_env")
def test_wait_on_a_snapshot_is_refused_at_once(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", snapshot=snaps.events)
    started = time.monotonic()
    result = run(
        pytester, "--llmc-config", config, "--llmc-after", "2026-01-01T00:00:00Z",
        "--llmc-wait", "45m",
    )  # fmt: skip
    assert time.monotonic() - started < 30  # at once, not after a 45-minute sleep
    assert result.ret == USAGE_ERROR
    text = output(result)
    assert "--llmc-wait polls PostHog for a new run, but this gate reads a snapshot" in text
    assert "drop --llmc-wait" in text


@pytest.mark.usefixtures("_clean_env")
def test_wait_with_llmc_snapshot_is_refused_too(
    pytester: pytest.Pytester, snaps: Snapshots
) -> None:
    source = "  posthog: {host: 'https://example.invalid', project_id: 1, api_key: k}\n"
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", source=source)
    result = run(
        pytester, "--llmc-config", config, "--llmc-snapshot", snaps.events,
        "--llmc-after", "2026-01-01T00:00:00Z", "--llmc-wait", "1m",
    )  # fmt: skip
    assert result.ret == USAGE_ERROR
    assert "this gate reads a snapshot" in output(result)


@pytest.mark.usefixtures("_clean_env")
def test_poll_lines_reach_the_terminal_live(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(gate, "time", FakeTime(events))
    monkeypatch.setattr(gate, "make_source", lambda config, options, notify: FakeSource(2))
    source = "  posthog: {host: 'https://example.invalid', project_id: 1, api_key: k}\n"
    config = write_config(pytester, "- {metric: noise_share, max: 50%}\n", source=source)
    result = run(
        pytester, "--llmc-config", config, "--llmc-after", "2026-11-22T11:00:00Z",
        "--llmc-wait", "10m",
    )  # fmt: skip
    assert result.ret == 0, output(result)
    lines = result.stdout.lines
    polls = [line for line in lines if line.startswith("llmc-checks: ")]
    assert polls == [
        f"llmc-checks: {config}: poll 1: no trace-level run after the deploy; "
        "polling again in 1m (10m of --llmc-wait 10m left)",
        f"llmc-checks: {config}: poll 2: no trace-level run after the deploy; "
        "polling again in 1m (9m of --llmc-wait 10m left)",
    ]
    assert events == ["sleep 60", "sleep 60"]
    # On lines of their own, not glued to the progress line, and not captured away.
    assert "Captured" not in result.stdout.str()
