"""The benchmark chart: each figure across sizes, as one PNG (matplotlib, optional)."""

from __future__ import annotations

from pathlib import Path

from bench.figures import Results, figure_at, subscription_run


def chart(results: Results, path: Path) -> str | None:
    """A PNG of each figure across sizes; the reason when it cannot be drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install '.[bench]')"
    sizes = results["config"]["sizes"]
    top = f"c{max(results['config']['connections'])}"
    figure, axes = plt.subplots(2, 3, figsize=(16, 9))
    figure.suptitle("Queue Status benchmark (same machine, same run)")

    def series(*path: str) -> list[float]:
        return [float(figure_at(results, "sizes", size, *path) or 0) for size in sizes]

    def panel(
        index: int,
        title: str,
        unit: str,
        lines: dict[str, list[float]],
        *,
        log: bool = False,
        goals: dict[str, float] | None = None,
    ) -> None:
        axis = axes.flat[index]
        for label, values in lines.items():
            axis.plot(sizes, values, marker="o", label=label)
        for label, value in (goals or {}).items():
            axis.axhline(value, linestyle="--", linewidth=1, color="grey")
            axis.annotate(label, (sizes[0], value), fontsize=7, color="grey", va="bottom")
        axis.set_xscale("log")
        if log:
            axis.set_yscale("log")
        axis.set_xticks(sizes, [f"{size:,}" for size in sizes])
        axis.set_title(title)
        axis.set_xlabel("operators")
        axis.set_ylabel(unit)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)

    def ratio(top_path: tuple[str, ...], bottom_path: tuple[str, ...]) -> list[float]:
        tops, bottoms = series(*top_path), series(*bottom_path)
        return [t / b if b else 0.0 for t, b in zip(tops, bottoms, strict=True)]

    panel(
        0,
        f"Requests per second ({top[1:]} connections)",
        "req/s",
        {
            "REST /operators": series("http", "rest_operators", top, "rps"),
            "limit /operators": series("http", "limit_operators", top, "rps"),
            "bare ASGI + store read": series("http", "bare_store_operators", top, "rps"),
            "GraphQL 6 fields": series("http", "graphql_6", top, "rps"),
            "REST /snapshot": series("http", "rest_snapshot", top, "rps"),
            "limit /snapshot": series("http", "limit_snapshot", top, "rps"),
        },
        log=True,
    )
    panel(
        1,
        "Ratios to the same-run ceilings (goal lines dashed)",
        "ratio",
        {
            "REST / limit req/s": ratio(
                ("http", "rest_operators", top, "rps"), ("http", "limit_operators", top, "rps")
            ),
            "GraphQL 6 / REST time (c=1)": ratio(
                ("http", "graphql_6", "c1", "ms_per_request"),
                ("http", "rest_operators", "c1", "ms_per_request"),
            ),
            "PostgreSQL / Redis time": series("db_vs_redis", "ratio"),
            "ingest / EVALSHA ceiling": series("ingest", "ratio_to_ceiling"),
        },
        log=True,
        goals={"0.7": 0.7, "5": 5.0, "0.25": 0.25},
    )
    panel(
        2,
        "Time per request (1 connection)",
        "ms",
        {
            "REST /operators": series("http", "rest_operators", "c1", "ms_per_request"),
            "GraphQL 6 fields": series("http", "graphql_6", "c1", "ms_per_request"),
            "GraphQL all fields": series("http", "graphql_all", "c1", "ms_per_request"),
            "limit /operators": series("http", "limit_operators", "c1", "ms_per_request"),
            "Redis read (in process)": series("db_vs_redis", "redis_ms"),
            "PostgreSQL read (in process)": series("db_vs_redis", "postgres_ms"),
        },
        log=True,
    )
    panel(
        3,
        "Ingest vs Redis' EVALSHA ceiling",
        "events/s",
        {
            "ingest (sustained)": series("ingest", "ingest", "processed_per_s"),
            "ingest per CPU-second": series("ingest", "ingest", "events_per_cpu_second"),
            "EVALSHA ceiling": series("ingest", "ceiling", "evalsha_per_s"),
        },
        goals={"20,000": 20_000.0},
    )
    latency: dict[str, list[float]] = {}
    memory: dict[str, list[float]] = {}
    for subscribers in results["config"]["subscriber_counts"]:
        for rate in results["config"]["change_rates"]:
            runs = [subscription_run(results, size, subscribers, rate) or {} for size in sizes]
            latency[f"p99, {subscribers} subs @ {rate:.0f}/s"] = [
                float(run.get("p99_ms") or 0) for run in runs
            ]
        runs = [
            subscription_run(results, size, subscribers, results["config"]["change_rates"][0]) or {}
            for size in sizes
        ]
        memory[f"{subscribers} subscribers"] = [
            float(run.get("rss_per_idle_subscriber_kb") or 0) for run in runs
        ]
    panel(4, "Subscriptions: event → frame latency", "ms", latency, goals={"100 ms": 100.0})
    panel(5, "RSS per idle subscriber", "KB", memory, goals={"50 KB": 50.0})
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return None
