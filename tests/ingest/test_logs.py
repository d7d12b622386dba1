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


def test_a_line_on_behalf_of_a_pbx_names_it_and_others_stay_as_they_were(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ingest.logs import logging_for_pbx

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")
    try:
        get_logger("AmiService").info("AMI connected")
        with logging_for_pbx("east"):
            get_logger("AmiService").info("AMI connected")
        get_logger("AmiService").info("after")
    finally:
        reset_logging()
    plain, east, after = stream.getvalue().splitlines()
    # Without a PBX: the documented shape, byte for byte.
    assert plain.endswith(" INFO  [AmiService] AMI connected"), plain
    assert plain.count("[") == 1
    assert east.endswith(" INFO  [AmiService] [east] AMI connected"), east
    assert after.endswith(" INFO  [AmiService] after"), after


async def test_tasks_started_on_behalf_of_a_pbx_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from ingest.logs import logging_for_pbx

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO")

    async def work(line: str) -> None:
        await asyncio.sleep(0)
        get_logger("IngestElection").info(line)

    try:
        with logging_for_pbx("west"):
            west = asyncio.create_task(work("west's"))
        plain = asyncio.create_task(work("nobody's"))
        await asyncio.gather(west, plain)
    finally:
        reset_logging()
    lines = stream.getvalue().splitlines()
    assert any(line.endswith("[IngestElection] [west] west's") for line in lines), lines
    assert any(line.endswith("[IngestElection] nobody's") for line in lines), lines
