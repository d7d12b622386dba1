"""The console script: invalid settings stop startup with one clear line, secrets never printed."""

from __future__ import annotations

import pytest

from api.cli import main


def test_invalid_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    monkeypatch.setenv("AMI_SECRET", "s3cr3t-canary-value")
    monkeypatch.setenv("API_TOKENS", "wizard:tok-canary-value")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Invalid setting PORT" in err
    assert "Invalid setting API_TOKENS" in err
    assert "wizard" in err
    assert "canary-value" not in err


def test_bad_redis_url_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", "http://user:pw-canary@host/0")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "Invalid setting REDIS_URL" in err
    assert "pw-canary" not in err


@pytest.mark.parametrize("value", ["99", "1000001", "many"])
def test_ingest_queue_bound_out_of_range_is_named(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INGEST_QUEUE_MAX", value)
    assert main(["serve"]) == 2
    assert "Invalid setting INGEST_QUEUE_MAX" in capsys.readouterr().err
