"""Evidence: the items behind a cluster's verdict, picked, valued and linked.

Hand-built runs whose per-item numbers are worked out here by hand; the links are
compared with PostHog's own URL scheme (ClusterTraceList.tsx + urls.aiObservabilityTrace).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from helpers import llmc_event, llmc_run_event, llmc_write_jsonl
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from llmc_checks import metrics
from llmc_checks.config import parse_config
from llmc_checks.gate import Gate, Options, build_request
from llmc_checks.model import ItemValues, Member
from llmc_checks.report import json_document
from llmc_checks.report import markdown as markdown_report
from llmc_checks.results import CheckResult, ClusterRow, Outcome
from llmc_checks.sources.posthog import trace_url

Row = dict[str, Any]
RUN = "1_trace_20261115_001503"
BASE = "https://eu.posthog.com/project/42"
T0 = "2026-11-10T10:00:00.000000+00:00"


# ---------------------------------------------------------------------------
# Picking: pure, on hand-built members


def m(
    item: str, rank: int | None, cost: float = 0.0, latency: float = 0.0, errors: int = 0
) -> Member:
    return Member(item, rank=rank, values=ItemValues(cost=cost, latency=latency, errors=errors))


def test_representatives_are_the_lowest_ranks_ties_by_id_unranked_last() -> None:
    members = [m("e", None), m("d", 2), m("c", 0), m("b", 2), m("a", 1)]
    assert [x.item_id for x in metrics.representatives(members, 4)] == ["c", "a", "b", "d"]
    assert [x.item_id for x in metrics.representatives(members, 9)] == ["c", "a", "b", "d", "e"]


def test_worst_items_are_the_largest_values_above_zero_ties_by_id() -> None:
    members = [m("z", 0, cost=0.5), m("y", 1, cost=0.0), m("x", 2, cost=0.5), m("w", 3, cost=0.9)]
    assert [x.item_id for x in metrics.worst(members, "cost", 3)] == ["w", "x", "z"]
    # An item without a positive value is never "the worst" (y costs nothing).
    assert [x.item_id for x in metrics.worst(members, "cost", 9)] == ["w", "x", "z"]
    # Unvalued items (no AI event in the window) are never picked as worst.
    assert metrics.worst([Member("u", rank=0)], "cost", 3) == []


def test_three_items_are_two_worst_then_one_representative() -> None:
    members = [
        m("c0", 0),
        m("c1", 1, errors=1),
        m("c2", 2),
        m("c3", 3, errors=3),
        m("c4", 4, errors=1),
    ]
    picked = metrics.pick_evidence(members, "errors", 3)
    assert [(x.item_id, why) for x, why in picked] == [
        ("c3", "errored"),  # 3 error events
        ("c1", "errored"),  # 1 error event, ties with c4: by id
        ("c0", "representative"),
    ]


def test_each_kind_fills_what_the_other_cannot() -> None:
    # One errored item only: the representatives fill the rest.
    members = [m("a", 0), m("b", 1), m("c", 2, errors=1), m("d", 3)]
    picked = metrics.pick_evidence(members, "errors", 3)
    assert [(x.item_id, why) for x, why in picked] == [
        ("c", "errored"),
        ("a", "representative"),
        ("b", "representative"),
    ]
    # No errored item at all: representatives only.
    calm = [m("a", 0), m("b", 1)]
    assert [why for _, why in metrics.pick_evidence(calm, "errors", 3)] == ["representative"] * 2
    # An item both worst and central is shown once, as the worst.
    both = [m("a", 0, cost=5.0), m("b", 1, cost=1.0), m("c", 2, cost=2.0)]
    picked = metrics.pick_evidence(both, "cost", 3)
    assert [(x.item_id, why) for x, why in picked] == [
        ("a", "most expensive"),
        ("c", "most expensive"),
        ("b", "representative"),
    ]
    # Without a measure (size checks): representative only; k = 0: nothing.
    assert [why for _, why in metrics.pick_evidence(both, None, 2)] == ["representative"] * 2
    assert metrics.pick_evidence(both, "cost", 0) == []


def test_k_splits_into_the_larger_half_worst() -> None:
    members = [m(f"i{n}", n, latency=float(n)) for n in range(10)]
    for k, worst in ((1, 1), (2, 1), (3, 2), (4, 2), (5, 3)):
        whys = [why for _, why in metrics.pick_evidence(members, "latency", k)]
        assert whys == ["slowest"] * worst + ["representative"] * (k - worst)


_members = st.lists(
    st.builds(
        m,
        st.text("abcdef", min_size=1, max_size=3),
        st.one_of(st.none(), st.integers(0, 5)),
        st.sampled_from([0.0, 0.1, 0.5, 2.0]),
        st.sampled_from([0.0, 1.0, 3.0]),
        st.integers(0, 2),
    ),
    max_size=25,
    unique_by=lambda x: x.item_id,
)


@given(_members, st.integers(0, 5))
def test_picking_from_the_pool_is_picking_from_every_member(members: list[Member], k: int) -> None:
    # What lets a source keep (or fetch) only the pool: clusters × k, never items.
    pool = metrics.evidence_pool(members, ("cost", "latency", "errors"), k)
    assert len(pool) <= 4 * k
    for measure in ("cost", "latency", "errors", None):
        assert metrics.pick_evidence(pool, measure, k) == metrics.pick_evidence(members, measure, k)


# ---------------------------------------------------------------------------
# Links: PostHog's trace page URL, as its cluster page builds it


def _encode_twice(text: str) -> str:
    # encodeURIComponent keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ); PostHog then escapes
    # !'()* as well, and does it all twice. Written out by hand here on purpose.
    keep = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

    def once(s: str) -> str:
        return "".join(c if c in keep else "".join(f"%{b:02X}" for b in c.encode()) for c in s)

    return once(once(text))


def test_trace_level_links_the_trace_with_the_summary_tab_and_ms_timestamp() -> None:
    member = Member("0d1f3c2e-aaaa-4bbb-8ccc-123456789abc", rank=0, timestamp=T0)
    assert trace_url(BASE, "trace", member) == (
        f"{BASE}/ai-observability/traces/0d1f3c2e-aaaa-4bbb-8ccc-123456789abc"
        "?tab=summary&timestamp=2026-11-10T10%3A00%3A00.000Z"
    )


def test_generation_level_links_the_generations_trace_with_the_event() -> None:
    member = Member(
        "gen-uuid-1", rank=0, timestamp=T0, trace_id="trace 7", generation_id="gen-uuid-1"
    )
    assert trace_url(BASE, "generation", member) == (
        f"{BASE}/ai-observability/traces/trace%25207"
        "?tab=summary&event=gen-uuid-1&timestamp=2026-11-10T10%3A00%3A00.000Z"
    )
    # No trace id in the map: PostHog would link /traces/undefined; we give no link.
    assert trace_url(BASE, "generation", Member("gen-uuid-1")) is None


@pytest.mark.parametrize(
    "item",
    ["a b", "a/b?c#d", "100%", "it's (x)*!", "naïve-☃", "a+b&c=d", "~tilde", "..", "x\ty"],
)
def test_odd_ids_are_one_path_segment_encoded_twice(item: str) -> None:
    url = trace_url(BASE, "trace", Member(item))
    assert url is not None
    path = urlsplit(url).path
    segment = path.removeprefix("/project/42/ai-observability/traces/")
    assert "/" not in segment
    assert segment == _encode_twice(item)
    # kea-router decodes once, the scene once more: the id comes back whole.
    assert unquote(unquote(segment)) == item
    assert url.endswith("?tab=summary")  # no timestamp in the map: none in the link


@pytest.mark.parametrize(
    ("timestamp", "shown"),
    [
        ("2026-11-10T10:00:00.123456+00:00", "2026-11-10T10:00:00.123Z"),  # cut, not rounded
        ("2026-11-10T10:00:00.999999+00:00", "2026-11-10T10:00:00.999Z"),
        ("2026-11-10T12:30:00+02:30", "2026-11-10T10:00:00.000Z"),  # to UTC
        ("2026-11-10T10:00:00", "2026-11-10T10:00:00.000Z"),  # naive = UTC, as dayjs.utc
        ("2026-11-10T10:00:00.5Z", "2026-11-10T10:00:00.500Z"),
    ],
)
def test_timestamps_read_as_dayjs_utc_to_iso_string(timestamp: str, shown: str) -> None:
    url = trace_url(BASE, "trace", Member("t", timestamp=timestamp))
    assert url is not None
    assert dict(parse_qsl(urlsplit(url).query)) == {"tab": "summary", "timestamp": shown}
    assert urlsplit(url).query == f"tab=summary&timestamp={shown.replace(':', '%3A')}"


def test_the_query_string_is_form_encoded_like_url_search_params() -> None:
    member = Member("g", trace_id="t", generation_id="a b~c*d'e", timestamp="not a time")
    url = trace_url(BASE, "generation", member)
    assert url is not None
    # URLSearchParams: space → "+", "*" kept, "~" and "'" escaped; a bad time is left out.
    assert urlsplit(url).query == "tab=summary&event=a+b%7Ec*d%27e"


def test_evaluation_level_links_only_a_resolved_trace() -> None:
    resolved = Member("eval-1", trace_id="trace-9", generation_id="gen-3", timestamp=T0)
    assert trace_url(BASE, "evaluation", resolved) == (
        f"{BASE}/ai-observability/traces/trace-9"
        "?tab=summary&event=gen-3&timestamp=2026-11-10T10%3A00%3A00.000Z"
    )
    assert trace_url(BASE, "evaluation", Member("eval-1", trace_id="eval-1")) is None
    assert trace_url(BASE, "evaluation", Member("eval-1")) is None


# ---------------------------------------------------------------------------
# End to end on a hand-built snapshot


def gen(trace: str, cost: float, latency: float, *, error: object = False, ts: str = T0) -> Row:
    props = {
        "$ai_trace_id": trace,
        "$ai_total_cost_usd": cost,
        "$ai_latency": latency,
        "$ai_input_tokens": 10,
        "$ai_output_tokens": 5,
        "$ai_is_error": error,
    }
    return llmc_event("$ai_generation", ts, props)


def span(trace: str, *, error: object) -> Row:
    return llmc_event("$ai_span", T0, {"$ai_trace_id": trace, "$ai_is_error": error})


def cluster(cid: int, ranked: list[str]) -> Row:
    return {
        "cluster_id": cid,
        "size": len(ranked),
        "title": f"Topic {cid}",
        "traces": {
            item: {
                "rank": r,
                "distance_to_centroid": 0.1 * r,
                "x": 1.0,
                "y": 2.0,
                "timestamp": f"2026-11-1{r}T08:0{r}:00.250000+00:00",
                "trace_id": item,
                "generation_id": "",
            }
            for r, item in enumerate(ranked)
        },
    }


def rows() -> list[Row]:
    # Cluster 0 (ranks a0..a4): costs a0 .01, a1 .20 (two generations: .05 + .15),
    # a2 .20, a3 .02, a4 none; a3 has two error events (a span and a generation),
    # a2 one. Cluster 1: cheap and calm.
    return [
        gen("a0", 0.01, 1.0),
        gen("a1", 0.05, 2.0),
        gen("a1", 0.15, 4.0),
        gen("a2", 0.20, 0.5, error="true"),
        gen("a3", 0.02, 9.0, error=True),
        span("a3", error=True),
        gen("b0", 0.001, 1.0),
        gen("b1", 0.002, 1.0),
        llmc_run_event(RUN, [cluster(0, ["a0", "a1", "a2", "a3", "a4"]), cluster(1, ["b0", "b1"])]),
    ]


def gate(tmp_path: Path, checks: str, *, live_host: bool = True, extra: str = "") -> Outcome:
    snapshot = llmc_write_jsonl(tmp_path / "events.jsonl", rows())
    source = (
        "posthog: {host: https://eu.posthog.com, project_id: 42, api_key: phx_unused}"
        if live_host
        else f"snapshot: {snapshot}"
    )
    text = f"version: 1\nsource:\n  {source}\nrun: {{lookback: 3650d}}\n{extra}checks:\n{checks}"
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    return Gate(config, tmp_path / "checks.yaml", Options(snapshot=snapshot)).outcome()


def _row(result: CheckResult, cid: int) -> ClusterRow:
    return next(r for r in result.clusters if r.cluster_id == cid)


def test_a_cost_ceiling_shows_the_most_expensive_then_the_centre(tmp_path: Path) -> None:
    outcome = gate(tmp_path, "  - {metric: avg_cost_usd, max: 0.05}\n")
    result = outcome.results[0]
    assert result.status == "fail"
    row = _row(result, 0)
    # a1 and a2 both cost 0.20 (a1: 0.05 + 0.15): the tie goes to the smaller id.
    assert [(e.item_id, e.why) for e in row.evidence] == [
        ("a1", "most expensive"),
        ("a2", "most expensive"),
        ("a0", "representative"),
    ]
    assert [e.value for e in row.evidence] == pytest.approx([0.05 + 0.15, 0.20, 0.01])
    assert row.evidence[0].timestamp == "2026-11-11T08:01:00.250000+00:00"
    assert row.evidence[0].url == (
        f"{BASE}/ai-observability/traces/a1?tab=summary&timestamp=2026-11-11T08%3A01%3A00.250Z"
    )
    # The passing cluster carries none (no near miss: 0.0015 is far below 0.05).
    assert _row(result, 1).evidence == ()
    # The failure message: the cluster, then one line per item, no more than k.
    lines = result.message.splitlines()
    at = next(i for i, line in enumerate(lines) if "'Topic 0'" in line)
    shown = lines[at + 1 : at + 4]
    assert shown[0].split(" · ")[:2] == ["      most expensive $0.2", "a1"]
    assert shown[2].split(" · ")[:3] == ["      representative $0.01", "a0", "2026-11-10 08:00Z"]
    assert len(lines) == at + 4


def test_an_error_ceiling_shows_the_errored_items_by_error_events(tmp_path: Path) -> None:
    outcome = gate(tmp_path, "  - {metric: error_rate, max: 10%}\n")
    row = _row(outcome.results[0], 0)
    assert [(e.item_id, e.why, e.value) for e in row.evidence] == [
        ("a3", "errored", 2.0),  # a span and a generation
        ("a2", "errored", 1.0),
        ("a0", "representative", 0.0),
    ]
    assert "errored 2 error events · a3" in outcome.results[0].message


def test_latency_and_tokens_rank_by_their_own_numbers(tmp_path: Path) -> None:
    checks = "  - {metric: p95_latency_s, max: 1}\n  - {metric: avg_tokens, max: 1}\n"
    latency, tokens = gate(tmp_path, checks, extra="report: {evidence: 2}\n").results
    assert [(e.item_id, e.why, e.value) for e in _row(latency, 0).evidence] == [
        ("a3", "slowest", 9.0),
        ("a0", "representative", 1.0),
    ]
    # a1 has two generations of 15 tokens each: 30.
    assert [(e.item_id, e.why, e.value) for e in _row(tokens, 0).evidence] == [
        ("a1", "most tokens", 30.0),
        ("a0", "representative", 15.0),
    ]


def test_size_and_floors_show_representatives_only(tmp_path: Path) -> None:
    checks = "  - {metric: size, max: 1}\n  - {metric: avg_cost_usd, min: 0.5}\n"
    size, floor = gate(tmp_path, checks).results
    assert [(e.item_id, e.why, e.value) for e in _row(size, 0).evidence] == [
        ("a0", "representative", None),
        ("a1", "representative", None),
        ("a2", "representative", None),
    ]
    # A floor is broken by small values: the costliest items explain nothing.
    assert [e.why for e in _row(floor, 0).evidence] == ["representative"] * 3
    assert [e.value for e in _row(floor, 0).evidence] == pytest.approx([0.01, 0.20, 0.20])


def test_a_cluster_under_the_floor_of_a_two_sided_check_shows_representatives_only(
    tmp_path: Path,
) -> None:
    # Cluster 0 averages (0.01 + 0.20 + 0.20 + 0.02) / 4 = 0.1075, above the ceiling:
    # its costliest items explain it. Cluster 1 averages 0.0015, below the floor, which
    # small values break: the costliest items would point the wrong way.
    result = gate(tmp_path, "  - {metric: avg_cost_usd, min: 0.01, max: 0.1}\n").results[0]
    # Worst first: 85% under the floor, then 7.5% over the ceiling.
    assert [(r.cluster_id, r.status) for r in result.clusters] == [(1, "fail"), (0, "fail")]
    assert [(e.item_id, e.why) for e in _row(result, 0).evidence] == [
        ("a1", "most expensive"),
        ("a2", "most expensive"),
        ("a0", "representative"),
    ]
    assert [(e.item_id, e.why) for e in _row(result, 1).evidence] == [
        ("b0", "representative"),
        ("b1", "representative"),
    ]
    topic_1 = result.message.split("'Topic 1'")[1].split("'Topic 0'")[0]
    assert topic_1.count("representative") == 2 and "most expensive" not in topic_1


@pytest.mark.parametrize("semantics", ["ui", "workflow"])
def test_an_item_without_an_event_in_the_window_says_so(tmp_path: Path, semantics: str) -> None:
    # a4 is in cluster 0 but has no AI event: no number under either semantics.
    extra = f"report: {{evidence: 5}}\nrun: {{lookback: 3650d, semantics: {semantics}}}\n"
    checks = "  - {metric: avg_cost_usd, min: 0.5}\n"
    snapshot = llmc_write_jsonl(tmp_path / "events.jsonl", rows())
    text = f"version: 1\nsource: {{snapshot: {snapshot}}}\n{extra}checks:\n{checks}"
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    outcome = Gate(config, tmp_path / "checks.yaml", Options()).outcome()
    result = outcome.results[0]
    assert [(e.item_id, e.value) for e in _row(result, 0).evidence][-1] == ("a4", None)
    shown = [line for line in result.message.splitlines() if " · a4 · " in line]
    assert shown == ["      representative (no AI event in the window) · a4 · 2026-11-14 08:04Z"]
    assert shown[0].replace("a4", "a0") not in result.message  # the others show their cost
    md = markdown_report.render([(outcome, [0])])
    assert "`a4` representative (no AI event in the window), 2026-11-14 08\\:04Z" in md


def test_near_misses_carry_evidence_too(tmp_path: Path) -> None:
    # Cluster 0 averages (0.01 + 0.20 + 0.20 + 0.02) / 4 = 0.1075: 4% under 0.112.
    result = gate(tmp_path, "  - {metric: avg_cost_usd, max: 0.112}\n").results[0]
    assert result.status == "pass"
    assert [e.item_id for e in _row(result, 0).evidence] == ["a1", "a2", "a0"]
    assert _row(result, 1).evidence == ()


def test_evidence_zero_is_off_and_snapshot_configs_have_no_links(tmp_path: Path) -> None:
    off = gate(tmp_path, "  - {metric: avg_cost_usd, max: 0.05}\n", extra="report: {evidence: 0}\n")
    assert all(r.evidence == () for r in off.results[0].clusters)
    assert " · " not in off.results[0].message
    plain = gate(tmp_path, "  - {metric: avg_cost_usd, max: 0.05}\n", live_host=False)
    evidence = _row(plain.results[0], 0).evidence
    assert [e.item_id for e in evidence] == ["a1", "a2", "a0"]
    assert all(e.url is None for e in evidence)


def test_the_request_asks_for_the_measures_the_checks_rank_by(tmp_path: Path) -> None:
    text = (
        "version: 1\nsource: {snapshot: x.jsonl}\nreport: {evidence: 4}\nchecks:\n"
        "  - {metric: error_rate, max: 5%}\n  - {metric: avg_tokens, min: 10}\n"
        "  - {metric: p95_latency_s, max_increase: 20%}\n  - {metric: size, max: 9}\n"
    )
    config = parse_config(text, filename="checks.yaml", base_dir=tmp_path)
    request = build_request(config, Options())
    assert request.evidence == 4
    assert request.evidence_measures == {"errors", "latency"}  # a floor ranks nothing
    only_runs = text.split("checks:")[0] + "checks:\n  - {metric: noise_share, max: 5%}\n"
    assert build_request(parse_config(only_runs, filename="c.yaml"), Options()).evidence == 0


def test_the_json_report_carries_each_clusters_evidence(tmp_path: Path) -> None:
    outcome = gate(tmp_path, "  - {metric: error_rate, max: 10%}\n")
    doc = json.loads(json.dumps(json_document([(outcome, [0])])))
    cluster0 = next(c for c in doc["checks"][0]["clusters"] if c["cluster_id"] == 0)
    assert cluster0["evidence"][0] == {
        "item_id": "a3",
        "why": "errored",
        "value": 2.0,
        "url": f"{BASE}/ai-observability/traces/a3?tab=summary"
        "&timestamp=2026-11-13T08%3A03%3A00.250Z",
        "timestamp": "2026-11-13T08:03:00.250000+00:00",
    }
    assert [e["item_id"] for e in cluster0["evidence"]] == ["a3", "a2", "a0"]


def test_the_markdown_report_lists_linked_evidence_per_failing_cluster(tmp_path: Path) -> None:
    outcome = gate(tmp_path, "  - {metric: avg_cost_usd, max: 0.05}\n")
    text = markdown_report.render([(outcome, [0])])
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    links = [
        str(child.attrs["href"])
        for tok in tokens
        if tok.type == "inline" and tok.children
        for child in tok.children
        if child.type == "link_open"
    ]
    traces = [link for link in links if "/ai-observability/traces/" in link]
    assert traces == [e.url for e in _row(outcome.results[0], 0).evidence]
    # What a reader sees (the report escapes "$" and ":" against math and autolinks).
    shown = MarkdownIt("commonmark").enable("table").render(text)
    assert "most expensive $0.2, 2026-11-11 08:01Z" in shown
