"""SecretRedactor / install_redaction: no secret survives, in any form, on any path."""

from __future__ import annotations

import io
import logging
import secrets as random_secrets
import traceback
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.ami.redact import REDACTED, SecretRedactor, install_redaction, secret_forms


def make_secret() -> str:
    return "s3cr3t-" + random_secrets.token_hex(12)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A private logger writing through one handler into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger(f"test.redact.{random_secrets.token_hex(4)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, buffer, handler
    logger.removeHandler(handler)


def _assert_clean(text: str, secret: str) -> None:
    for form in secret_forms(secret):
        assert form not in text, form
    # The random part alone must not leak either (e.g. after a split).
    assert secret.split("-", 1)[-1] not in text


class Boom(Exception):
    pass


def test_secret_in_every_place_of_a_record(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, buffer, handler = captured
    secret = make_secret()
    handler.addFilter(SecretRedactor([secret]))
    logger.info("plain %s", secret)
    logger.info("dict %r", {"Action": "Login", "Secret": secret})
    logger.info("bytes %r", f"Secret: {secret}\r\n".encode())
    logger.info("exception repr %r", Boom(secret))
    logger.info("mapping %(pw)s", {"pw": secret})
    logger.info(f"already formatted {secret}")
    logger.info({"a dict as the message": secret})
    logger.info("extra field", extra={"dsn": f"redis://:{secret}@redis:6379/0"})
    try:
        raise Boom(f"failed with {secret}")
    except Boom:
        logger.exception("with traceback")
    try:
        try:
            raise ValueError(secret)
        except ValueError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError:
        logger.error("chained", exc_info=True)
    logger.info("stack", stack_info=True, extra={"note": secret})
    text = buffer.getvalue()
    _assert_clean(text, secret)
    assert text.count(REDACTED) >= 9  # one per message/exception above holding the secret
    assert "Traceback" in text and "Boom" in text  # the exception is still reported


def test_record_is_rewritten_so_later_handlers_see_no_secret() -> None:
    secret = make_secret()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "pw=%s", (secret,), None)
    try:
        raise Boom(secret)
    except Boom as exc:
        record.exc_info = (Boom, exc, exc.__traceback__)
    SecretRedactor([secret]).filter(record)
    assert record.args is None and record.exc_info is None
    assert secret not in record.getMessage()
    assert record.exc_text is not None and secret not in record.exc_text
    # Any formatter renders the stored, redacted exception text.
    assert secret not in logging.Formatter().format(record)


def test_string_extra_fields_are_redacted() -> None:
    secret = make_secret()
    record = logging.makeLogRecord({"msg": "connecting", "dsn": f"redis://:{secret}@h/0", "n": 3})
    SecretRedactor([secret]).filter(record)
    assert record.__dict__["dsn"] == f"redis://:{REDACTED}@h/0"
    assert record.__dict__["n"] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Action: Login\r\nSecret: hunter2\r\n", "Action: Login\r\nSecret: ***\r\n"),
        ("{'Secret': 'hunter2', 'Username': 'admin'}", "{'Secret': '***', 'Username': 'admin'}"),
        ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
        ("postgresql+asyncpg://qs:hunter2@db/qs", "postgresql+asyncpg://qs:***@db/qs"),
        ("https://api/x?password=hunter2&user=a", "https://api/x?password=***&user=a"),
        ("redis_password=hunter2", "redis_password=***"),
        ('{"token": "abc.def"}', '{"token": "***"}'),
        ("Authorization: Bearer abc.def", "Authorization: *** ***"),
        ("api_key=xyz", "api_key=***"),
        ("UsingPassword: 0", "UsingPassword: 0"),  # an AMI field, not a secret
        ("tokens available: 5", "tokens available: 5"),
        ("Event: QueueMemberStatus", "Event: QueueMemberStatus"),
    ],
)
def test_generic_patterns(text: str, expected: str) -> None:
    assert SecretRedactor().redact(text) == expected


def test_generic_patterns_can_be_turned_off() -> None:
    assert SecretRedactor(generic=False).redact("Secret: x") == "Secret: x"


@pytest.mark.parametrize(
    "secret", ["p'w\"x", "back\\slash", "ünï©ødé", "with space", "a/b+c=d&e", "tab\there"]
)
def test_escaped_forms_of_awkward_secrets(secret: str) -> None:
    redactor = SecretRedactor([secret], generic=False)
    for rendered in (
        repr(secret),
        repr({"k": secret}),
        repr(secret.encode()),
        repr([Boom(secret)]),
        "".join(traceback.format_exception_only(Boom(secret))),
    ):
        assert secret not in redactor.redact(rendered)
        for form in secret_forms(secret):
            assert form not in redactor.redact(rendered), (rendered, form)


def test_empty_secrets_are_ignored() -> None:
    redactor = SecretRedactor(["", "x1y2z3"], generic=False)
    assert redactor.redact("a x1y2z3 b") == "a *** b"
    assert redactor.redact("nothing") == "nothing"


def test_longer_secret_wins_over_its_prefix() -> None:
    redactor = SecretRedactor(["abc", "abcdef"], generic=False)
    assert redactor.redact("abcdef") == REDACTED


_SECRET = st.text(
    st.characters(blacklist_characters="*", blacklist_categories=["Cs"]), min_size=1, max_size=20
)


@settings(max_examples=200, deadline=None)
@given(secret=_SECRET, before=st.text(max_size=10), after=st.text(max_size=10))
def test_no_secret_survives_any_rendering(secret: str, before: str, after: str) -> None:
    redactor = SecretRedactor([secret], generic=False)
    for rendered in (
        before + secret + after,
        repr({"x": before + secret + after}),
        repr((before + secret).encode("utf-8", "surrogatepass")),
        repr(Boom(secret)),
    ):
        assert secret not in redactor.redact(rendered)


# --- installation ------------------------------------------------------------------


@pytest.fixture
def clean_filters() -> Iterator[None]:
    """Remove every SecretRedactor the test installed."""
    yield
    targets: list[logging.Filterer] = [logging.getLogger(), *logging.getLogger().handlers]
    for name in ("panoramisk", "panoramisk.manager", "panoramisk.ami_protocol"):
        targets.append(logging.getLogger(name))
    for target in targets:
        for f in list(target.filters):
            if isinstance(f, SecretRedactor):
                target.removeFilter(f)


@pytest.mark.usefixtures("clean_filters")
def test_install_redaction_covers_root_handlers_and_panoramisk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = make_secret()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        caplog.set_level(logging.DEBUG)
        redactor = install_redaction([secret])
        assert redactor in handler.filters
        assert redactor in logging.getLogger("panoramisk.manager").filters
        # panoramisk's own failure message, as its AMIProtocol.send would log it.
        action = {"Action": "Login", "Username": "admin", "Secret": secret}
        logging.getLogger("panoramisk.manager").error("Fail to send %r", action)
        logging.getLogger("some.child.logger").warning("dsn=redis://:%s@h/0", secret)
        try:
            raise ConnectionError(secret)
        except ConnectionError:
            logging.getLogger("panoramisk.ami_protocol").exception("boom")
    finally:
        root.removeHandler(handler)
    _assert_clean(buffer.getvalue(), secret)
    _assert_clean(caplog.text, secret)
    assert "Fail to send" in buffer.getvalue()


@pytest.mark.usefixtures("clean_filters")
def test_install_redaction_twice_adds_secrets_without_stacking(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    first, second = make_secret(), make_secret()
    first_redactor = install_redaction([first])
    again = install_redaction(iter([second]))  # any iterable, even a one-shot one
    assert again is first_redactor
    panoramisk_logger = logging.getLogger("panoramisk")
    assert sum(isinstance(f, SecretRedactor) for f in panoramisk_logger.filters) == 1
    assert again.redact(f"{first} {second}") == f"{REDACTED} {REDACTED}"


def test_filter_works_on_a_logger_too(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, buffer, _ = captured
    secret = make_secret()
    redactor = SecretRedactor([secret])
    logger.addFilter(redactor)
    try:
        logger.warning("x %s", secret)
    finally:
        logger.removeFilter(redactor)
    _assert_clean(buffer.getvalue(), secret)


def test_broken_format_string_is_still_redacted(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, buffer, handler = captured
    secret = make_secret()
    handler.addFilter(SecretRedactor([secret]))
    logger.warning("two %s %s but one arg", secret)
    text = buffer.getvalue()
    _assert_clean(text, secret)
    assert "but one arg" in text
