"""The run's results: goals (met / not met), a readable table, a chart, results.json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench import (
    burst,
    ingest_mix,
    kpi_query,
    latency,
    replicas,
    wallboard,
    wallboard_replay,
)
from bench.browser import longest_task_text
from bench.chart import chart
from bench.config import BenchConfig
from bench.figures import Results, figure_at, subscription_run
from bench.goal import Goal
from bench.http_goals import graphql_goals, rest_small_goal
from bench.ingest_goals import burst_goal, mix_goals


def goals(results: Results) -> list[Goal]:
    """Every goal of the issue, met or not, from the figures at the goal size."""
    size = results["config"]["goal_size"]
    top = max(results["config"]["connections"])
    out: list[Goal] = []

    rest = figure_at(results, "sizes", size, "http", "rest_operators", f"c{top}", "rps")
    limit = figure_at(results, "sizes", size, "http", "limit_operators", f"c{top}", "rps")
    changing = figure_at(
        results, "sizes", size, "http", "rest_operators_changing", f"c{top}", "rps"
    )
    ratio = rest / limit if rest and limit else None
    value = "—" if ratio is None else f"{ratio:.2f}× ({rest:,.0f} vs {limit:,.0f} req/s)"
    if ratio is not None and changing:
        rate = results["config"]["churn_rate"]
        value += f"; {changing / limit:.2f}× at {rate:.0f} changes/s"
    out.append(
        Goal(
            f"REST operators at {size} operators vs the limit ({top} connections)",
            "≥ 0.70× the limit's req/s",
            value,
            None if ratio is None else ratio >= 0.7,
        )
    )

    out.append(rest_small_goal(results, top))
    out.extend(graphql_goals(results, size, top))

    database = figure_at(results, "sizes", size, "db_vs_redis")
    db_ratio = database.get("ratio") if database else None
    out.append(
        Goal(
            f"Redis vs PostgreSQL, {size} operators",
            "Redis ≥ 5× faster",
            "—"
            if db_ratio is None
            else f"{db_ratio:.1f}× ({database['redis_ms']:.2f} vs {database['postgres_ms']:.2f} ms)",
            None if db_ratio is None else db_ratio >= 5,
        )
    )

    ingest = figure_at(results, "sizes", size, "ingest")
    if ingest:
        events = ingest["ingest"]["processed_per_s"]
        share = ingest.get("ratio_to_ceiling")
        ceiling = figure_at(ingest, "ceiling", "evalsha_per_s")
        value = f"{events:,} events/s sustained 30 s"
        if share is not None:
            value += f", {share:.0%} of the EVALSHA ceiling ({ceiling:,.0f}/s)"
        if not ingest["ingest"].get("kept_up", True):
            # Asked for more than it took: what it processed is its capacity.
            value += f" (asked {ingest['ingest']['rate']:,.0f}/s: at capacity)"
        met = events >= 20_000 or (share is not None and share >= 0.25)
        out.append(
            Goal(
                f"Ingest at {size} operators",
                "≥ 20,000 events/s or ≥ 25% of the ceiling",
                value,
                met,
            )
        )
    else:
        out.append(Goal(f"Ingest at {size} operators", "", "—", None))

    out.extend(mix_goals(results))

    wanted_subscribers = max(results["config"]["subscriber_counts"])
    wanted_rate = max(results["config"]["change_rates"])
    run = subscription_run(results, size, wanted_subscribers, wanted_rate)
    if run:
        ok = (
            run["p99_ms"] is not None
            and run["p99_ms"] < 100
            and run["lost"] == 0
            and run["rss_per_idle_subscriber_kb"] < 50
            and run["versions_match"]
        )
        value = (
            f"p99 {run['p99_ms']:.1f} ms, {run['lost']} lost, "
            f"{run['rss_per_idle_subscriber_kb']:.1f} KB RSS per idle subscriber"
        )
        out.append(
            Goal(
                f"{wanted_subscribers} wallboard subscribers at {wanted_rate:.0f} changes/s",
                "p99 < 100 ms, 0 lost, < 50 KB per idle subscriber",
                value,
                ok,
            )
        )
    else:
        out.append(Goal("Subscriptions", "", "—", None))
    out.append(Goal(*latency.many_subscribers_goal(results, size, wanted_rate)))
    out.extend(_wallboard_goals(results))
    out.append(_records_goal(results))
    out.append(_kpi_goal(results))
    out.append(_replicas_goal(results))
    out.append(burst_goal(results))
    out.append(_wallboard_replay_goal(results))
    return out


def _wallboard_replay_goal(results: Results) -> Goal:
    figures: dict[str, Any] = results.get("wallboard_replay") or {}
    default = BenchConfig()
    operators = results["config"].get(
        "wallboard_replay_operators", default.wallboard_replay_operators
    )
    rate = results["config"].get(
        "wallboard_replay_changes_per_s", default.wallboard_replay_changes_per_s
    )
    return Goal(
        f"Wallboard alone at {operators:,} operators, {rate:,.0f} status changes/s "
        "from a recording",
        f"longest task < {wallboard_replay.LONGEST_TASK_MS:.0f} ms, "
        f"≥ {wallboard_replay.MIN_FRAMES_PER_S:.0f} frames/s, caught up",
        wallboard_replay.summary(figures),
        wallboard_replay.met(figures),
    )


def _replicas_goal(results: Results) -> Goal:
    figures: dict[str, Any] = results.get("replicas") or {}
    default = BenchConfig()
    count = figures.get("replicas", default.replica_count)
    subscribers = figures.get("subscribers_per_replica", default.replica_subscribers)
    rate = figures.get("rate", default.replica_rate)
    return Goal(
        f"{count} api replicas × {subscribers:,} wallboard subscribers each at "
        f"{rate:.0f} changes/s",
        f"p99 < {replicas.P99_GOAL_MS:.0f} ms, 0 lost",
        replicas.summary(figures),
        replicas.met(figures),
    )


def _records_goal(results: Results) -> Goal:
    figures: dict[str, Any] = results.get("records") or {}
    if "records_written_per_s" not in figures:
        return Goal("Call records written while ingesting", "", "—", None)
    return Goal(
        f"Call records written to PostgreSQL with {figures['rate']:,.0f} AMI events/s asked",
        "the writer keeps up: backlog at the end ≤ 1 s of records (at least 2,000)",
        f"{figures['records_written_per_s']:,} records/s written of "
        f"{figures['records_built_per_s']:,}/s built at {figures['events_per_s']:,} events/s "
        f"processed; backlog max {figures['backlog_max']:,}, at the end "
        f"{figures['backlog_end']:,} (limit {figures['backlog_goal']:,})",
        bool(figures["keeps_up"]),
    )


def _kpi_goal(results: Results) -> Goal:
    figures: dict[str, Any] = results.get("kpi") or {}
    if "p99_ms" not in figures:
        return Goal("queueStats(today, interval 900) over a month", "", "—", None)
    return Goal(
        f"queueStats(today, interval 900) over {figures['days']} days of "
        f"{figures['calls_per_hour']:,} calls/hour ({figures['calls']:,} records), "
        f"{figures['connections']} connections",
        f"p99 < {kpi_query.P99_GOAL_MS:.0f} ms",
        f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
        f"{figures['rps']:,.0f} req/s, {figures['errors']} errors",
        figures["p99_ms"] < kpi_query.P99_GOAL_MS and figures["errors"] == 0,
    )


def _wallboard_goals(results: Results) -> list[Goal]:
    figures: dict[str, Any] = results.get("wallboard") or {}
    # A results.json of a run before scenario 7 existed: the default setting.
    default = BenchConfig()
    operators = results["config"].get("wallboard_operators", default.wallboard_operators)
    rate = results["config"].get("wallboard_changes_per_s", default.wallboard_changes_per_s)
    following = wallboard.following_met(figures)
    mutation = wallboard.mutation_met(figures)
    unmeasured = figures.get("skipped", "—")
    if following is None:
        value = unmeasured
    else:
        catch_up = figures["catch_up_ms"]
        value = (
            f"longest task {longest_task_text(figures['longest_task_ms'])}, "
            f"{figures['long_tasks']} long "
            f"tasks, {figures['frames_per_s']:.1f} frames/s, "
            + (
                f"caught up {catch_up:.0f} ms after the last change"
                if catch_up is not None
                else "never caught up"
            )
        )
    return [
        Goal(
            f"Wallboard in Chromium at {operators} operators, live calls + "
            f"{rate:,.0f} status changes/s",
            f"longest main-thread task < {wallboard.LONGEST_TASK_MS:.0f} ms, "
            f"≥ {wallboard.MIN_FRAMES_PER_S:.0f} frames/s, caught up",
            value,
            following,
        ),
        Goal(
            "A status mutation on the wallboard's tile",
            f"≤ {wallboard.MUTATION_MS / 1000:.0f} s",
            unmeasured
            if mutation is None
            else f"max {figures['mutation_max_ms']:.0f} ms, p50 {figures['mutation_p50_ms']:.0f} ms",
            mutation,
        ),
    ]


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


Row = tuple[str, Callable[[Results, int], Any], int]


def _http_rows(results: Results) -> list[Row]:
    rows: list[Row] = []
    targets = [
        ("REST /operators", "rest_operators"),
        ("limit /operators", "limit_operators"),
        ("bare ASGI + store read /operators", "bare_store_operators"),
        ("GraphQL 6 fields", "graphql_6"),
        ("GraphQL all fields", "graphql_all"),
        ("REST /snapshot", "rest_snapshot"),
        ("limit /snapshot", "limit_snapshot"),
    ]
    for connections in results["config"]["connections"]:
        key = f"c{connections}"
        for label, name in targets:

            def rps(r: Results, size: int, name: str = name, key: str = key) -> Any:
                return figure_at(r, "sizes", size, "http", name, key, "rps")

            def p50(r: Results, size: int, name: str = name, key: str = key) -> Any:
                return figure_at(r, "sizes", size, "http", name, key, "p50_ms")

            def p99(r: Results, size: int, name: str = name, key: str = key) -> Any:
                return figure_at(r, "sizes", size, "http", name, key, "p99_ms")

            rows.append((f"{label}, c={connections}: req/s", rps, 0))
            rows.append((f"{label}, c={connections}: p50 ms", p50, 2))
            rows.append((f"{label}, c={connections}: p99 ms", p99, 2))

        def ratio(r: Results, size: int, key: str = key) -> Any:
            rest = figure_at(r, "sizes", size, "http", "rest_operators", key, "rps")
            limit = figure_at(r, "sizes", size, "http", "limit_operators", key, "rps")
            return rest / limit if rest and limit else None

        def times(r: Results, size: int, key: str = key) -> Any:
            graphql = figure_at(r, "sizes", size, "http", "graphql_6", key, "ms_per_request")
            rest = figure_at(r, "sizes", size, "http", "rest_operators", key, "ms_per_request")
            return graphql / rest if graphql and rest else None

        def bare(r: Results, size: int, key: str = key) -> Any:
            read = figure_at(r, "sizes", size, "http", "bare_store_operators", key, "rps")
            limit = figure_at(r, "sizes", size, "http", "limit_operators", key, "rps")
            return read / limit if read and limit else None

        rows.append((f"REST/limit req/s ratio, c={connections}", ratio, 2))
        rows.append((f"bare+store read/limit req/s ratio, c={connections}", bare, 2))
        rows.append((f"GraphQL 6 / REST time per request, c={connections}", times, 2))
    top_key = f"c{max(results['config']['connections'])}"
    rate = results["config"]["churn_rate"]

    def changing(r: Results, size: int, field: str = "rps") -> Any:
        return figure_at(r, "sizes", size, "http", "rest_operators_changing", top_key, field)

    def changing_ratio(r: Results, size: int) -> Any:
        rest = changing(r, size)
        limit = figure_at(r, "sizes", size, "http", "limit_operators", top_key, "rps")
        return rest / limit if rest and limit else None

    rows.append((f"REST /operators at {rate:.0f} changes/s, {top_key}: req/s", changing, 0))
    rows.append(
        (
            f"REST /operators at {rate:.0f} changes/s, {top_key}: p99 ms",
            lambda r, size: changing(r, size, "p99_ms"),
            2,
        )
    )
    rows.append((f"REST at {rate:.0f} changes/s / limit req/s", changing_ratio, 2))
    for name, label in (
        ("rest_operators", "REST /operators"),
        ("limit_operators", "limit /operators"),
        ("bare_store_operators", "bare ASGI + store read"),
    ):
        top = f"c{max(results['config']['connections'])}"

        def server_cpu(r: Results, size: int, name: str = name, top: str = top) -> Any:
            return figure_at(r, "sizes", size, "http", name, top, "server_cpu_ms_per_request")

        def redis_cpu(r: Results, size: int, name: str = name, top: str = top) -> Any:
            return figure_at(r, "sizes", size, "http", name, top, "redis_cpu_ms_per_request")

        rows.append((f"{label}: server CPU ms/request", server_cpu, 3))
        rows.append((f"{label}: Redis CPU ms/request", redis_cpu, 3))
    return rows


def _other_rows(results: Results) -> list[Row]:
    def field(*path: str) -> Callable[[Results, int], Any]:
        return lambda r, size: figure_at(r, "sizes", size, *path)

    rows: list[Row] = [
        (
            "operators / queues / channels",
            lambda r, s: figure_at(r, "sizes", s, "dataset", "label"),
            0,
        ),
        ("/operators body, bytes", field("http", "sizes", "operators_bytes"), 0),
        ("Redis: all operators as JSON, ms", field("db_vs_redis", "redis_ms"), 2),
        ("Redis: all operators parsed, ms", field("db_vs_redis", "redis_parsed_ms"), 2),
        ("PostgreSQL (SQLAlchemy): operators as JSON, ms", field("db_vs_redis", "postgres_ms"), 2),
        ("PostgreSQL / Redis time", field("db_vs_redis", "ratio"), 1),
        ("ingest: events/s sustained", field("ingest", "ingest", "processed_per_s"), 0),
        ("ingest: rate asked, events/s", field("ingest", "ingest", "rate"), 0),
        ("ingest: CPU % of one core", field("ingest", "ingest", "ingest_cpu_percent"), 1),
        ("ingest: events per CPU-second", field("ingest", "ingest", "events_per_cpu_second"), 0),
        ("ingest: kept up", field("ingest", "ingest", "kept_up"), 0),
        ("EVALSHA ceiling, events/s", field("ingest", "ceiling", "evalsha_per_s"), 0),
        ("ingest / ceiling", field("ingest", "ratio_to_ceiling"), 2),
    ]
    counts = tuple(results["config"]["subscriber_counts"]) + tuple(
        results["config"].get("goal_subscriber_counts") or ()
    )
    for subscribers in counts:
        for rate in results["config"]["change_rates"]:
            label = f"{subscribers} subs @ {rate:.0f}/s"

            def pick(name: str, subscribers: int = subscribers, rate: float = rate) -> Any:
                return lambda r, size: (subscription_run(r, size, subscribers, rate) or {}).get(
                    name
                )

            rows += [
                (f"{label}: p50 ms", pick("p50_ms"), 1),
                (f"{label}: p99 ms", pick("p99_ms"), 1),
                (f"{label}: lost", pick("lost"), 0),
                (f"{label}: frames/s per subscriber", pick("frames_per_subscriber_per_s"), 1),
                (f"{label}: server CPU %", pick("server_cpu_percent"), 1),
                (f"{label}: subscribers' process CPU %", pick("client_cpu_percent"), 1),
                (f"{label}: machine busy % (all cores)", pick("machine_busy_percent"), 1),
                (f"{label}: CPU µs/s per subscriber", pick("server_cpu_us_per_subscriber_s"), 1),
                (f"{label}: RSS KB per idle subscriber", pick("rss_per_idle_subscriber_kb"), 1),
            ]
    return rows


def table(results: Results) -> str:
    """Every figure across sizes, then the goals."""
    sizes = results["config"]["sizes"]
    rows = _http_rows(results) + _other_rows(results)
    width = max(len(label) for label, _, _ in rows) + 2
    header = "figure".ljust(width) + "".join(f"{size:>14,}" for size in sizes)
    lines = [header, "-" * len(header)]
    for label, getter, digits in rows:
        cells = "".join(f"{_fmt(getter(results, size), digits):>14}" for size in sizes)
        lines.append(label.ljust(width) + cells)
    lines.append("")
    lines.append("Wallboard in Chromium (scenario 7):")
    lines.extend(f"  {line}" for line in wallboard.describe(results.get("wallboard") or {}))
    lines.append("Wallboard fed from a recording (scenario 7b):")
    lines.extend(
        f"  {line}" for line in wallboard_replay.describe(results.get("wallboard_replay") or {})
    )
    lines.append("")
    lines.append("Real AMI message mix through the ingest (scenario 5b):")
    lines.extend(f"  {line}" for line in ingest_mix.describe(results.get("mix") or {}))
    lines.append("")
    if results.get("burst"):
        lines.append(burst.report(results["burst"]))
        lines.append("")
    lines.append("Goals (at {:,} operators):".format(results["config"]["goal_size"]))
    lines.extend(goal.line() for goal in goals(results))
    return "\n".join(lines)


def markdown_table(results: Results) -> str:
    """The same figures as a Markdown table (for the README)."""
    sizes = results["config"]["sizes"]
    rows = _http_rows(results) + _other_rows(results)
    lines = [
        "| figure | " + " | ".join(f"{size:,} operators" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for label, getter, digits in rows:
        cells = " | ".join(_fmt(getter(results, size), digits) for size in sizes)
        lines.append(f"| {label} | {cells} |")
    lines.append("")
    lines.append("Wallboard in Chromium (scenario 7):")
    lines.append("")
    lines.extend(f"- {line}" for line in wallboard.describe(results.get("wallboard") or {}))
    lines.append("")
    lines.append("Wallboard fed from a recording (scenario 7b):")
    lines.append("")
    lines.extend(
        f"- {line}" for line in wallboard_replay.describe(results.get("wallboard_replay") or {})
    )
    lines.append("")
    lines.append("Real AMI message mix through the ingest (scenario 5b):")
    lines.append("")
    lines.extend(f"- {line}" for line in ingest_mix.describe(results.get("mix") or {}))
    lines.append("")
    if results.get("burst"):
        lines.extend(["An AMI burst while the API is timed (scenario 10):", "", "```text"])
        lines.append(burst.report(results["burst"]))
        lines.extend(["```", ""])
    lines.append("| goal | result | target | |")
    lines.append("|---|---|---|---|")
    for goal in goals(results):
        mark = {True: "met", False: "**not met**", None: "not measured"}[goal.met]
        if goal.informational:
            mark = "figure"
        lines.append(f"| {goal.name} | {goal.value} | {goal.target} | {mark} |")
    return "\n".join(lines)


def write(results: Results, directory: Path) -> list[Path]:
    """results.json, results.txt (the table), results.md and results.png in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    results["goals"] = [goal.as_json() for goal in goals(results)]
    written = []
    json_path = directory / "results.json"
    json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    written.append(json_path)
    text_path = directory / "results.txt"
    text_path.write_text(table(results) + "\n")
    written.append(text_path)
    markdown_path = directory / "results.md"
    markdown_path.write_text(markdown_table(results) + "\n")
    written.append(markdown_path)
    png_path = directory / "results.png"
    problem = chart(results, png_path)
    if problem is None:
        written.append(png_path)
    else:
        results["chart"] = problem
    return written
