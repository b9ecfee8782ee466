"""Reading the output through pytest (issue 14): `-q` shortens the llmc summary to its
table, and the warn check's pytest warning ends with its message, serially and under
pytest-xdist (whose controller formats the workers' warnings)."""

from __future__ import annotations

import re

import pytest
from plugin_helpers import (
    PASSING,
    PASSING_NAMES,
    QUIET,
    RELATIVE,
    RELATIVE_NAMES,
    WARNING,
    WARNING_NAME,
    Snapshots,
    output,
    run,
    table_header,
    table_row,
    write_config,
)

pytestmark = pytest.mark.usefixtures("_clean_env")


def test_q_shortens_the_summary_to_the_table(pytester: pytest.Pytester, snaps: Snapshots) -> None:
    config = write_config(pytester, PASSING + RELATIVE, snapshot=snaps.events)
    full = output(run(pytester, "--llmc-config", config))
    brief = output(run(pytester, "--llmc-config", config, "-q"))
    assert len(table_header(full)) == len(table_header(brief)) == 1
    for name in PASSING_NAMES + RELATIVE_NAMES:
        assert table_row(brief, name) == table_row(full, name)
    assert re.search(r"^run \S+ \(trace, window ", full, re.M)
    assert re.search(r"^baseline previous: ", full, re.M)
    assert re.search(r"^clusters vs baseline ", full, re.M)
    assert not re.search(r"^(run \S+ \(|baseline previous|clusters vs baseline)", brief, re.M)
    assert re.search(r"^5 pass$", brief, re.M)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_the_warn_checks_warning_ends_with_its_message(
    pytester: pytest.Pytester, snaps: Snapshots, workers: tuple[str, ...]
) -> None:
    config = write_config(pytester, PASSING + WARNING, snapshot=snaps.events)
    lines = config.read_text().splitlines()
    line = max(i for i, text in enumerate(lines) if text == "  - metric: noise_share") + 1
    assert lines[line] == "    max: 1%"  # `line` (1-based) is the warn check's first line
    result = pytester.runpytest_subprocess(*QUIET, "--llmc-config", config, *workers)
    out = output(result)
    summary = out[out.index("warnings summary") : out.index("-- Docs")].splitlines()
    # The test's id, then the location and the message: nothing under it (Python would
    # print the YAML line, "- metric: noise_share", which reads like a list item).
    assert summary[1] == f"checks.yaml::{WARNING_NAME}"
    assert re.fullmatch(
        rf"  \S*checks\.yaml:{line}: LlmcCheckWarning: {WARNING_NAME}: noise_share = "
        r"\d+\.\d%, expected ≤ 1%",
        summary[2],
    ), summary
    assert [s for s in summary[3:] if s.strip()] == []
