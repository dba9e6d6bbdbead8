"""A FreeSWITCH inbound event socket that speaks recorded bytes.

Plain sockets and threads (no gevent), so it runs inside the pytest process while the listener
under test runs in a gevent subprocess. Everything it sends comes byte for byte from the
captures in tests/fixtures/freeswitch-wire/: the ``auth/request`` greeting, the ``+OK accepted``
and ``+OK event listener enabled plain`` replies (esl-session-auth.server.txt), the ``api/response``
frames (api-*.txt) and an ``events-*.txt`` stream. Only replies the captures do not hold
(``-ERR invalid`` on a wrong password, ``filter`` acknowledgements, unknown commands) are written
here in FreeSWITCH's format.

The event stream can be split at arbitrary byte boundaries, and the first session can be cut
after K bytes of it; the next session then resumes at the start of the frame that was cut, the way
a resynchronising client would see a PBX that kept running.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "freeswitch-wire"

AUTH_INVALID = b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n"
DISCONNECT_NOTICE_BODY = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def split_raw_frames(data: bytes) -> list[bytes]:
    """Cut a capture into the exact bytes of each frame (header block + Content-Length body)."""
    frames = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\n\n", pos) + 2
        length = 0
        for line in data[pos:end].split(b"\n"):
            if line.startswith(b"Content-Length: "):
                length = int(line.split(b": ", 1)[1])
        frames.append(data[pos : end + length])
        pos = end + length
    return frames


def _content_length(head: bytes) -> int:
    for line in head.split(b"\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _frame_reply(text: str) -> bytes:
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


def api_response(body: bytes) -> bytes:
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body


def event_plain_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def default_api_replies() -> dict[str, bytes]:
    return {
        "api show channels as json": fixture_bytes("api-show-channels-json.txt"),
        "api show registrations as json": fixture_bytes("api-show-registrations-json.txt"),
        "api callcenter_config queue list agents support@default": fixture_bytes(
            "api-callcenter-queue-list-agents.txt"
        ),
    }


@dataclass
class Session:
    number: int
    received: bytearray = field(default_factory=bytearray)
    commands: list[str] = field(default_factory=list)
    authenticated: bool = False
    events_sent: int = 0
    stream_done_at: float | None = None
    api_replied_at: list[float] = field(default_factory=list)
    cut_by_server: bool = False
    closed: threading.Event = field(default_factory=threading.Event)
    #: bodies of commands that carry one (sendevent), in order
    bodies: list[bytes] = field(default_factory=list)


class FakeEslServer:
    def __init__(
        self,
        *,
        events: bytes = b"",
        password: str = "ClueCon",
        api_replies: dict[str, bytes] | None = None,
        chunk_sizes: Iterable[int] | None = None,
        disconnect_after: int | None = None,
        api_delay: float = 0.0,
        chunk_delay: float = 0.0,
        stream_after: str = "event plain",
        bgapi_results: dict[str, str] | None = None,
    ) -> None:
        server_frames = split_raw_frames(fixture_bytes("esl-session-auth.server.txt"))
        self.auth_request = server_frames[0]
        self.auth_accepted = server_frames[1]
        self.events_enabled = server_frames[3]
        self.password = password
        self.api_replies = default_api_replies() if api_replies is None else api_replies
        self.events = events
        self.event_frames = split_raw_frames(events) if events else []
        self._chunks: Iterator[int] = (
            itertools.cycle(list(chunk_sizes)) if chunk_sizes else itertools.repeat(0)
        )
        self.disconnect_after = disconnect_after
        self.api_delay = api_delay
        self.chunk_delay = chunk_delay
        self.stream_after = stream_after
        #: bgapi results by command prefix ("originate" -> "+OK <uuid>\n"); default "+OK\n"
        self.bgapi_results = bgapi_results or {}
        #: while set, bgapi is acknowledged but its BACKGROUND_JOB event never comes
        self.hold_jobs = threading.Event()
        self.sessions: list[Session] = []
        self._resume_frame = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._running = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> tuple[str, int]:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.1)
        self._listener = listener
        self._running.set()
        thread = threading.Thread(target=self._accept_loop, name="fake-esl-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return listener.getsockname()

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None
        return self._listener.getsockname()

    def stop(self) -> None:
        self._running.clear()
        for connection in list(self._connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        if self._listener is not None:
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeEslServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for_command(self, command: str, timeout: float = 10.0) -> Session:
        """The first session that received `command`, once one has."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in list(self.sessions):
                if command in session.commands:
                    return session
            time.sleep(0.01)
        raise AssertionError(f"no session received {command!r} within {timeout} s")

    def drop(self) -> None:
        """Cut every open connection (FreeSWITCH restarting, a network cut); keep listening."""
        for connection in list(self._connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def commands_seen(self, prefix: str) -> list[str]:
        """Commands of every session that start with `prefix`, in order."""
        return [c for session in self.sessions for c in session.commands if c.startswith(prefix)]

    def wait_for_sessions(self, count: int, timeout: float = 10.0) -> list[Session]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.sessions) >= count:
                return self.sessions
            time.sleep(0.01)
        raise TimeoutError(f"{len(self.sessions)} sessions, wanted {count}")

    # --- per connection ------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while self._running.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = Session(number=len(self.sessions) + 1)
            self.sessions.append(session)
            self._connections.append(connection)
            thread = threading.Thread(
                target=self._serve, args=(connection, session), name=f"fake-esl-{session.number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _send(self, connection: socket.socket, data: bytes) -> None:
        with self._lock:
            connection.sendall(data)

    def _commands(self, connection: socket.socket, session: Session) -> Iterator[str]:
        buffer = b""
        while self._running.is_set():
            while b"\n\n" in buffer:
                raw, rest = buffer.split(b"\n\n", 1)
                length = _content_length(raw)
                if len(rest) < length:
                    break  # the body is still on its way
                if length:
                    session.bodies.append(rest[:length])
                buffer = rest[length:]
                yield raw.decode()
            try:
                data = connection.recv(65536)
            except OSError:
                return
            if not data:
                return
            session.received += data
            buffer += data

    def _serve(self, connection: socket.socket, session: Session) -> None:
        streamer: threading.Thread | None = None
        try:
            self._send(connection, self.auth_request)
            for command in self._commands(connection, session):
                session.commands.append(command)
                if not session.authenticated:
                    if command == f"auth {self.password}":
                        session.authenticated = True
                        self._send(connection, self.auth_accepted)
                        continue
                    self._send(connection, AUTH_INVALID)
                    notice = b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(
                        DISCONNECT_NOTICE_BODY
                    )
                    self._send(connection, notice + DISCONNECT_NOTICE_BODY)
                    return
                if command.startswith("event plain "):
                    self._send(connection, self.events_enabled)
                elif command.startswith("filter "):
                    _, header, value = command.split(" ", 2)
                    self._send(connection, _frame_reply(f"+OK filter added. [{header}]=[{value}]"))
                elif command.startswith("api "):
                    if self.api_delay:
                        time.sleep(self.api_delay)
                    reply = self.api_replies.get(command)
                    if reply is None:
                        name = command.split(" ")[1]
                        reply = api_response(f"-ERR {name} Command not found!\n".encode())
                    self._send(connection, reply)
                    session.api_replied_at.append(time.monotonic())
                elif command.startswith("bgapi "):
                    self._background_job(connection, command)
                elif command.startswith("sendevent "):
                    self._send(connection, _frame_reply("+OK 0b6ce2ad-5b2a-4b7e-9f6e-0c2f0e1d2a3b"))
                    self._text_delivered(connection, command)
                elif command == "exit":
                    self._send(connection, _frame_reply("+OK bye"))
                    return
                else:
                    self._send(connection, _frame_reply("-ERR command not found"))
                if streamer is None and command.startswith(self.stream_after):
                    streamer = threading.Thread(target=self._stream, args=(connection, session), daemon=True)
                    streamer.start()
        except OSError:
            pass
        finally:
            if streamer is not None:
                streamer.join(timeout=10)
            try:
                connection.close()
            except OSError:
                pass
            session.closed.set()

    def _text_delivered(self, connection: socket.socket, command: str) -> None:
        """A text sent through mod_sms (SMS::SEND_MESSAGE): once tried, mod_sms hands the event
        back with Delivery-Failure, header values URL-encoded as in every plain event (unless
        jobs are held)."""
        if "Event-Subclass: SMS::SEND_MESSAGE" not in command or self.hold_jobs.is_set():
            return
        headers = [h.split(": ", 1) for h in command.split("\n")[1:] if ": " in h]
        lines = [f"{name}: {quote(value)}" for name, value in headers if name.lower() != "content-length"]
        body = "\n".join(
            ["Event-Name: CUSTOM", *lines, "Delivery-Failure: false", "Content-Length: 0", "", ""]
        )
        self._send(connection, event_plain_frame(body.encode()))

    def _background_job(self, connection: socket.socket, command: str) -> None:
        """`+OK Job-UUID`, then the job's result as a BACKGROUND_JOB event (unless held)."""
        line, _, headers = command.partition("\n")
        job = next((h.split(": ", 1)[1] for h in headers.split("\n") if h.startswith("Job-UUID: ")), "")
        self._send(connection, _frame_reply(f"+OK Job-UUID: {job}"))
        if self.hold_jobs.is_set():
            return
        name = line.split(" ")[1]
        result = next((r for prefix, r in self.bgapi_results.items() if name.startswith(prefix)), "+OK\n")
        data = result.encode()
        body = (
            f"Event-Name: BACKGROUND_JOB\nJob-UUID: {job}\nJob-Command: {name}\n"
            f"Content-Length: {len(data)}\n\n"
        ).encode() + data
        self._send(connection, event_plain_frame(body))

    def _stream(self, connection: socket.socket, session: Session) -> None:
        """Send event frames from the resume point; cut the first session after K bytes."""
        try:
            self._stream_frames(connection, session)
        except OSError:
            pass

    def _stream_frames(self, connection: socket.socket, session: Session) -> None:
        cut = self.disconnect_after if session.number == 1 else None
        sent = 0
        first = self._resume_frame
        for index in range(first, len(self.event_frames)):
            frame = self.event_frames[index]
            if cut is not None and sent + len(frame) > cut:
                self._send(connection, frame[: cut - sent])
                self._resume_frame = index
                session.cut_by_server = True
                connection.shutdown(socket.SHUT_RDWR)
                return
            with self._lock:
                pos = 0
                while pos < len(frame):
                    size = next(self._chunks) or len(frame)
                    connection.sendall(frame[pos : pos + size])
                    pos += size
                    if self.chunk_delay:
                        time.sleep(self.chunk_delay)
            sent += len(frame)
            session.events_sent += 1
        self._resume_frame = len(self.event_frames)
        session.stream_done_at = time.monotonic()
