"""The ingest's goals beyond scenario 5: the real AMI mix (5b) and a burst under API load (10)."""

from __future__ import annotations

from typing import Any

from bench import burst, ingest_mix
from bench.config import BenchConfig
from bench.figures import Results
from bench.goal import Goal


def burst_goal(results: Results) -> Goal:
    figures: dict[str, Any] = results.get("burst") or {}
    messages = figures.get("messages", BenchConfig().burst_messages)
    operators = figures.get("operators", BenchConfig().burst_operators)
    return Goal(
        f"An AMI burst of {messages:,} messages as fast as TCP allows, API timed meanwhile "
        f"({operators:,} operators, scenario 10)",
        f"API p99 < {burst.P99_GOAL_MS:.0f} ms (REST and GraphQL), event-loop lag < "
        f"{burst.LAG_GOAL_MS:.0f} ms, queue depth ≤ its bound",
        burst.summary(figures),
        burst.met(figures),
    )


def mix_goals(results: Results) -> list[Goal]:
    """Scenario 5b: the real message mix, everything sent (the pre-filter drops what we
    do not use) and with the Login Events mask (Asterisk sends only our classes)."""
    figures: dict[str, Any] = results.get("mix") or {}
    out = []
    for events, label in (
        ("on", "Events: on"),
        (ingest_mix.VARIANTS[1][1], f"Events: {ingest_mix.VARIANTS[1][1]}"),
    ):
        measured = ingest_mix.variant(figures, events)
        name = f"Real AMI mix through the ingest, one core, {label}"
        if not measured:
            out.append(Goal(name, "", "—", None))
            continue
        ratio = measured.get("ratio_to_ceiling")
        value = (
            f"{measured['messages_per_s']:,} messages/s, {measured['relevant_per_s']:,} used"
            f" events/s ({100 * measured['ignored_share']:.0f} % ignored"
            + (f"; {ratio:.2f}× the EVALSHA ceiling" if ratio is not None else "")
            + f"), CPU {measured['ingest_cpu_percent']} %;"
            f" {measured['messages_per_cpu_second']:,} messages per CPU-second"
        )
        relevant_met = measured["relevant_per_s"] >= ingest_mix.RELEVANT_GOAL
        if events == "on":
            target = (
                f"≥ {ingest_mix.MESSAGES_GOAL:,} messages/s with"
                f" ≥ {ingest_mix.RELEVANT_GOAL:,} used events/s"
            )
            met = relevant_met and measured["messages_per_s"] >= ingest_mix.MESSAGES_GOAL
        else:
            target = f"≥ {ingest_mix.RELEVANT_GOAL:,} used events/s"
            met = relevant_met
        out.append(Goal(name, target, value, met and measured["events_dropped"] == 0))
    return out
