"""A pytest fixture failing any test during which a stand-in saw an unbounded scan.

    from standin.checks import bounded_scans  # noqa: F401  (autouse in that module)

PostHog flags a scan of the whole `events` history and stops API queries at 10 s: every
SELECT reading `events` must bound `timestamp` from below and name its `event`s. The
stand-in records each one that does not (and each call whose arity it cannot check) in
`server.OFFENCES`; this fixture turns them into a test failure, also for queries a
module-scoped fixture sent before the test (they fail the first test after them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import OFFENCES


@pytest.fixture(autouse=True)
def bounded_scans() -> Iterator[None]:
    yield
    found = list(OFFENCES)
    OFFENCES.clear()
    if found:
        pytest.fail("the stand-in saw queries PostHog would flag:\n" + "\n".join(found))
