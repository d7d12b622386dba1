"""Keep secrets out of logs: a `logging.Filter` that rewrites every record it sees.

`SecretRedactor` replaces, in the rendered message, the exception text, the
stack text and string ``extra`` fields:

- each configured secret (AMI secret, API tokens, database passwords), also in
  the escaped forms ``repr()`` (of a str or of its UTF-8 bytes), JSON and URL
  quoting give it — so ``{'Secret': 'p\\'w'}``, ``b'p\\xc3\\xa9'`` and
  ``RuntimeError('...')`` are covered;
- generic shapes whatever the value: ``Secret: x`` (AMI), ``password=x``,
  ``'token': 'x'``, ``Bearer x``, and the password of a URL
  (``redis://:pw@host``).

The record is rendered once (``msg % args``) and its ``args`` dropped, and an
exception is formatted into ``exc_text`` and its ``exc_info`` dropped, so no
later handler or formatter can re-render the raw values.

A filter on a *logger* only sees records created by that very logger, not by
its children; a filter on a *handler* sees everything the handler emits.
`install_redaction` therefore uses the root logger's handlers, plus the
panoramisk loggers for handlers attached to them directly.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"

# Keyword-shaped secrets: the key, its separator (with the quotes of a dict
# repr), then the value up to a delimiter. The lookbehind keeps `UsingPassword`
# (an AMI field) intact while catching `redis_password=`.
_KEYWORD = re.compile(
    r"(?i)(?<![a-z])(secret|password|passwd|pwd|token|api[_-]?key|authorization)"
    r"(['\"]?\s*[:=]\s*['\"]?)([^\s'\",;&}]+)"
)
_URL_PASSWORD = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s/]+)(@)")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)\s+([a-z0-9._~+/=-]+)")

_PANORAMISK_LOGGERS = (
    "panoramisk",
    "panoramisk.manager",
    "panoramisk.ami_protocol",
    "panoramisk.fast_agi",
)
# Attributes every LogRecord has; anything else came from `extra=`.
_BLANK_RECORD = logging.LogRecord("", logging.INFO, "", 0, "", None, None)
_STANDARD_ATTRS = frozenset(_BLANK_RECORD.__dict__) | {"message", "asctime"}
_FORMATTER = logging.Formatter()


def secret_forms(secret: str) -> set[str]:
    """The spellings under which ``secret`` can show up in a log line."""
    forms = {
        secret,
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(secret.encode("utf-8", "surrogatepass"))[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    return {form for form in forms if form}


class SecretRedactor(logging.Filter):
    """Redacts configured secrets and secret-shaped values; never drops a record."""

    def __init__(self, secrets: Iterable[str] = (), *, generic: bool = True) -> None:
        super().__init__()
        self._generic = generic
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Redact these too (empty strings are ignored)."""
        for secret in secrets:
            if secret:
                self._forms |= secret_forms(secret)
        if self._forms:
            # Longest first, so a secret is never half-replaced by a shorter form.
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered)))

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        if self._generic:
            # Scheme first: the keyword rule would take "Bearer" for the value.
            text = _AUTH_SCHEME.sub(rf"\1 {REDACTED}", text)
            text = _KEYWORD.sub(rf"\1\2{REDACTED}", text)
            text = _URL_PASSWORD.sub(rf"\1{REDACTED}\3", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; always keep it."""
        record.msg = self.redact(_render(record))
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = _FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                record.__dict__[key] = self.redact(value)
        return True


def _render(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # A broken format string: logging would print msg and args raw to stderr.
        return f"{record.msg!s} {record.args!r}"


def install_redaction(
    secrets: Iterable[str], *, loggers: Iterable[str] = _PANORAMISK_LOGGERS
) -> SecretRedactor:
    """Redact ``secrets`` on every root handler and on ``loggers`` (and their handlers).

    Calling it again adds the new secrets to the redactor already installed.
    Handlers added to the root logger later are not covered: call it after
    logging is configured.
    """
    root = logging.getLogger()
    targets: list[logging.Filterer] = list(root.handlers)
    for name in loggers:
        logger = logging.getLogger(name)
        targets.append(logger)
        targets.extend(logger.handlers)
    secrets = tuple(secrets)
    installed = next((f for t in targets for f in t.filters if isinstance(f, SecretRedactor)), None)
    redactor = installed or SecretRedactor()
    redactor.add_secrets(secrets)
    for target in targets:
        present = [f for f in target.filters if isinstance(f, SecretRedactor)]
        if not present:
            target.addFilter(redactor)
        for other in present:
            if other is not redactor:
                other.add_secrets(secrets)
    return redactor
