"""The Helm chart under deploy/helm/queue-status rendered as `helm template` would,
through tests/deploy/gotemplate.py (its docstring says how far that goes)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.gotemplate import Renderer, parse

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "queue-status"
RELEASE = "wallboard"


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`--set`/`-f` semantics: maps merge key by key, null removes, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def default_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    return values


def render_chart(overrides: dict[str, Any]) -> dict[str, str]:
    """{template file name: rendered text} for values.yaml with `overrides`."""
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    root = {
        "Values": merged(default_values(), overrides),
        "Release": {"Name": RELEASE, "Namespace": "default", "Service": "Helm"},
        "Chart": {
            "Name": meta["name"],
            "Version": meta["version"],
            "AppVersion": meta["appVersion"],
        },
    }
    files = sorted((CHART / "templates").iterdir())
    parsed = {path.name: parse(path.read_text(encoding="utf-8")) for path in files}
    defines = {name: body for _, found in parsed.values() for name, body in found.items()}
    renderer = Renderer(defines)
    return {
        name: renderer.render(nodes, root, {"$": root})
        for name, (nodes, _) in parsed.items()
        if not name.startswith("_")
    }


def manifests(overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders (NOTES.txt aside), parsed."""
    found: list[dict[str, Any]] = []
    for name, text in render_chart(overrides).items():
        if name.endswith(".yaml"):
            found.extend(doc for doc in yaml.safe_load_all(text) if doc is not None)
    return found
