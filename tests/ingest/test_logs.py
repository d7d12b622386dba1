"""Log handlers: stderr as it is now, never a stream some earlier code installed."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from ingest.logs import configure_logging, get_logger, reset_logging


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_queue_status_handler", False)]


def test_lines_go_to_the_current_stderr_even_after_the_old_one_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    get_logger("Probe").info("one")
    assert "[Probe] one" in first.getvalue()
    first.close()  # as pytest closes a test's capture at its teardown

    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    get_logger("Probe").info("two")
    written = second.getvalue()
    assert "[Probe] two" in written
    assert "Logging error" not in written and "closed file" not in written


def test_configuring_again_replaces_and_reset_removes_only_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    other = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(other)
    try:
        configure_logging("INFO")
        configure_logging("WARNING")
        assert len(_ours()) == 1
        reset_logging()
        assert _ours() == []
        assert other in root.handlers
    finally:
        root.removeHandler(other)
