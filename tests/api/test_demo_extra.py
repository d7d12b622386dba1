"""Without the demo extra (fakeredis, aiosqlite) the demo and a SQLite URL say so in one line."""

from __future__ import annotations

from typing import Any

import pytest

import api.demo
import ingest.config_checks
from api.cli import main


def _without(*modules: str) -> Any:
    def find_spec(name: str) -> object | None:
        return None if name in modules else object()

    return find_spec


def test_demo_without_its_extra_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(api.demo, "find_spec", _without("fakeredis", "aiosqlite"))
    assert main(["demo", "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "queue-status demo: the demo needs fakeredis, aiosqlite: pip install 'queue-status[demo]'\n"
    )
    assert captured.out == ""


def test_a_sqlite_url_without_aiosqlite_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ingest.config_checks, "find_spec", _without("aiosqlite"))
    monkeypatch.setenv("DATABASE_URL", "sqlite:///queue-status.sqlite")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Invalid setting DATABASE_URL" in err
    assert "pip install 'queue-status[demo]'" in err
