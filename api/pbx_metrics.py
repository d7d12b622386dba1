"""/metrics with several PBXes: each PBX's series with a `pbx` label, never colliding.

Without PBXES the process has one registry (`ingest.metrics.Metrics`) and
/metrics is exactly as before. With PBXES each PBX's parts (store, sync,
election, records, console, alerts) count into a registry of their own, and
`PbxSeries` exposes them from the process registry as one family per name
with a `pbx` label on every sample. The process-wide series (HTTP requests,
the audit writer, the GraphQL answer cache) stay in the process registry, unlabelled: a family the
PBX registries also define (every `Metrics` has them) is taken from the
process registry only, and a per-PBX family from the PBX registries only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

PROCESS_WIDE = (
    "queue_status_http_",
    "queue_status_audit_",
    "queue_status_event_loop_",
    "queue_status_graphql_answer_cache_",
)
"""Families every process counts once (its HTTP server, its one audit writer, its one
event loop, its GraphQL answer cache)."""


def process_wide(name: str) -> bool:
    """Whether a family is the process's, not a PBX's."""
    return name.startswith(PROCESS_WIDE)


class ProcessSeries(Collector):
    """The process registry's own families, minus the per-PBX ones it also defines."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            if process_wide(family.name):
                yield family


class PbxSeries(Collector):
    """Every PBX registry's per-PBX families, merged by name, each sample labelled `pbx`."""

    def __init__(self, registries: Mapping[str, CollectorRegistry]) -> None:
        self._registries = registries

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for pbx, registry in self._registries.items():
            for family in registry.collect():
                if process_wide(family.name):
                    continue
                target = merged.get(family.name)
                if target is None:
                    target = Metric(family.name, family.documentation, family.type, family.unit)
                    merged[family.name] = target
                target.samples.extend(
                    Sample(s.name, {**s.labels, "pbx": pbx}, s.value, s.timestamp, s.exemplar)
                    for s in family.samples
                )
        yield from merged.values()


def exposition_registry(
    process: CollectorRegistry, pbxes: Mapping[str, CollectorRegistry]
) -> CollectorRegistry:
    """What /metrics shows with several PBXes (see the module's doc)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessSeries(process))
    registry.register(PbxSeries(pbxes))
    return registry
