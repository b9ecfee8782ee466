"""The synthetic-data generator: deterministic, PostHog-shaped, traps present, and
its baked metrics equal to a plain recomputation from the emitted rows."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmc_checks.synth import (
    ALT_TOPICS,
    DEFAULT_TOPICS,
    Job,
    NewTopic,
    NoiseShift,
    RunTruth,
    Scenario,
    Shift,
    Synth,
    generate,
    main,
    write_rows,
)

Row = dict[str, Any]

GEN_JOB = Job("generation", "gen-job-1", "Default - generations")
EVAL_JOB = Job("evaluation", "eval-job-1", "Default - evaluations")

BASE = Scenario(seed=11, days=3, traces_per_day=150, max_samples=400)
VARIANTS = Scenario(
    seed=5,
    days=4,
    traces_per_day=60,
    max_samples=200,
    extra_jobs=(GEN_JOB, EVAL_JOB),
    legacy_runs=1,
    clusters_as_string=0.34,
    duplicate_emission=0.34,
)


@pytest.fixture(scope="module")
def base() -> Synth:
    return generate(BASE)


@pytest.fixture(scope="module")
def variants() -> Synth:
    return generate(VARIANTS)


def cluster_events(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r["event"].endswith("_clusters")]


def clusters_of(row: Row) -> list[Row]:
    c = row["properties"]["$ai_clusters"]
    result: list[Row] = json.loads(c) if isinstance(c, str) else c
    return result


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- determinism ---------------------------------------------------------------


def digest(synth: Synth) -> str:
    h = hashlib.sha256()
    for row in synth.iter_rows():
        h.update(orjson.dumps(row))
    return h.hexdigest()


def test_same_seed_same_rows_different_seed_different_rows(base: Synth) -> None:
    again = generate(BASE)
    assert again.rows == base.rows
    assert digest(again) == digest(base)
    assert list(base.iter_rows()) == base.rows  # rendering twice gives the same rows
    other = generate(Scenario(seed=12, days=3, traces_per_day=150, max_samples=400))
    assert digest(other) != digest(base)


def test_bytes_do_not_depend_on_hash_seed(tmp_path: Path) -> None:
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"h{hash_seed}.jsonl.gz"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        cmd = [sys.executable, "-m", "llmc_checks.synth", "--out", str(out), "--days", "2"]
        cmd += ["--traces-per-day", "40", "--seed", "3", "--extra-level", "generation"]
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_write_rows_formats(base: Synth, tmp_path: Path) -> None:
    rows = base.rows
    assert write_rows(base.iter_rows(), tmp_path / "a.jsonl.gz") == len(rows)
    write_rows(rows, tmp_path / "b.jsonl.gz")
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    with gzip.open(tmp_path / "a.jsonl.gz") as f:
        assert [orjson.loads(line) for line in f] == rows
    write_rows(rows, tmp_path / "c.jsonl")
    assert (tmp_path / "c.jsonl").read_bytes() == gzip.decompress(
        (tmp_path / "a.jsonl.gz").read_bytes()
    )
    write_rows(rows, tmp_path / "d.json")
    assert orjson.loads((tmp_path / "d.json").read_bytes()) == rows
    write_rows([], tmp_path / "e.json")
    assert orjson.loads((tmp_path / "e.json").read_bytes()) == []
    with pytest.raises(ValueError):
        write_rows(rows, tmp_path / "f.csv")


def test_cli_writes_a_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "snap.jsonl"
    argv = ["--out", str(out), "--days", "2", "--traces-per-day", "30", "--seed", "7"]
    assert main([*argv, "--duplicate-emission", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    runs = Counter(r["properties"]["$ai_clustering_run_id"] for r in cluster_events(rows))
    assert len(runs) == 2 and set(runs.values()) == {2}


# --- shape ---------------------------------------------------------------------

ROW_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
WINDOW_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def test_rows_are_posthog_event_rows_in_time_order(variants: Synth) -> None:
    rows = variants.rows
    assert len(rows) == len(variants)
    for row in rows:
        assert list(row) == ["uuid", "event", "timestamp", "distinct_id", "properties"]
        assert ROW_TS.match(row["timestamp"]), row["timestamp"]
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-"
            r"[0-9a-f]{12}",
            row["uuid"],
        )
    stamps = [ts(r["timestamp"]) for r in rows]
    assert stamps == sorted(stamps)
    assert len({r["uuid"] for r in rows}) == len(rows)
    assert {r["event"] for r in rows} == {
        "$ai_generation",
        "$ai_embedding",
        "$ai_span",
        "$ai_trace",
        "$ai_trace_clusters",
        "$ai_generation_clusters",
        "$ai_evaluation_clusters",
    }


def test_run_ids_windows_and_sizes(variants: Synth) -> None:
    rows = cluster_events(variants.rows)
    s = variants.scenario
    ends = s.window_ends
    assert ends[-1] == s.end and ends[-1].strftime("%H:%M:%S.%f") == "00:15:03.104000"
    seen = set()
    for row in rows:
        p = row["properties"]
        run_id = p["$ai_clustering_run_id"]
        truth = variants.run(run_id)
        end = truth.window_end
        stamp = end.strftime("%Y%m%d_%H%M%S")
        if truth.legacy:
            assert run_id == f"1_{stamp}"
            assert ts(p["$ai_window_end"]) == end
            items = p["$ai_total_traces_analyzed"]
        else:
            level = p["$ai_clustering_level"]
            assert row["event"] == f"$ai_{level}_clusters"
            assert run_id == f"1_{level}_{stamp}_{p['$ai_clustering_job_id']}"
            assert WINDOW_TS.match(p["$ai_window_start"]) and WINDOW_TS.match(p["$ai_window_end"])
            assert p["$ai_window_end"] == end.isoformat(timespec="milliseconds")
            assert isinstance(p["$ai_clustering_params"], dict)
            items = p["$ai_total_items_analyzed"]
        start = ts(p["$ai_window_start"])
        assert ts(p["$ai_window_end"]) - start == timedelta(days=7)
        assert timedelta(0) < ts(row["timestamp"]) - end < timedelta(minutes=15)
        clusters = clusters_of(row)
        assert items == sum(c["size"] for c in clusters) == truth.items_analyzed
        assert items <= s.max_samples
        ids = sorted(c["cluster_id"] for c in clusters)
        regular = [i for i in ids if i != -1]
        assert regular == list(range(len(regular)))
        for c in clusters:
            assert c["size"] == len(c["traces"])
            assert sorted(e["rank"] for e in c["traces"].values()) == list(range(c["size"]))
            if c["cluster_id"] == -1:
                assert c["centroid"] == [] and c["title"] == "Outliers"
            else:
                assert len(c["centroid"]) > 0
        seen.add(run_id)
    assert len(seen) == len(variants.runs) == 3 * s.days


def test_items_are_keyed_by_level(variants: Synth) -> None:
    rows = variants.rows
    gens = {r["uuid"]: r for r in rows if r["event"] == "$ai_generation"}
    traces = {r["properties"]["$ai_trace_id"] for r in rows if "$ai_trace_id" in r["properties"]}
    ai_uuids = {r["uuid"] for r in rows}
    for row in cluster_events(rows):
        level = variants.run(row["properties"]["$ai_clustering_run_id"]).level
        for c in clusters_of(row):
            for key, entry in c["traces"].items():
                assert ROW_TS.match(entry["timestamp"])
                if level == "generation":
                    assert entry["generation_id"] == key
                    assert gens[key]["properties"]["$ai_trace_id"] == entry["trace_id"]
                elif level == "trace":
                    assert key in traces
                    if "trace_id" in entry:
                        assert entry["trace_id"] == key and entry["generation_id"] is None
                else:
                    assert key not in ai_uuids and key not in traces


def test_shape_variants(variants: Synth) -> None:
    rows = cluster_events(variants.rows)
    legacy = [r for r in rows if "$ai_clustering_level" not in r["properties"]]
    assert legacy and all(r["event"] == "$ai_trace_clusters" for r in legacy)
    for r in legacy:
        p = r["properties"]
        assert "$ai_total_items_analyzed" not in p and "$ai_total_traces_analyzed" in p
        assert not {
            "$ai_clustering_job_id",
            "$ai_clustering_job_name",
            "$ai_clustering_params",
        } & set(p)
        for c in clusters_of(r):
            assert "metrics" not in c
            assert all(
                set(e) == {"distance_to_centroid", "rank", "x", "y", "timestamp"}
                for e in c["traces"].values()
            )
    as_string = [r for r in rows if isinstance(r["properties"]["$ai_clusters"], str)]
    assert as_string and len(as_string) < len(rows)
    assert all(isinstance(json.loads(r["properties"]["$ai_clusters"]), list) for r in as_string)
    by_run: dict[str, list[Row]] = {}
    for r in rows:
        by_run.setdefault(r["properties"]["$ai_clustering_run_id"], []).append(r)
    dups = [v for v in by_run.values() if len(v) == 2]
    assert dups and all(len(v) <= 2 for v in by_run.values())
    for first, second in dups:
        assert first["uuid"] != second["uuid"]
        assert ts(second["timestamp"]) - ts(first["timestamp"]) == timedelta(minutes=1)
        assert first["properties"] == second["properties"]
        truth = variants.run(first["properties"]["$ai_clustering_run_id"])
        assert truth.event_uuids == (first["uuid"], second["uuid"])


# --- traps ---------------------------------------------------------------------


def test_traps_are_present(base: Synth) -> None:
    rows = base.rows
    flags = Counter(
        repr(r["properties"].get("$ai_is_error", "<missing>"))
        for r in rows
        if r["event"] in ("$ai_generation", "$ai_embedding", "$ai_span")
    )
    assert {"True", "False", "'true'", "'false'", "'<missing>'"} <= set(flags)
    numbers = [r["properties"].get(k) for r in rows for k in ("$ai_total_cost_usd", "$ai_latency")]
    assert any(isinstance(v, str) for v in numbers) and any(isinstance(v, float) for v in numbers)
    gens = [r["properties"] for r in rows if r["event"] == "$ai_generation"]
    assert any("$ai_total_cost_usd" not in p for p in gens)
    assert any(p.get("$ai_total_cost_usd") in (0.0, "0.0") for p in gens)
    spans = [r["properties"] for r in rows if r["event"] == "$ai_span"]
    assert any("$ai_total_cost_usd" in p and "$ai_latency" in p for p in spans)
    assert any(r["event"] == "$ai_embedding" and "$ai_latency" in r["properties"] for r in rows)


def test_window_edges_and_phantoms(base: Synth) -> None:
    rows = base.rows
    by_trace: dict[str, list[Row]] = {}
    for r in rows:
        if r["event"] in ("$ai_generation", "$ai_embedding", "$ai_span"):
            by_trace.setdefault(r["properties"]["$ai_trace_id"], []).append(r)
    for run in base.runs:
        clustered = {i for c in run.clusters for i in c.item_ids}
        at_start = [
            t
            for t in run.edge_items
            if any(ts(r["timestamp"]) == run.window_start for r in by_trace[t])
        ]
        at_end = [
            t
            for t in run.edge_items
            if any(ts(r["timestamp"]) == run.window_end for r in by_trace[t])
        ]
        assert at_start and at_end and set(run.edge_items) <= clustered
        # The start-edge trace is active only through its event at window_start.
        assert all(ts(r["timestamp"]) <= run.window_start for r in by_trace[at_start[0]])
        assert run.phantom_items and set(run.phantom_items) <= clustered
        for t in run.phantom_items:
            assert not any(
                run.window_start <= ts(r["timestamp"]) < run.window_end for r in by_trace[t]
            )
        assert sum(c.metrics["item_count"] or 0 for c in run.clusters) == (
            run.items_analyzed - len(run.phantom_items)
        )


# --- baked metrics vs. a plain recomputation ------------------------------------


def num(v: Any) -> float:
    return 0.0 if v is None else float(v)


def is_true(v: Any) -> bool:
    return v is True or v == "true"


def whole(v: Any) -> int:
    """A token count as HogQL's toInt reads it; "812.5" (or any non-Int) is 0 here."""
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() else 0
    if isinstance(v, str) and v.lstrip("+-").isdigit():
        return int(v)
    return 0


def recompute(rows: list[Row], run_row: Row, ui: bool = False) -> dict[int, dict[str, Any]]:
    """PostHog's per-cluster numbers, from the rows, written out plainly: the job's,
    or with `ui` the cluster page's (window end included, spans count, max latency)."""
    p = run_row["properties"]
    level = p.get("$ai_clustering_level", "trace")
    start, end = ts(p["$ai_window_start"]), ts(p["$ai_window_end"])
    per_item: dict[str, dict[str, Any]] = {}
    for row in rows:
        event = row["event"]
        if event not in ("$ai_generation", "$ai_embedding", "$ai_span"):
            continue
        if level == "generation" and event != "$ai_generation":
            continue
        t = ts(row["timestamp"])
        if not (start <= t <= end if ui else start <= t < end):
            continue
        props = row["properties"]
        key = props["$ai_trace_id"] if level == "trace" else row["uuid"]
        item = per_item.setdefault(key, {"cost": 0.0, "latency": 0.0, "tokens": 0.0, "err": False})
        if ui or event in ("$ai_generation", "$ai_embedding"):
            item["cost"] += num(props.get("$ai_total_cost_usd"))
            item["tokens"] += whole(props.get("$ai_input_tokens"))
            item["tokens"] += whole(props.get("$ai_output_tokens"))
        if ui:
            item["latency"] = max(item["latency"], num(props.get("$ai_latency")))
        elif event == "$ai_generation":
            item["latency"] += num(props.get("$ai_latency"))
        if is_true(props.get("$ai_is_error")):
            item["err"] = True
    result = {}
    for c in clusters_of(run_row):
        items = [per_item[k] for k in c["traces"] if k in per_item]
        costs = [i["cost"] for i in items if i["cost"] > 0]
        lats = [i["latency"] for i in items if i["latency"] > 0]
        toks = [i["tokens"] for i in items if i["tokens"] > 0]
        errors = sum(1 for i in items if i["err"])
        result[c["cluster_id"]] = {
            "avg_cost": sum(costs) / len(costs) if costs else None,
            "total_cost": sum(costs) if costs else None,
            "avg_latency": sum(lats) / len(lats) if lats else None,
            "avg_tokens": sum(toks) / len(toks) if toks else None,
            "error_count": errors,
            "error_rate": errors / len(items) if items else None,
            "item_count": len(items),
        }
    return result


def assert_same(got: Any, want: Any) -> None:
    if want is None or isinstance(want, int):
        assert got == want
    else:
        assert got == pytest.approx(want, rel=1e-9)


def test_baked_metrics_equal_a_recomputation_from_rows(base: Synth, variants: Synth) -> None:
    checked = 0
    for synth in (base, variants):
        rows = synth.rows
        for run_row in cluster_events(rows):
            truth = synth.run(run_row["properties"]["$ai_clustering_run_id"])
            clusters = clusters_of(run_row)
            if truth.legacy:
                continue
            assert all("metrics" in c for c in clusters)
            expected = None if truth.level == "evaluation" else recompute(rows, run_row)
            on_page = None if truth.level == "evaluation" else recompute(rows, run_row, ui=True)
            for c in clusters:
                baked = c["metrics"]
                t = truth.cluster(c["cluster_id"])
                for key, value in baked.items():
                    assert_same(value, t.metrics[key])
                    if expected is not None and on_page is not None:
                        assert_same(value, expected[c["cluster_id"]][key])
                        assert_same(t.metrics_ui[key], on_page[c["cluster_id"]][key])
                    else:  # evaluation level: baked metrics are the only numbers
                        assert_same(t.metrics_ui[key], value)
                checked += 1
    assert checked > 20


def test_the_two_semantics_differ_where_the_generator_says(base: Synth) -> None:
    """Root spans, window-end events and "812.5" tokens are in the data, and they move
    the page's numbers away from the job's."""
    rows = base.rows
    spans = [r for r in rows if r["event"] == "$ai_span"]
    roots = [r for r in spans if r["properties"].get("$ai_span_name") == "handle_request"]
    assert roots and all("$ai_total_cost_usd" in r["properties"] for r in roots)
    fractional = [
        r for r in rows if str(r["properties"].get("$ai_input_tokens", "")).endswith(".5")
    ]
    assert fractional and all(
        isinstance(r["properties"]["$ai_input_tokens"], str) for r in fractional
    )
    run = base.latest("trace")
    differs = {
        key
        for c in run.clusters
        for key in ("avg_cost", "avg_latency", "error_count")
        if c.metrics[key] != c.metrics_ui[key]
    }
    # Spans' cost and max latency move the clusters; the errored generation exactly at
    # the window end counts on the page only.
    assert differs == {"avg_cost", "avg_latency", "error_count"}


def test_baked_metrics_can_be_off() -> None:
    synth = generate(Scenario(seed=2, days=1, traces_per_day=40, baked_metrics=False))
    (row,) = cluster_events(synth.rows)
    assert all("metrics" not in c for c in clusters_of(row))
    assert all(c.metrics["item_count"] is not None for c in synth.runs[0].clusters)


# --- ground truth and topics -----------------------------------------------------


def test_ground_truth_pairs_clusters_with_topics(base: Synth) -> None:
    pools = {t.key: t for t in DEFAULT_TOPICS}
    id_maps = []
    for row in cluster_events(base.rows):
        truth = base.run(row["properties"]["$ai_clustering_run_id"])
        for c in clusters_of(row):
            topic = truth.cluster_topics[c["cluster_id"]]
            if topic is None:
                assert c["cluster_id"] == -1
            else:
                assert c["title"] in pools[topic].titles
                assert c["description"] in pools[topic].descriptions
            assert tuple(c["traces"]) == truth.cluster(c["cluster_id"]).item_ids
        id_maps.append({k: v for k, v in truth.cluster_topics.items() if v})
        assert set(id_maps[-1].values()) == set(pools)
    assert len({tuple(sorted(m.items())) for m in id_maps}) > 1  # ids are not stable


STOP = {"a", "an", "and", "the", "of", "for", "to", "from", "in", "on", "with", "into", "over"}
STOP |= {
    "by",
    "as",
    "or",
    "at",
    "when",
    "must",
    "such",
    "each",
    "few",
    "out",
    "about",
    "their",
    "that",
}


def stems(text: str) -> set[str]:
    return {w[:4] for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP}


def test_title_pools_reword_within_and_stay_distinct_across() -> None:
    topics = DEFAULT_TOPICS + ALT_TOPICS
    assert len({t.key for t in topics}) == len(topics) == 12
    for t in topics:
        assert 3 <= len(t.titles) <= 5 and 2 <= len(t.descriptions) <= 3
        for a, b in itertools.combinations(t.titles, 2):
            assert stems(a) & stems(b), (a, b)
    for x, y in itertools.combinations(topics, 2):
        wx = set().union(*map(stems, x.titles + x.descriptions))
        wy = set().union(*map(stems, y.titles + y.descriptions))
        assert not wx & wy, (x.key, y.key, wx & wy)


# --- scenario knobs --------------------------------------------------------------


def test_cost_shift_multiplies_only_that_topic() -> None:
    plain = generate(Scenario(seed=4, days=2, traces_per_day=100))
    shifted = generate(
        Scenario(seed=4, days=2, traces_per_day=100, shifts=(Shift("sql", -30, cost_factor=3.0),))
    )
    for a, b in zip(plain.runs, shifted.runs, strict=True):
        assert [c.item_ids for c in a.clusters] == [c.item_ids for c in b.clusters]
        for ca, cb in zip(a.clusters, b.clusters, strict=True):
            ratio = num(cb.metrics["avg_cost"]) / num(ca.metrics["avg_cost"])
            if ca.topic == "sql":
                assert ratio == pytest.approx(3.0, rel=0.02)
            elif ca.topic is not None:
                assert ratio == pytest.approx(1.0, rel=1e-6)


def test_error_shift_and_new_topic_from_a_day() -> None:
    s = Scenario(
        seed=9,
        days=3,
        traces_per_day=200,
        shifts=(Shift("auth", 2, error_rate=0.9),),
        new_topics=(NewTopic(ALT_TOPICS[0], from_day=2, share=0.3),),
    )
    synth = generate(s)
    before, after = synth.runs[1], synth.runs[2]  # day 2 is first seen by run 2
    assert before.cluster_for("email_drafting") is None
    assert after.cluster_for("email_drafting") is not None
    rate = {
        r.run_id: num(r.cluster_for("auth").metrics["error_rate"])  # type: ignore[union-attr]
        for r in (before, after)
    }
    assert rate[after.run_id] > rate[before.run_id] + 0.05


def test_topic_set_changes_entirely() -> None:
    s = Scenario(seed=1, days=2, traces_per_day=150, topics_after=ALT_TOPICS, topics_change_day=-20)
    synth = generate(s)
    alt = {t.key for t in ALT_TOPICS}
    for run in synth.runs:
        assert {c.topic for c in run.clusters} - {None} == alt


def test_scenario_validation() -> None:
    with pytest.raises(ValueError):
        Scenario(noise_share=1.5)
    with pytest.raises(ValueError):
        Scenario(level="generation", legacy_runs=1)
    with pytest.raises(ValueError):
        Scenario(shifts=(Shift("nope", 0),))
    with pytest.raises(ValueError):
        Scenario(topics_after=ALT_TOPICS)


def test_a_noise_shift_changes_only_the_runs_from_its_day() -> None:
    plain = generate(Scenario(seed=3, days=4, traces_per_day=120))
    shifted = generate(
        Scenario(seed=3, days=4, traces_per_day=120, noise_shifts=(NoiseShift(2, 0.45),))
    )

    def share(run: RunTruth) -> float:
        noise = sum(c.size for c in run.clusters if c.topic is None)
        return noise / run.items_analyzed

    # The items drawn and the noise coin flips are the same: runs before day 2 are equal.
    assert shifted.runs[:2] == plain.runs[:2]
    for run in shifted.runs[2:]:
        # Every item is noise with probability 0.45 (plus topics too small to cluster):
        # with hundreds of items the share is 0.45 within a few points.
        assert 0.40 < share(run) < 0.52, share(run)
    assert all(share(run) < 0.15 for run in plain.runs)
    with pytest.raises(ValueError, match="noise shift's share"):
        Scenario(noise_shifts=(NoiseShift(1, 1.5),))
