"""Item 20: docker-compose.yml publishes nothing a stranger can write to.

No Docker engine here: the file is read as Compose reads it (YAML, then
`${VAR:-default}` / `${VAR:?error}` interpolation from the environment) and
the hardened properties are checked: no default API tokens (Compose refuses
to run without API_TOKENS), every published port on 127.0.0.1 unless the
user says otherwise (APP_BIND), no placeholder secret for the app, and the
app's own start-up check refusing a weak token on the container's 0.0.0.0.
The `ha` profile keeps the same rules for its api replicas and its proxy, and
its processes are checked as Compose and the app would take them: each role
given, Sentinel settings the app accepts, the proxy's WebSocket idle limit
above every keep-alive a healthy socket sends (`haproxy -c` when HAProxy is
installed: `apt-get install haproxy`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from api.server import uvicorn_config
from api.settings import SettingsError, load_settings
from tests.reliability.env import record

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
HAPROXY = ROOT / "docker" / "haproxy" / "haproxy.cfg"
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?|-|\?)(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    """A `${VAR:?message}` without a value: Compose stops here."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, on every string of the parsed file."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        given = env.get(name)
        empty = given is None or (given == "" and op in (":-", ":?"))
        if op in (":?", "?") and empty:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and empty:
            return arg
        return given or ""

    return _VARIABLE.sub(substitute, value)


def compose(env: dict[str, str]) -> dict[str, Any]:
    parsed = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    resolved: dict[str, Any] = interpolate(parsed, env)
    return resolved


def published(project: dict[str, Any]) -> list[tuple[str, str]]:
    """(service, host address) of every published port."""
    found = []
    for name, service in project["services"].items():
        for port in service.get("ports", []):
            text = str(port)
            parts = text.split(":")
            assert len(parts) == 3, f"{name} publishes {text} on every address"
            found.append((name, parts[0]))
    return found


STRONG = "supervisor:" + "s" * 24 + ",admin:" + "a" * 24


def test_compose_needs_api_tokens_and_binds_loopback() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert "change-me" not in text.lower()
    services = yaml.safe_load(text)["services"]
    for name in ("app", "api-1", "api-2"):
        raw = services[name]["environment"]["API_TOKENS"]
        assert re.fullmatch(r"\$\{API_TOKENS:\?[^}]+\}", raw), (name, raw)  # no default
    with pytest.raises(MissingVariable, match="API_TOKENS"):
        compose({})
    project = compose({"API_TOKENS": STRONG})
    addresses = published(project)
    assert addresses and all(address == "127.0.0.1" for _, address in addresses), addresses
    # The user may say otherwise, for the app.
    opened = published(compose({"API_TOKENS": STRONG, "APP_BIND": "0.0.0.0"}))
    assert {name for name, address in opened if address != "127.0.0.1"} == {"app", "ha-proxy"}


def app_environment(tokens: str, service: str = "app") -> dict[str, str]:
    app = compose({"API_TOKENS": tokens})["services"][service]
    environment = {key.lower(): str(value) for key, value in app["environment"].items()}
    assert environment["host"] == "0.0.0.0"
    return environment


def test_the_app_starts_with_strong_tokens_on_its_container_address() -> None:
    assert load_settings(**app_environment(STRONG), _env_file=None).tokens


@pytest.mark.parametrize("tokens", ["admin:short-token", "admin:change-me-admin-token-0123456789"])
def test_the_app_refuses_weak_tokens_on_its_container_address(tokens: str) -> None:
    with pytest.raises(SettingsError, match=r"^Invalid setting API_TOKENS:") as refused:
        load_settings(**app_environment(tokens), _env_file=None)
    assert tokens.split(":", 1)[1] not in str(refused.value)


HA = ("redis-master", "redis-replica", "redis-sentinel-1", "redis-sentinel-2", "redis-sentinel-3")
ROLES = {"ingest-1": "ingest", "ingest-2": "ingest", "api-1": "api", "api-2": "api"}


def test_the_ha_profile_leaves_the_default_services_alone() -> None:
    services = compose({"API_TOKENS": STRONG})["services"]
    in_ha = {name for name, service in services.items() if "ha" in service.get("profiles", [])}
    assert in_ha == {*HA, *ROLES, "ha-proxy"}
    assert all(
        not service.get("profiles") for name, service in services.items() if name not in in_ha
    )
    # Nothing of the default profile waits for a service it would not start.
    for name, service in services.items():
        if name not in in_ha:
            assert not in_ha & set(service.get("depends_on", {})), name


def test_the_ha_processes_have_their_roles_and_find_redis_through_sentinel() -> None:
    services = compose({"API_TOKENS": STRONG})["services"]
    sentinels = services["redis-sentinel-1"]["command"][-1]
    master = re.search(r"sentinel monitor (\S+) redis-master 6379 2", sentinels)
    assert master, sentinels
    assert "redis-replica" in HA and services["redis-replica"]["command"][-2:] == [
        "redis-master",
        "6379",
    ]
    for name, role in ROLES.items():
        service = services[name]
        assert service["command"] == ["queue-status", "serve", "--role", role]
        environment = service["environment"]
        addresses = environment["REDIS_SENTINELS"].split(",")
        assert addresses == [f"redis-sentinel-{n}:26379" for n in (1, 2, 3)], name
        assert environment["REDIS_SENTINEL_MASTER"] == master[1]
        assert "redis" not in service["depends_on"]  # the default profile's Redis: not used
        if role == "ingest":
            assert "API_TOKENS" not in environment  # an ingest takes no request that writes
            assert environment["INGEST_LEASE_SECONDS"] == "10"


def test_the_ha_api_starts_with_strong_tokens_and_refuses_weak_ones() -> None:
    assert load_settings(**app_environment(STRONG, "api-1"), _env_file=None).tokens
    with pytest.raises(SettingsError, match=r"^Invalid setting API_TOKENS:"):
        load_settings(**app_environment("admin:short-token", "api-2"), _env_file=None)


def haproxy_seconds(directive: str) -> float:
    """A `timeout <directive> <n>s` of docker/haproxy/haproxy.cfg, in seconds."""
    found = re.search(rf"^\s*timeout {directive} (\d+)s$", HAPROXY.read_text(), re.MULTILINE)
    assert found, directive
    return float(found[1])


def test_the_proxy_keeps_idle_websockets_longer_than_their_keepalives() -> None:
    tunnel = haproxy_seconds("tunnel")
    ping = uvicorn_config(FastAPI(), load_settings(_env_file=None)).ws_ping_interval
    keepalive = load_settings(_env_file=None).graphql_ws_keepalive
    assert ping is not None and tunnel > max(ping, keepalive) * 2, (tunnel, ping, keepalive)
    text = HAPROXY.read_text()
    for name in ("api-1", "api-2"):
        assert re.search(rf"^\s*server {name} {name}:3000$", text, re.MULTILINE), name
    assert "uri /readyz" in text and "hdr Host localhost" in text


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
def test_haproxy_accepts_its_configuration() -> None:
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(HAPROXY)], capture_output=True, text=True, timeout=20
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_row() -> None:
    project = compose({"API_TOKENS": STRONG})
    record(
        "20",
        "docker-compose.yml as Compose reads it (default and ha profiles): no API_TOKENS "
        "given, weak or change-me tokens on the container's 0.0.0.0",
        "compose refuses to run without API_TOKENS (no default); every port on 127.0.0.1 "
        "unless APP_BIND (app, ha-proxy); the app and the ha api replicas refuse tokens "
        "< 16 characters or change-me; the ha proxy's WebSocket idle limit above the pings",
        publishedPorts=len(published(project)),
        onLoopback=sum(1 for _, address in published(project) if address == "127.0.0.1"),
        defaultTokens=0,
        haTunnelSeconds=haproxy_seconds("tunnel"),
    )
