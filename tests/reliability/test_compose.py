"""Item 20: docker-compose.yml publishes nothing a stranger can write to.

No Docker engine here: the file is read as Compose reads it (YAML, then
`${VAR:-default}` / `${VAR:?error}` interpolation from the environment) and
the hardened properties are checked: no default API tokens (Compose refuses
to run without API_TOKENS), every published port on 127.0.0.1 unless the
user says otherwise (APP_BIND), no placeholder secret for the app, and the
app's own start-up check refusing a weak token on the container's 0.0.0.0.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.settings import SettingsError, load_settings
from tests.reliability.env import record

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
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
    raw = yaml.safe_load(text)["services"]["app"]["environment"]["API_TOKENS"]
    assert re.fullmatch(r"\$\{API_TOKENS:\?[^}]+\}", raw), raw  # required, no default
    with pytest.raises(MissingVariable, match="API_TOKENS"):
        compose({})
    project = compose({"API_TOKENS": STRONG})
    addresses = published(project)
    assert addresses and all(address == "127.0.0.1" for _, address in addresses), addresses
    # The user may say otherwise, for the app.
    opened = dict(published(compose({"API_TOKENS": STRONG, "APP_BIND": "0.0.0.0"})))
    assert opened["app"] == "0.0.0.0"


def app_environment(tokens: str) -> dict[str, str]:
    app = compose({"API_TOKENS": tokens})["services"]["app"]
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


def test_compose_row() -> None:
    project = compose({"API_TOKENS": STRONG})
    record(
        "20",
        "docker-compose.yml as Compose reads it: no API_TOKENS given, weak or change-me "
        "tokens on the container's 0.0.0.0",
        "compose refuses to run without API_TOKENS (no default); every port on 127.0.0.1 "
        "unless APP_BIND; the app refuses tokens < 16 characters or change-me",
        publishedPorts=len(published(project)),
        onLoopback=sum(1 for _, address in published(project) if address == "127.0.0.1"),
        defaultTokens=0,
    )
