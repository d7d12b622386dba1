"""The HTTP goals: REST against the limit, GraphQL against REST (`bench.http`'s figures)."""

from __future__ import annotations

from bench.figures import Results, figure_at
from bench.goal import Goal


def rest_small_goal(results: Results, top: int) -> Goal:
    """REST at the smallest size vs the limit: framework overhead on a small body."""
    size = min(int(key) for key in results["sizes"])
    rest = figure_at(results, "sizes", size, "http", "rest_operators", f"c{top}", "rps")
    limit = figure_at(results, "sizes", size, "http", "limit_operators", f"c{top}", "rps")
    ratio = rest / limit if rest and limit else None
    return Goal(
        f"REST operators at {size} operators vs the limit ({top} connections)",
        f"≥ {REST_SMALL_GOAL:.2f}× the limit's req/s",
        "—" if ratio is None else f"{ratio:.2f}× ({rest:,.0f} vs {limit:,.0f} req/s)",
        None if ratio is None else ratio >= REST_SMALL_GOAL,
    )


REST_SMALL_GOAL = 0.8
GRAPHQL_GOALS = (
    # (name, figure, REST figure compared with, most times REST's time per request)
    ("6 fields", "graphql_6", "rest_operators", 1.5),
    ("all fields with memberships", "graphql_all", "rest_operators", 2.0),
    (
        "wallboard queues (never cached: wait times) vs REST /queues",
        "graphql_queues",
        "rest_queues",
        5.0,
    ),
)


def graphql_goals(results: Results, size: int, top: int) -> list[Goal]:
    """GraphQL's time per request against REST's, per number of connections, and the
    6-field query under churn (no goal: how often the answer cache still serves)."""
    out = []
    for label, name, rest_name, most in GRAPHQL_GOALS:
        for connections in sorted({top, 1}, reverse=True):
            key = f"c{connections}"
            graphql = figure_at(results, "sizes", size, "http", name, key, "ms_per_request")
            rest = figure_at(results, "sizes", size, "http", rest_name, key, "ms_per_request")
            times = graphql / rest if graphql and rest else None
            out.append(
                Goal(
                    f"GraphQL {size} operators, {label}: time per request vs REST "
                    f"({connections} connection{'s' if connections > 1 else ''})",
                    f"≤ {most:g}× REST",
                    "—" if times is None else f"{times:.2f}× ({graphql:.2f} vs {rest:.2f} ms)",
                    None if times is None else times <= most,
                )
            )
    out.append(_churn_figure(results, size, top))
    return out


def _churn_figure(results: Results, size: int, top: int) -> Goal:
    changing = figure_at(results, "sizes", size, "http", "graphql_6_changing") or {}
    graphql = figure_at(changing, f"c{top}", "ms_per_request")
    rest = figure_at(
        results, "sizes", size, "http", "rest_operators_changing", f"c{top}", "ms_per_request"
    )
    counts = changing.get("answer_cache") or {}
    served = counts.get("hits", 0) + counts.get("misses", 0)
    rate = results["config"]["churn_rate"]
    value = "—"
    if graphql and rest:
        value = f"{graphql / rest:.2f}× REST's time per request ({graphql:.2f} vs {rest:.2f} ms)"
        if served:
            value += f", {counts['hits'] / served:.0%} answered from the cache"
    return Goal(
        f"GraphQL {size} operators × 6 fields at {rate:.0f} changes/s ({top} connections)",
        "no goal: shown for the answer cache under churn",
        value,
        None,
        informational=True,
    )
