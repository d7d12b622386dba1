"""The benchmark harness at tiny sizes: it runs end to end and produces every figure.

Nothing about performance is asserted here (`make bench` reports the goals);
only that each scenario ran against the real services and every figure and
goal of the report has a value (the wallboard's only where Chromium is
installed), and that the files are written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import orjson
import pytest

from bench.browser import chromium_missing
from bench.config import BenchConfig
from bench.report import goals, table, write
from bench.run import run


@pytest.mark.timeout(180)
async def test_every_scenario_produces_every_figure(tmp_path: Path) -> None:
    config = BenchConfig.smoke().with_services()
    results = await run(config, progress=lambda _: None, workdir=tmp_path / "work")
    written = write(results, tmp_path / "out")

    figures = results["sizes"][str(config.sizes[0])]
    assert figures["dataset"]["operators"] == config.sizes[0]
    for target in (
        "rest_operators",
        "limit_operators",
        "bare_store_operators",
        "graphql_6",
        "graphql_all",
        "rest_queues",
        "graphql_queues",
        "rest_snapshot",
        "limit_snapshot",
    ):
        for connections in config.connections:
            measured = figures["http"][target][f"c{connections}"]
            assert measured["rps"] > 0 and measured["errors"] == 0, (target, measured)
            assert measured["p50_ms"] > 0 and measured["p99_ms"] >= measured["p50_ms"]
    churn = figures["http"]["graphql_6_changing"]
    assert churn[f"c{max(config.connections)}"]["rps"] > 0
    assert sum(churn["answer_cache"].values()) > 0, churn
    assert figures["db_vs_redis"]["postgres_ms"] > 0 and figures["db_vs_redis"]["redis_ms"] > 0
    assert figures["db_vs_redis"]["operators_from_db"] == config.sizes[0]
    assert figures["ingest"]["ingest"]["processed_per_s"] > 0
    assert figures["ingest"]["ceiling"]["evalsha_per_s"] > 0
    runs = figures["subscriptions"]
    counts = config.subscriber_counts + config.goal_subscriber_counts  # sizes[0] is the goal's
    assert len(runs) == len(counts) * len(config.change_rates)
    for measured in runs:
        assert measured["lost"] == 0 and measured["client_errors"] == 0, measured
        assert measured["versions_match"] and measured["deliveries"] > 0
        assert measured["p99_ms"] is not None and measured["rss_per_idle_subscriber_kb"] is not None

    mix = results["mix"]  # scenario 5b: the real AMI message mix, three ways
    assert [v["events"] for v in mix["variants"]] == ["on", "system,call,agent", "on"]
    for measured in mix["variants"]:
        assert measured["messages_per_s"] > 0 and measured["relevant_per_s"] > 0, measured
        assert measured["processed"] == (
            measured["relevant"] if measured["prefilter"] else measured["messages"]
        )
        assert measured["ratio_to_ceiling"] is not None

    kpi = results["kpi"]  # scenario 8: queueStats over generated call records
    assert kpi["calls"] == config.kpi_days * 24 * config.kpi_calls_per_hour
    assert kpi["errors"] == 0 and kpi["p99_ms"] >= kpi["p50_ms"] > 0, kpi

    replicas = results["replicas"]  # scenario 9: api replicas behind one ingest
    assert replicas["replicas"] == config.replica_count == len(replicas["per_replica"])
    assert replicas["lost"] == 0 and replicas["client_errors"] == 0, replicas
    assert replicas["versions_match"] and replicas["catch_up_s"] is not None
    assert replicas["deliveries"] == (
        replicas["changes"] * config.replica_count * config.replica_subscribers
    )
    assert replicas["p99_ms"] is not None and replicas["p99_ms"] >= replicas["p50_ms"] > 0

    burst = results["burst"]  # scenario 10: an AMI burst while the API is timed
    assert burst["messages"] == config.burst_messages and burst["events_dropped"] == 0, burst
    assert burst["rest_requests"] > 0 and burst["graphql_requests"] > 0, burst
    assert burst["api_errors"] == 0 and burst["queue_max"] > 0, burst
    assert burst["rest_p99_ms"] >= burst["rest_p50_ms"] > 0, burst

    wallboard = results["wallboard"]
    if chromium_missing() is None:
        assert wallboard["caught_up"] and wallboard["page_errors"] == [], wallboard
        assert (
            wallboard["status_changes"] > 0 and wallboard["versions"] >= wallboard["status_changes"]
        )
        assert wallboard["frames_per_s"] > 0 and wallboard["longest_task_ms"] >= 0
        assert len(wallboard["mutation_ms"]) == config.wallboard_mutations
        replayed = results["wallboard_replay"]  # scenario 7b: the page fed from a recording
        assert replayed["caught_up"] and replayed["page_errors"] == [], replayed
        assert replayed["status_changes"] > 0 and replayed["changes_recorded"] > 0
        assert replayed["tiles"] > 0 and replayed["frames_per_s"] > 0
        unmeasured = []
    else:  # the browser tests skip then too; the report says why
        assert wallboard["skipped"]
        assert results["wallboard_replay"]["skipped"]
        unmeasured = [
            "Wallboard in Chromium",
            "A status mutation on the wallboard",
            "Wallboard alone",
        ]
    for goal in goals(results):
        if goal.informational:  # a figure beside the goals: measured, never judged
            assert goal.met is None and goal.value != "—", table(results)
            continue
        wallboard_goal = any(goal.name.startswith(name) for name in unmeasured)
        assert (goal.met is None) is wallboard_goal, table(results)
    names = {path.name for path in written}
    assert {"results.json", "results.txt", "results.md"} <= names
    assert orjson.loads((tmp_path / "out" / "results.json").read_bytes())["goals"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "out" / "results.png").stat().st_size > 0
