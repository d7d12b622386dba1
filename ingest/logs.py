"""Logging: one format for stderr and the log file, each line tagged with its component.

The runbook's support checks grep the log for component tags such as
`QueueDataSyncService` and `AmiService`, so every logger of ours is named
`queue_status.<Component>` and the formatter prints `[<Component>]`.

With several PBXes (PBXES) a line emitted on behalf of one PBX names it after
its component, `[AmiService] [east] AMI connected`: the code that works for a
PBX runs inside `logging_for_pbx(name)` (its tasks inherit it, as asyncio
tasks copy the context they are created in). Without PBXES nothing sets it
and every line is byte for byte what it was.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

ROOT = "queue_status"
FORMAT = "%(asctime)s %(levelname)-5s [%(component)s] %(pbx_tag)s%(message)s"

_PBX: ContextVar[str | None] = ContextVar("queue_status_log_pbx", default=None)

_HANDLER_MARK = "_queue_status_handler"


def get_logger(component: str) -> logging.Logger:
    """The logger of one component, e.g. `get_logger("AmiService")`."""
    return logging.getLogger(f"{ROOT}.{component}")


@contextmanager
def logging_for_pbx(name: str | None) -> Iterator[None]:
    """Lines logged within, and in the tasks started within, name PBX `name` (None:
    none, as without PBXES)."""
    token = _PBX.set(name)
    try:
        yield
    finally:
        _PBX.reset(token)


def log_on_behalf_of(name: str | None) -> None:
    """Name PBX `name` in the lines the current task logs from now on (a request's
    task, which ends with the request)."""
    _PBX.set(name)


def logged_pbx() -> str | None:
    """The PBX the current lines name, if any."""
    return _PBX.get()


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is when a record is emitted.

    A handler holding the stream it was given at configuration time outlives
    any replacement of ``sys.stderr`` (pytest's capture, a redirect) and then
    writes into a closed file; the standard library's last-resort handler
    looks the stream up at emit time for the same reason.
    """

    @property
    def stream(self) -> TextIO:
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        # StreamHandler.__init__ and setStream assign it: always the current stderr.
        pass


class _ComponentFilter(logging.Filter):
    """Adds `record.component`: our component name, or the library's top-level name;
    and `record.pbx_tag`: `[<pbx>] ` on behalf of a PBX (`logging_for_pbx`), else empty."""

    def filter(self, record: logging.LogRecord) -> bool:
        pbx = _PBX.get()
        record.pbx_tag = f"[{pbx}] " if pbx else ""
        name = record.name
        if name.startswith(ROOT + "."):
            record.component = name[len(ROOT) + 1 :]
        else:
            record.component = name.split(".", 1)[0]
        return True


def configure_logging(
    level: str = "INFO",
    log_file: Path | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Send logs to stderr and (when given) a file; redact every secret everywhere.

    Safe to call again: the handlers it installed before are replaced.
    """
    reset_logging()
    root = logging.getLogger()
    handlers: list[logging.Handler] = [_StderrHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    formatter = logging.Formatter(FORMAT)
    redactor = _make_redactor(secrets)
    for handler in handlers:
        setattr(handler, _HANDLER_MARK, True)
        handler.setFormatter(formatter)
        handler.addFilter(_ComponentFilter())
        if redactor is not None:
            handler.addFilter(redactor)
        root.addHandler(handler)
    root.setLevel(level)
    # Uvicorn's access log would double every request line; our metrics cover it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def reset_logging() -> None:
    """Remove (and close) the handlers `configure_logging` installed, if any."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()


def _make_redactor(secrets: Iterable[str]) -> logging.Filter | None:
    try:
        from ingest.ami.redact import SecretRedactor
    except ImportError:  # the AMI package is optional for pure unit tests
        return None
    return SecretRedactor(secrets)
