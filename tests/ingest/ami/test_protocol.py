"""SafeAMIProtocol: panoramisk's protocol with its defects fixed, over real sockets too."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from panoramisk import Manager
from panoramisk.message import Message

import ingest.ami.protocol as protocol_module
from ingest.ami import events as ev
from ingest.ami.framing import AmiFramer, Frame
from ingest.ami.message import AmiMessageDict
from ingest.ami.parser import parse
from ingest.ami.protocol import ActionNotSent, ProtocolStats, SafeAMIProtocol, UnsafeActionValue
from ingest.traces import load_jsonl, trace_names

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
TIMEOUT = 5.0


def wire(message: AmiMessageDict) -> bytes:
    """One AMI message as Asterisk writes it."""
    lines = []
    for key, value in message.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}: {item}\r\n")
    return ("".join(lines) + "\r\n").encode()


def recorded(name: str, event: str) -> AmiMessageDict:
    return next(m for _, m in load_jsonl(name) if m.get("Event") == event)


# --- unit level: a fake transport and a fake manager ---------------------------------


class FakeTransport(asyncio.WriteTransport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False
        self.eof = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


class FakeManager:
    """What SafeAMIProtocol uses of panoramisk's Manager."""

    forgetable_actions = ("ping", "login")

    def __init__(self, dispatch: Callable[[Any], None] | None = None) -> None:
        self.dispatched: list[Any] = []
        self.lost: list[Any] = []
        self.awaiting_actions: deque[Any] = deque()
        self._dispatch = dispatch

    def dispatch(self, message: Any) -> None:
        if self._dispatch is not None:
            self._dispatch(message)
        self.dispatched.append(message)

    def connection_lost(self, exc: Any) -> None:
        self.lost.append(exc)


def make_protocol(
    manager: FakeManager | None = None, **kwargs: Any
) -> tuple[SafeAMIProtocol, FakeTransport, FakeManager]:
    protocol = SafeAMIProtocol(**kwargs)
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.factory = manager or FakeManager()
    return protocol, transport, protocol.factory


def event_names(manager: FakeManager) -> list[str]:
    return [str(m["Event"]) for m in manager.dispatched]


async def test_two_different_event_headers_are_dropped_not_fatal() -> None:
    protocol, _, manager = make_protocol()
    protocol.data_received(
        BANNER
        + b"Event: QueueMemberStatus\r\nEvent: Hangup\r\nQueue: sales\r\n\r\n"
        + b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"
    )
    assert event_names(manager) == ["FullyBooted"]
    assert protocol.version == "11.0.0"
    assert protocol.stats.malformed == 1
    assert protocol.stats.messages_received == 2


async def test_repeated_identical_event_header_is_merged() -> None:
    protocol, _, manager = make_protocol()
    protocol.data_received(b"Event: Reload\r\nEvent: Reload\r\nModule: app_queue.so\r\n\r\n")
    (message,) = manager.dispatched
    assert message["Event"] == "Reload" and message.event == "Reload"
    assert protocol.stats.malformed == 0


async def test_repeated_ordinary_headers_stay_lists() -> None:
    protocol, _, manager = make_protocol()
    protocol.data_received(b"Event: X\r\nChanVariable: a=1\r\nChanVariable: b=2\r\n\r\n")
    (message,) = manager.dispatched
    assert message["ChanVariable"] == ["a=1", "b=2"]
    assert message.getdict("chanvariable")["b"] == "2"


async def test_message_without_event_or_response_is_malformed() -> None:
    protocol, _, manager = make_protocol()
    protocol.data_received(b"Privilege: all\r\nFoo: bar\r\n\r\nEvent: Ok\r\n\r\n")
    assert event_names(manager) == ["Ok"]
    assert protocol.stats.malformed == 1


async def test_oversized_message_is_dropped_and_counted() -> None:
    stats = ProtocolStats()
    protocol, _, manager = make_protocol(max_message_size=1024, stats=stats)
    protocol.data_received(b"Event: Huge\r\nData: " + b"x" * 5000)
    protocol.data_received(b"\r\n\r\nEvent: Small\r\n\r\n")
    assert event_names(manager) == ["Small"]
    assert stats.oversized_dropped == 1 and stats.messages_received == 1


async def test_stats_survive_reconnects_when_shared() -> None:
    stats = ProtocolStats()
    factory = functools.partial(SafeAMIProtocol, stats=stats)
    for _ in range(2):
        protocol = factory()
        protocol.connection_made(FakeTransport())
        protocol.factory = FakeManager()
        protocol.data_received(b"Event: A\r\n\r\n")
    assert stats.messages_received == 2


async def test_a_failing_callback_does_not_stop_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(message: Any) -> None:
        if message["Event"] == "Bad":
            raise KeyError("callback bug")

    protocol, _, manager = make_protocol(FakeManager(explode))
    protocol.data_received(b"Event: Bad\r\n\r\nEvent: Good\r\n\r\n")
    assert event_names(manager) == ["Good"]
    assert protocol.stats.handler_errors == 1
    assert "Event 'Bad'" in caplog.text


async def test_response_with_two_messages_still_resolves() -> None:
    protocol, _, _ = make_protocol()
    future = protocol.send({"Action": "Ping", "ActionID": "p1"})
    protocol.data_received(
        b"Response: Success\r\nActionID: p1\r\nMessage: one\r\nMessage: two\r\n\r\n"
    )
    response = await asyncio.wait_for(future, TIMEOUT)
    assert response.success and response["Message"] == "one"


async def test_event_list_is_collected_until_complete() -> None:
    protocol, transport, manager = make_protocol()
    future = protocol.send({"Action": "QueueStatus", "ActionID": "qs1"}, as_list=None)
    assert b"Action: QueueStatus\r\n" in transport.written
    listing = [m for _, m in load_jsonl("a_startup") if m.get("ActionID") == "drv-2"]
    assert listing[-1]["Event"] == "QueueStatusComplete"
    protocol.data_received(b"".join(wire({**m, "ActionID": "qs1"}) for m in listing))
    protocol.data_received(b"Event: After\r\n\r\n")
    messages = await asyncio.wait_for(future, TIMEOUT)
    assert len(messages) == len(listing)
    assert messages[0]["EventList"] == "start"
    assert int(messages[-1]["ListItems"]) == len(listing) - 2
    assert event_names(manager) == ["After"]  # list items are not dispatched
    kinds = {type(parse(m)) for m in messages[1:]}
    assert kinds == {ev.QueueParams, ev.QueueMember, ev.ListComplete}


def foreign_originate_response(action_id: str) -> AmiMessageDict:
    """Another manager session's OriginateResponse (every session with read=call gets it)."""
    return {**recorded("b_single_call", "OriginateResponse"), "ActionID": action_id}


async def test_another_sessions_event_never_answers_our_action() -> None:
    protocol, _, manager = make_protocol()
    answered: list[str] = []
    protocol.on_answer = lambda message: answered.append(str(message.get("Response")))  # type: ignore[method-assign]
    ping = protocol.send({"Action": "Ping", "ActionID": "p1"})
    listing = protocol.send({"Action": "QueueStatus", "ActionID": "qs1"}, as_list=None)
    # Same ActionIDs as ours, and a Response header of their own (Failure).
    protocol.data_received(
        wire({**foreign_originate_response("p1"), "Response": "Failure"})
        + wire(foreign_originate_response("qs1"))
    )
    assert not ping.done() and not listing.done()
    assert event_names(manager) == ["OriginateResponse", "OriginateResponse"]
    assert answered == []

    items = [m for _, m in load_jsonl("a_startup") if m.get("ActionID") == "drv-2"]
    protocol.data_received(
        b"Response: Success\r\nActionID: p1\r\nPing: Pong\r\n\r\n"
        + b"".join(wire({**m, "ActionID": "qs1"}) for m in items)
    )
    assert (await asyncio.wait_for(ping, TIMEOUT))["Ping"] == "Pong"
    messages = await asyncio.wait_for(listing, TIMEOUT)
    assert [m.get("Event") for m in messages] == [m.get("Event") for m in items]
    assert answered == ["Success"] * 2 + ["None"] * (len(items) - 1)


async def test_queue_add_resolves_on_its_response() -> None:
    protocol, _, manager = make_protocol()
    future = protocol.send({"Action": "QueueAdd", "ActionID": "qa1", "Queue": "q"}, as_list=None)
    protocol.data_received(
        b"Response: Success\r\nActionID: qa1\r\nMessage: Added interface to queue\r\n\r\n"
        + wire(recorded("e_member_admin", "QueueMemberAdded"))
    )
    response = await asyncio.wait_for(future, TIMEOUT)
    assert response.success
    assert event_names(manager) == ["QueueMemberAdded"]


@pytest.mark.parametrize(
    "action",
    [
        {"Action": "QueueAdd", "Interface": "Local/1@x/n\r\nAction: QueueRemove"},
        {"Action": "QueueAdd", "Interface": "Local/1@x/n\nAction: QueueRemove"},
        {"Action": "QueueAdd", "Interface": "Local/1@x/n\rAction: QueueRemove"},
        {"Action": "Originate", "Variable": ["A=1", "B=2\r\nAction: Hangup"]},
        {"Action": "Ping", "X\r\nAction: Logoff": "1"},
        {"Action": "Ping", "Bad:Key": "1"},
        {"Action": "Ping\r\n\r\nAction: Logoff"},
    ],
)
async def test_unsafe_action_is_refused_before_writing(action: dict[str, Any]) -> None:
    protocol, transport, _ = make_protocol()
    with pytest.raises(UnsafeActionValue) as info:
        protocol.send(action)
    assert transport.written == b""
    assert protocol.responses == {}
    assert "Logoff" not in str(info.value) and "QueueRemove" not in str(info.value)
    assert "Hangup" not in str(info.value)
    assert protocol.stats.refused_actions == 1


async def test_send_after_close_fails_the_future(caplog: pytest.LogCaptureFixture) -> None:
    protocol, transport, _ = make_protocol()
    transport.close()
    future = protocol.send({"Action": "Ping"})
    with pytest.raises(ActionNotSent):
        await future
    assert transport.written == b"" and protocol.responses == {}
    assert protocol.stats.send_failures == 1
    assert "not sent" in caplog.text


async def test_send_before_connection_fails_the_future() -> None:
    future = SafeAMIProtocol().send({"Action": "Ping"})
    with pytest.raises(ActionNotSent):
        await future


async def test_close_requeues_unanswered_actions_once_and_never_login() -> None:
    protocol, transport, manager = make_protocol()
    protocol.send({"Action": "Login", "Username": "u", "Secret": "pw"})
    protocol.send({"Action": "Command", "Command": "core show uptime"})  # two keys
    answered = protocol.send({"Action": "Status", "ActionID": "s1"})
    protocol.data_received(b"Response: Success\r\nActionID: s1\r\n\r\n")
    await answered
    protocol.close()
    assert [a["Action"] for a in manager.awaiting_actions] == ["Command"]
    assert transport.closing and protocol.closed
    protocol.connection_lost(None)
    assert manager.lost == []  # closed on purpose: no reconnect


async def test_connection_lost_tells_the_manager() -> None:
    protocol, _, manager = make_protocol()
    error = ConnectionResetError()
    protocol.connection_lost(error)
    assert manager.lost == [error] and protocol.closed


async def test_shutdown_event_closes_and_is_dispatched() -> None:
    protocol, transport, manager = make_protocol()
    protocol.data_received(b"Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n")
    assert event_names(manager) == ["Shutdown"]
    assert transport.closing and len(manager.lost) == 1


async def test_save_stream_records_raw_bytes() -> None:
    protocol, _, manager = make_protocol()
    stream = io.BytesIO()
    manager.save_stream = stream  # type: ignore[attr-defined]
    protocol.data_received(BANNER + b"Event: A\r\n\r\n")
    assert stream.getvalue() == BANNER + b"Event: A\r\n\r\n"


# --- real TCP: a tiny AMI server and panoramisk's Manager ------------------------------


class FakeAsterisk:
    """Speaks just enough AMI: banner, Login, Ping, scripted replies."""

    def __init__(
        self,
        *,
        accept_login: bool = True,
        after_login: bytes = b"",
        replies: dict[str, Callable[[str], bytes]] | None = None,
    ) -> None:
        self.accept_login = accept_login
        self.after_login = after_login
        self.replies = replies or {}
        self.received = bytearray()
        self.actions: list[AmiMessageDict] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FakeAsterisk:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for writer in self._writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=TIMEOUT)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        writer.write(BANNER)
        framer = AmiFramer(expect_banner=False)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                self.received += data
                for frame in framer.feed(data):
                    if not self._answer(frame.headers, writer):
                        writer.close()
                        return
                await writer.drain()

    def _answer(self, action: AmiMessageDict, writer: asyncio.StreamWriter) -> bool:
        self.actions.append(action)
        name = str(action.get("Action", "")).lower()
        action_id = str(action.get("ActionID", ""))
        if name == "login":
            if not self.accept_login:
                writer.write(
                    wire(
                        {
                            "Response": "Error",
                            "ActionID": action_id,
                            "Message": "Authentication failed",
                        }
                    )
                )
                return False
            writer.write(
                wire(
                    {
                        "Response": "Success",
                        "ActionID": action_id,
                        "Message": "Authentication accepted",
                    }
                )
            )
            writer.write(self.after_login)
        elif name == "ping":
            writer.write(wire({"Response": "Success", "ActionID": action_id, "Ping": "Pong"}))
        elif name in self.replies:
            writer.write(self.replies[name](action_id))
        else:
            writer.write(
                wire(
                    {
                        "Response": "Error",
                        "ActionID": action_id,
                        "Message": "Invalid/unknown command",
                    }
                )
            )
        return True


class Events:
    """A sync '*' callback, as the connection layer registers it."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._arrived = asyncio.Event()

    def __call__(self, manager: Any, message: Any) -> None:
        self.messages.append(message)
        self._arrived.set()

    async def wait_for(self, name: str) -> Any:
        async def seen() -> Any:
            while True:
                for message in self.messages:
                    if message.event == name:
                        return message
                self._arrived.clear()
                await self._arrived.wait()

        return await asyncio.wait_for(seen(), TIMEOUT)


@contextlib.asynccontextmanager
async def connected(
    server: FakeAsterisk, secret: str = "secret"
) -> AsyncIterator[tuple[Any, Events]]:
    """A logged-in panoramisk Manager on SafeAMIProtocol, with a '*' callback."""
    manager = Manager(
        host="127.0.0.1",
        port=server.port,
        username="admin",
        secret=secret,
        protocol_factory=SafeAMIProtocol,
        loop=asyncio.get_running_loop(),
        ping_delay=3600,
        reconnect_timeout=3600,
    )
    events = Events()
    manager.register_event("*", events)
    await asyncio.wait_for(manager.connect(), TIMEOUT)
    try:
        # connect()'s done callback already sent the Login.
        await asyncio.wait_for(manager.authenticated_future, TIMEOUT)
        yield manager, events
    finally:
        manager.close()


async def test_tcp_two_event_headers_keep_the_connection_up() -> None:
    status = recorded("b_single_call", "QueueMemberStatus")
    after_login = b"Event: QueueMemberStatus\r\nEvent: AgentCalled\r\nQueue: sales\r\n\r\n" + wire(
        status
    )
    async with (
        FakeAsterisk(after_login=after_login) as server,
        connected(server) as (manager, events),
    ):
        message = await events.wait_for("QueueMemberStatus")
        assert manager.authenticated
        protocol: SafeAMIProtocol = manager.protocol
        assert protocol.stats.malformed == 1
        assert [m.event for m in events.messages] == ["QueueMemberStatus"]
        # panoramisk's Message always adds a `content` key (the body of a Follows).
        assert {k: v for k, v in message.items() if k != "content"} == status
        event = parse(message)
        assert isinstance(event, ev.QueueMemberStatus) and event.member.queue == status["Queue"]
        # Still connected: a round trip works.
        assert protocol.transport is not None and not protocol.transport.is_closing()
        pong = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), TIMEOUT)
        assert pong.ping == "Pong"


async def test_tcp_injection_is_refused_and_nothing_reaches_the_server() -> None:
    async with FakeAsterisk() as server, connected(server) as (manager, _):
        with pytest.raises(UnsafeActionValue):
            manager.send_action(
                {
                    "Action": "QueueAdd",
                    "Queue": "sales",
                    "Interface": "Local/1001@agents/n\r\n\r\nAction: QueueRemove",
                }
            )
        with pytest.raises(UnsafeActionValue):
            manager.send_action({"Action": "Originate", "Variable": ["A=1", "B=2\nAction: Logoff"]})
        # A later action gets through normally, after everything sent before it.
        pong = await asyncio.wait_for(manager.send_action({"Action": "Ping"}), TIMEOUT)
        assert pong.success
        assert [a["Action"] for a in server.actions] == ["Login", "Ping"]
        for word in (b"QueueAdd", b"QueueRemove", b"Originate", b"Logoff"):
            assert word not in server.received
        assert manager.protocol.stats.refused_actions == 2


async def test_tcp_event_list_and_queue_add() -> None:
    listing = [m for _, m in load_jsonl("a_startup") if m.get("ActionID") == "drv-2"]
    added = recorded("e_member_admin", "QueueMemberAdded")

    def queue_status(action_id: str) -> bytes:
        return b"".join(wire({**m, "ActionID": action_id}) for m in listing)

    def queue_add(action_id: str) -> bytes:
        return wire(
            {"Response": "Success", "ActionID": action_id, "Message": "Added interface to queue"}
        ) + wire(added)

    server = FakeAsterisk(replies={"queuestatus": queue_status, "queueadd": queue_add})
    async with server, connected(server) as (manager, events):
        items = await asyncio.wait_for(manager.send_action({"Action": "QueueStatus"}), TIMEOUT)
        assert [m.get("Event") or m["Response"] for m in items] == [
            m.get("Event") or m["Response"] for m in listing
        ]
        response = await asyncio.wait_for(
            manager.send_action({"Action": "QueueAdd", "Queue": "billing", "Interface": "L/1"}),
            TIMEOUT,
        )
        assert response.success
        assert isinstance(parse(await events.wait_for("QueueMemberAdded")), ev.QueueMemberAdded)
        assert not any(m.event in ("QueueParams", "QueueMember") for m in events.messages)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG and above, through caplog and a root handler."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


async def test_tcp_no_secret_in_logs_on_refused_login_and_failed_writes(
    all_logs: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-" + secrets.token_hex(16)
    # 1. Asterisk refuses the login and hangs up.
    async with (
        FakeAsterisk(accept_login=False) as server,
        connected(server, secret) as (manager, _),
    ):
        assert not manager.authenticated
        protocol: SafeAMIProtocol = manager.protocol
        await asyncio.wait_for(_until(lambda: protocol.closed), TIMEOUT)
    assert secret.encode() in server.received  # it did go over the wire, and only there
    # 2. Writes that fail: after write_eof() (write raises), then after close().
    async with FakeAsterisk() as server, connected(server, secret) as (manager, _):
        protocol = manager.protocol
        assert protocol.transport is not None
        login = {"Action": "Login", "Username": "admin", "Secret": secret}
        protocol.transport.write_eof()
        with pytest.raises(ActionNotSent):
            await asyncio.wait_for(manager.send_action(dict(login)), TIMEOUT)
        protocol.transport.close()
        with pytest.raises(ActionNotSent):
            await asyncio.wait_for(manager.send_action(dict(login)), TIMEOUT)
        assert protocol.stats.send_failures == 2
    text = all_logs.getvalue()
    assert text.count("not sent") == 2 and "Login" in text  # the failures were logged...
    for logged in (text, caplog.text, repr([(r.msg, r.args) for r in caplog.records])):
        assert secret not in logged  # ...without the secret
        assert secret.split("-")[1] not in logged


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


# --- messages built directly equal panoramisk's ----------------------------------


def _reference_message(frame: Frame) -> Any:
    """A frame as a Message the plain way: grouped by lowered name, then Message(...)."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    for key, raw in frame.headers.items():
        values = raw if isinstance(raw, list) else [raw]
        if key.lower() in grouped:
            grouped[key.lower()][1].extend(values)
        else:
            grouped[key.lower()] = (key, list(values))
    if "event" not in grouped and "response" not in grouped:
        return None
    headers: dict[str, Any] = {}
    for lowered, (key, values) in grouped.items():
        value: Any = values
        if len(values) == 1 or lowered in {"message", "eventlist", "subevent"}:
            value = values[0]
        elif lowered in {"event", "response", "actionid", "commandid"}:
            if any(v != values[0] for v in values):
                return None
            value = values[0]
        if lowered == "result" and isinstance(value, str):
            value = unquote(value).strip()
        headers[key] = value
    return Message(headers, "\n".join(frame.lines))


EDGE_FRAMES = [
    Frame({"Event": "QueueMemberStatus", "Queue": "sales", "Interface": "PJSIP/1001"}),
    Frame({"Response": "Success", "ActionID": "7", "Message": ["one", "two"]}, ("free text",)),
    Frame({"Event": "X", "Variable": ["a=1", "b=2"], "variable": "c=3"}),
    Frame({"Event": "X", "event": "X", "EVENT": "X"}),
    Frame({"Event": "X", "event": "Y"}),
    Frame({"Response": "Success", "Result": "200%20result%3D1%20"}),
    Frame({"Event": "X", "Content": "a header named Content"}, ("body line",)),
    Frame({"Queue": "sales"}),
]


def _frames() -> Iterator[Frame]:
    yield from EDGE_FRAMES
    for name in trace_names():
        for _, headers in load_jsonl(name):
            yield Frame(headers)


def parsed(message: Any) -> object:
    """What the parser makes of a message: its event, or its complaint."""
    try:
        return parse(message)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def test_messages_built_directly_equal_panoramisk_ones() -> None:
    assert protocol_module._DIRECT_MESSAGES, "panoramisk changed: the fast path is off"
    compared = 0
    for frame in _frames():
        mine, theirs = protocol_module._to_message(frame), _reference_message(frame)
        if theirs is None:
            assert mine is None, frame
            continue
        assert vars(mine) == vars(theirs), frame
        assert dict(mine) == dict(theirs) and mine.content == theirs.content
        assert parsed(mine) == parsed(dict(theirs)), frame
        compared += 1
    assert compared > 1000
