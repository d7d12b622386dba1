"""The Helm chart (deploy/helm/queue-status), rendered without helm.

helm is not installable here (no registry ships it), so `helm lint` does not run:
the templates are rendered by tests/deploy/gotemplate.py (the part of Helm's
template language the chart uses; a missing value is an error there) and what
comes out is checked as YAML and against what the app serves. Not checked: the
Kubernetes API schemas (no cluster, no kubeconform), Helm's own lint rules.

What is checked: every manifest parses and has apiVersion/kind/metadata.name; the
api and ingest Deployments run `serve --role api|ingest` with the replicas asked;
the Service and the PDBs select exactly the pods of their role; the probes use
paths the app serves (readiness GET /readyz with a Host the app accepts;
liveness a GET of /metrics from inside the container, run here against a small
server, with and without METRICS_TOKEN); secrets come only from the named Secret
and values.yaml holds none; the Ingress carries the WebSocket idle timeouts
above the keep-alive intervals.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from api.server import uvicorn_config
from api.settings import load_settings
from tests.deploy.chart import CHART, default_values, manifests, render_chart
from tests.deploy.gotemplate import TemplateError

SECRET = "queue-status-secrets"
GIVEN = {"secrets": {"existingSecret": SECRET}}
SECRET_SETTINGS = (
    "API_TOKENS",
    "AMI_SECRET",
    "DATABASE_URL",
    "ALERT_WEBHOOK_URLS",
    "METRICS_TOKEN",
)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind]


def deployment(objects: list[dict[str, Any]], role: str) -> dict[str, Any]:
    (found,) = [
        item
        for item in by_kind(objects, "Deployment")
        if item["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == role
    ]
    return found


def container(objects: list[dict[str, Any]], role: str) -> dict[str, Any]:
    only: dict[str, Any]
    (only,) = deployment(objects, role)["spec"]["template"]["spec"]["containers"]
    return only


def environment(item: dict[str, Any]) -> dict[str, Any]:
    names = [entry["name"] for entry in item["env"]]
    assert len(names) == len(set(names)), names  # the last of two would win silently
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in item["env"]}


def test_every_manifest_parses_with_its_identity() -> None:
    objects = manifests(GIVEN)
    kinds = sorted(item["kind"] for item in objects)
    assert kinds == [
        "Deployment",
        "Deployment",
        "Ingress",
        "PodDisruptionBudget",
        "PodDisruptionBudget",
        "Service",
    ]
    for item in objects:
        assert item["apiVersion"] and item["metadata"]["name"].startswith("wallboard-"), item
    names = [(item["kind"], item["metadata"]["name"]) for item in objects]
    assert len(names) == len(set(names)), names


def test_the_roles_run_with_their_replicas() -> None:
    objects = manifests({**GIVEN, "api": {"replicas": 3}, "ingest": {"replicas": 2}})
    for role, replicas in (("api", 3), ("ingest", 2)):
        item = deployment(objects, role)
        assert item["spec"]["replicas"] == replicas
        assert container(objects, role)["args"] == ["queue-status", "serve", "--role", role]
        selector = item["spec"]["selector"]["matchLabels"]
        assert selector.items() <= item["spec"]["template"]["metadata"]["labels"].items()
        assert item["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_service_and_budgets_select_their_role_only() -> None:
    objects = manifests(GIVEN)
    (service,) = by_kind(objects, "Service")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    budgets = {
        item["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: item["spec"]
        for item in by_kind(objects, "PodDisruptionBudget")
    }
    assert set(budgets) == {"api", "ingest"}
    assert all(spec["minAvailable"] == 1 for spec in budgets.values())
    for role, spec in budgets.items():
        pods = deployment(objects, role)["spec"]["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= pods.items()


def test_readiness_asks_readyz_with_a_host_the_app_accepts() -> None:
    objects = manifests(GIVEN)
    for role in ("api", "ingest"):
        probe = container(objects, role)["readinessProbe"]["httpGet"]
        assert probe["path"] == "/readyz" and probe["port"] == "http"
        assert {"name": "Host", "value": "localhost"} in probe["httpHeaders"]
        ports = container(objects, role)["ports"]
        assert {"name": "http", "containerPort": 3000} in ports


class _Metrics(http.server.BaseHTTPRequestHandler):
    """/metrics behind a bearer token when the server has one, as the app does."""

    token = ""

    def do_GET(self) -> None:
        wanted = f"Bearer {self.token}" if self.token else None
        given = self.headers.get("Authorization")
        ok = self.path == "/metrics" and (wanted is None or given == wanted)
        self.send_response(200 if ok else 401)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def metrics_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("token", ["", "m" * 24])
def test_liveness_gets_metrics_with_the_token_when_set(
    metrics_server: http.server.HTTPServer, token: str
) -> None:
    probe = container(manifests(GIVEN), "ingest")["livenessProbe"]
    command = probe["exec"]["command"]
    assert command[:2] == ["python", "-c"]
    port = str(metrics_server.server_address[1])
    _Metrics.token = token
    env = {**os.environ, "PORT": port, "METRICS_TOKEN": token}
    run = [sys.executable, *command[1:]]
    assert subprocess.run(run, env=env, timeout=10, capture_output=True).returncode == 0
    if token:  # the probe fails when it does not send the right token
        wrong = {**env, "METRICS_TOKEN": "x" * 24}
        assert subprocess.run(run, env=wrong, timeout=10, capture_output=True).returncode != 0
    assert probe["timeoutSeconds"] > 1


def test_secrets_come_from_the_named_secret_only() -> None:
    objects = manifests(GIVEN)
    for role in ("api", "ingest"):
        env = environment(container(objects, role))
        for name in SECRET_SETTINGS:
            if role == "ingest" and name == "API_TOKENS":
                assert name not in env  # an ingest takes no request that writes
                continue
            reference = env[name]["secretKeyRef"]
            assert reference == {"name": SECRET, "key": name, "optional": True}
        assert env["HOST"] == "0.0.0.0" and env["PORT"] == "3000"
    with pytest.raises(TemplateError, match="existingSecret"):
        render_chart({})


def leaves(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(key, value) of every scalar of a parsed YAML tree (list items under their key)."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from leaves(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item, key)
    else:
        yield key, value


def test_values_hold_no_secret() -> None:
    values = default_values()
    assert not set(values["env"]) & set(SECRET_SETTINGS)
    assert values["secrets"]["existingSecret"] == ""  # a name, and none by default
    found = list(leaves(values))
    assert len(found) > 30  # the walk saw the whole file
    for key, value in found:
        if re.search(r"(?i)secret|token|password|webhook", key) and key != "existingSecret":
            assert value in ("", None), key
        assert not re.search(r"://[^/\s:@]+:[^@\s]+@", str(value)), key  # no URL with a password


def test_the_ingress_keeps_websockets_open_past_their_keepalives() -> None:
    (ingress,) = by_kind(manifests(GIVEN), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    settings = load_settings(_env_file=None)
    ping = uvicorn_config(FastAPI(), settings).ws_ping_interval
    longest = max(ping or 0, settings.graphql_ws_keepalive)
    for name in ("proxy-read-timeout", "proxy-send-timeout"):
        assert float(annotations[f"nginx.ingress.kubernetes.io/{name}"]) > 2 * longest
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] in default_values()["env"]["ALLOWED_HOSTS"].split(",")
    backend = rule["http"]["paths"][0]["backend"]["service"]
    (service,) = by_kind(manifests(GIVEN), "Service")
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert not by_kind(manifests({**GIVEN, "ingress": {"enabled": False}}), "Ingress")


def test_notes_render_and_the_chart_metadata_is_complete() -> None:
    notes = render_chart(GIVEN)["NOTES.txt"]
    assert "ingest" in notes and SECRET in notes
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert meta["apiVersion"] == "v2" and meta["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
