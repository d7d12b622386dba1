"""What one run measures: sizes, durations, loads (full `make bench`, or a smoke run)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Every knob of a run."""

    sizes: tuple[int, ...] = (100, 1000, 5000)
    """Operators (queues: one per twenty; channels: the calls in progress)."""
    goal_size: int = 1000
    """The size the goals are stated at."""
    http_seconds: float = 4.0
    http_rounds: int = 2
    """Each HTTP figure is measured this many times, product and ceiling interleaved;
    the median counts (the box is shared: interleaving keeps a ratio's two sides in
    the same conditions)."""
    connections: tuple[int, ...] = (1, 50)
    http_tool: str | None = None
    """wrk or python (our client); None: wrk when installed."""
    churn_rate: float = 500.0
    """Changes per second the simulator drives while REST is measured once more."""
    db_iterations: int = 20
    ingest_seconds: float = 30.0
    ingest_probe_seconds: float = 4.0
    ingest_first_rate: float = 3000.0
    ingest_max_rate: float = 60000.0
    ingest_refinements: int = 2
    """Probes halving the gap between the last rate that kept up and the first that did
    not (the rates grow by half each step: without them the figure is up to a third low)."""
    ceiling_seconds: float = 4.0
    mix_loops: int = 250
    """Scenario 5b: loops of the recorded live traffic (1,107 messages each, fresh ids)
    written as one burst through the real ingest, per variant."""
    subscriber_counts: tuple[int, ...] = (100, 1000)
    goal_subscriber_counts: tuple[int, ...] = (5000,)
    """Subscribers measured at the goal size only (one process' worth: issue 17)."""
    change_rates: tuple[float, ...] = (100.0, 500.0)
    subscription_seconds: float = 10.0
    subscription_filler: int = 1000
    """Subscribers connected (and closed again) before those whose memory is measured."""
    wallboard_operators: int = 200
    """The wallboard in Chromium (scenario 7): operators of its call centre."""
    wallboard_changes_per_s: float = 1000.0
    """Status changes a second on top of the call centre's own traffic, ..."""
    wallboard_seconds: float = 2.0
    """... for this long."""
    wallboard_mutations: int = 5
    """setOperatorStatus mutations timed to their tile."""
    wallboard_replay_operators: int = 1000
    """Scenario 7b: the wallboard fed from a recording, a call centre of this many operators ..."""
    wallboard_replay_changes_per_s: float = 1000.0
    """... with this many status changes a second on top of its own traffic ..."""
    wallboard_replay_seconds: float = 5.0
    """... recorded for this long, then replayed to the page without the server."""
    kpi_days: int = 30
    kpi_calls_per_hour: int = 1000
    """Scenario 8: call records generated (a month at 1,000 calls/hour: 720,000) ..."""
    kpi_connections: int = 2
    kpi_seconds: float = 5.0
    """... and the load of `queueStats(today, interval 900)` over them."""
    replica_count: int = 3
    """Scenario 9: `serve --role api` replicas behind one `serve --role ingest` ..."""
    replica_subscribers: int = 1000
    """... each with this many wallboard subscribers ..."""
    replica_rate: float = 500.0
    replica_seconds: float = 10.0
    """... while the ingest writes `replica_rate` changes a second for this long ..."""
    replica_operators: int = 100
    """... in a call centre of this many operators (the state is not what is measured)."""
    burst_messages: int = 45_700
    """Scenario 10: AMI messages of a busy queue written as fast as TCP takes them ..."""
    burst_operators: int = 1000
    """... to a server whose database has this many operators (the API's answers) ..."""
    burst_baseline_seconds: float = 3.0
    """... the API timed this long before the burst too (what it takes anyway)."""
    warm_seconds: float = 60.0
    """Model time the simulated call centre runs before the server first reads it."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"

    @classmethod
    def smoke(cls) -> BenchConfig:
        """Tiny sizes and durations: the harness works and every figure is produced."""
        return cls(
            sizes=(6,),
            goal_size=6,
            http_seconds=0.4,
            http_rounds=1,
            connections=(1, 4),
            http_tool="python",
            churn_rate=20.0,
            db_iterations=3,
            ingest_seconds=1.0,
            ingest_probe_seconds=0.5,
            ingest_first_rate=500.0,
            ingest_max_rate=500.0,
            ceiling_seconds=0.5,
            mix_loops=2,
            subscriber_counts=(3,),
            goal_subscriber_counts=(5,),
            change_rates=(20.0,),
            subscription_seconds=0.6,
            subscription_filler=3,
            warm_seconds=10.0,
            wallboard_operators=20,
            wallboard_changes_per_s=100.0,
            wallboard_seconds=0.5,
            wallboard_mutations=2,
            wallboard_replay_operators=20,
            wallboard_replay_changes_per_s=100.0,
            wallboard_replay_seconds=0.5,
            kpi_days=1,
            kpi_calls_per_hour=20,
            kpi_connections=2,
            kpi_seconds=0.5,
            replica_count=2,
            replica_subscribers=3,
            replica_rate=20.0,
            replica_seconds=0.6,
            replica_operators=6,
            burst_messages=5000,
            burst_operators=6,
            burst_baseline_seconds=0.5,
        )

    def with_services(self) -> BenchConfig:
        """The same, with the services the environment names (as the tests read them)."""
        return replace(
            self,
            redis_url=os.environ.get("QS_TEST_REDIS_URL", self.redis_url),
            pg_admin_url=os.environ.get("QS_TEST_PG_URL", self.pg_admin_url),
        )
