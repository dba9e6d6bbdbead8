"""Benchmark: the event pipeline, PBX socket to PostgreSQL, and presence to the browser's SSE stream.

    .venv/bin/python bench/events.py [--events 200000] [--runs 3] [--probes 200]

Builds 200,000 mixed events from the real FreeSWITCH wire captures (tests/fixtures/freeswitch-wire/
events-*.txt) and the Asterisk 22 AMI messages of tests/esl_handlers/ami_messages.py, each copy
with its own unique ids / call ids (and AMI ``Timestamp``) so every call is a distinct call. It
creates a PostgreSQL database (dropped afterwards), migrates it, seeds one tenant per PBX kind,
and serves the events over real TCP sockets -- ESL framing for FreeSWITCH, AMI framing for
Asterisk -- to the real listener processes (``python -m esl_handlers.freeswitch_main`` under
gevent, ``esl_handlers.asterisk_main`` under asyncio) with the production DatabaseSink. It prints,
as medians of --runs:

  - pipeline rate: events/s from the first byte sent until the last event is committed in
    PostgreSQL (raw event, live channel, presence, call record, activity; target >= 20,000)
  - the rate of the fastest correct parse of the same bytes in this process (framing +
    normalise, no database, no presence) and pipeline / parse (target >= 0.3)

then presence latency p50/p99 (target p99 <= 50 ms): a probe registration or unregistration is
written to a PBX socket, with no other traffic and with other traffic at --background-share of
the measured pipeline rate, and timed until the presence message arrives on /live/events of the real web app
(gunicorn, `switchboard serve`) for a logged-in admin of that tenant. The machine is shared:
compare the ratio, which is measured in the same run, more than the absolute rates.

With --freeswitch-sipp the events come from the real sandbox FreeSWITCH under sipp load instead
(calls/s held with every call in history, CPU per call against FreeSWITCH alone): see
bench/events_freeswitch.py.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.esl_handlers import ami_messages as ami  # noqa: E402
from tests.fakes.esl_server import api_response, event_plain_frame, fixture_bytes, split_raw_frames  # noqa: E402

WIRE = ROOT / "tests" / "fixtures" / "freeswitch-wire"
CAPTURES = (
    "events-call-answered.txt",
    "events-call-missed.txt",
    "events-call-echo.txt",
    "events-callcenter.txt",
    "events-register.txt",
)
PASSWORD = "bench-password-1234"
PROBE_EXTENSION = "1099"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# --- traffic -------------------------------------------------------------------------------------

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class FreeSwitchTraffic:
    """Copies of the five captures; copy ``i`` gets its own uuids (Core-UUID included, so event
    ids, which are Core-UUID:Event-Sequence, differ too). Every uuid keeps its length, so the
    frames' Content-Length stays right."""

    def __init__(self) -> None:
        self.template = b"".join((WIRE / name).read_bytes() for name in CAPTURES)
        originals = sorted(set(_UUID.findall(self.template)))
        prefixes = {uuid[:24] for uuid in originals}
        if len(prefixes) != len(originals):
            raise RuntimeError("two capture uuids share a prefix; copies would collide")
        self.frames_per_copy = len(split_raw_frames(self.template))

    def copy(self, index: int) -> bytes:
        suffix = b"%012x" % index
        return _UUID.sub(lambda m: m.group(0)[:24] + suffix, self.template)

    def blob(self, events: int, first_copy: int = 0) -> tuple[bytes, int]:
        copies = max(1, round(events / self.frames_per_copy))
        return b"".join(self.copy(first_copy + i) for i in range(copies)), copies * self.frames_per_copy


def _ami_wire(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n"


def _ami_missed_call() -> list[str]:
    return [
        ami.NEWCHANNEL_CALLER,
        ami.DIAL_BEGIN,
        ami.NEWCHANNEL_CALLEE,
        ami.NEWSTATE_CALLEE_RINGING,
        ami.DIAL_END_CANCEL,
        ami.HANGUP_CALLEE.replace(
            "Cause: 16\nCause-txt: Normal Clearing", "Cause: 26\nCause-txt: Answered elsewhere"
        ),
        ami.HANGUP_CALLER_CANCEL,
        ami.CDR_MISSED,
    ]


def _ami_presence() -> list[str]:
    return [
        ami.CONTACT_CREATED,
        ami.CONTACT_REACHABLE,
        ami.DEVICE_STATE_RINGING,
        ami.EXTENSION_STATUS,
        ami.DEVICE_STATE_INUSE,
        ami.QUEUE_MEMBER_STATUS,
        ami.QUEUE_MEMBER_PAUSE,
        ami.AGENT_CALLED,
        ami.AGENT_CONNECT,
        ami.AGENT_COMPLETE,
        ami.EXTENSION_REMOVED,
        ami.DEVICE_STATE_QUEUE,
        ami.CONTACT_UNREACHABLE,
        ami.CONTACT_REMOVED,
    ]


class AsteriskTraffic:
    """An answered call, a missed call, a queue call's agent events, and the registration and
    device state events around them.

    Each of the three calls of copy ``i`` gets its own Uniqueid/Linkedid values; events without a
    Timestamp get one (as with ``timestampevents = yes``), distinct per copy, since AMI event ids
    are content hashes."""

    def __init__(self) -> None:
        segments = (list(ami.ANSWERED_CALL), _ami_missed_call(), _ami_presence())
        parts = []
        for number, texts in enumerate(segments):
            for text in texts:
                if "\nTimestamp: " not in text:
                    lines = text.split("\n")
                    at = 2 if lines[1].startswith("Privilege: ") else 1
                    text = "\n".join([*lines[:at], "Timestamp: {stamp}", *lines[at:]])
                data = _ami_wire(text)
                for leg, uid in enumerate((ami.CALLER, ami.CALLEE)):
                    data = data.replace(f": {uid}\r\n".encode(), b": {id%d}\r\n" % (2 * number + leg))
                parts.append(data)
        self.template = b"".join(parts)
        self.frames_per_copy = len(parts)

    def copy(self, index: int) -> bytes:
        data = self.template.replace(b"{stamp}", b"%.6f" % (1795219369 + index / 1000))
        for slot in range(6):
            data = data.replace(b"{id%d}" % slot, b"1795219369.%d" % (6 * index + slot + 1))
        return data

    def blob(self, events: int, first_copy: int = 0) -> tuple[bytes, int]:
        copies = max(1, round(events / self.frames_per_copy))
        return b"".join(self.copy(first_copy + i) for i in range(copies)), copies * self.frames_per_copy


# --- the fastest correct parse ---------------------------------------------------------------------


def parse_freeswitch(data: bytes, node: str, chunk: int = 1 << 16) -> list:
    """ESL framing (incremental, as the bytes arrive) + targeted header parse + normalise."""
    from esl_handlers.esl_frames import EslFrameParser, PlainEvent
    from esl_handlers.freeswitch_events import normalise_freeswitch_event

    parser = EslFrameParser()
    events = []
    append = events.append
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        for frame in parser.feed(view[start : start + chunk]):
            event = normalise_freeswitch_event(PlainEvent(frame.body), node)
            if event is not None:
                append(event)
    return events


def ami_messages(data: bytes) -> Iterator[dict[str, str | list[str]]]:
    """AMI framing: CRLF lines, a blank line ends a message; a repeated header becomes a list."""
    for raw in data.split(b"\r\n\r\n"):
        if not raw:
            continue
        message: dict[str, str | list[str]] = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(": ")
            if not sep:
                name, sep, value = line.partition(":")
                if not sep:
                    continue
            if name in message:
                previous = message[name]
                message[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                message[name] = value
        yield message


def parse_asterisk(data: bytes, node: str) -> list:
    from esl_handlers.asterisk_events import normalise_asterisk_event

    received = time.time()
    events = []
    for message in ami_messages(data):
        event = normalise_asterisk_event(message, node, received)
        if event is not None:
            events.append(event)
    return events


def check_asterisk_parse(sample: bytes, node: str) -> None:
    """The fast AMI parse must give what the listener's panoramisk parse gives."""
    from panoramisk.message import Message

    from esl_handlers.asterisk_events import normalise_asterisk_event

    fast = parse_asterisk(sample, node)
    slow = []
    for raw in sample.split(b"\r\n\r\n"):
        if raw:
            message = Message.from_line(raw.decode())
            event = normalise_asterisk_event(message, node, 0.0)
            if event is not None:
                slow.append(event)
    if fast != slow:
        raise RuntimeError("the fast AMI parse disagrees with panoramisk's")


# --- PBX sockets ----------------------------------------------------------------------------------


class _PbxServer(ABC):
    """One TCP listener; the latest accepted connection is the one events are written to."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.ready = threading.Event()
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            self.ready.clear()
            threading.Thread(target=self._serve_guarded, args=(conn,), daemon=True).start()

    def _serve_guarded(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError:
            pass

    @abstractmethod
    def _serve(self, conn: socket.socket) -> None:
        """Speak the PBX's protocol on one accepted connection (ESL or AMI)."""

    def _reply(self, conn: socket.socket, data: bytes) -> None:
        with self._lock:
            conn.sendall(data)

    def _go_live(self, conn: socket.socket) -> None:
        self._conn = conn
        self.ready.set()

    def send(self, data: bytes) -> float:
        """Write bytes to the live connection; returns when they have left (time.time())."""
        assert self._conn is not None
        with self._lock:
            self._conn.sendall(data)
        return time.time()

    def close(self) -> None:
        self._listener.close()
        if self._conn is not None:
            self._conn.close()


def _requests(conn: socket.socket, separator: bytes) -> Iterator[bytes]:
    buffer = b""
    while True:
        while separator in buffer:
            raw, buffer = buffer.split(separator, 1)
            yield raw
        data = conn.recv(65536)
        if not data:
            return
        buffer += data


class EslServer(_PbxServer):
    """FreeSWITCH inbound event socket: the captured auth exchange, empty resync listings."""

    def __init__(self) -> None:
        frames = split_raw_frames(fixture_bytes("esl-session-auth.server.txt"))
        self.auth_request, self.auth_accepted, self.events_enabled = frames[0], frames[1], frames[3]
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        self._reply(conn, self.auth_request)
        for raw in _requests(conn, b"\n\n"):
            command = raw.decode().strip()
            if command.startswith("auth "):
                self._reply(conn, self.auth_accepted)
            elif command.startswith("event plain"):
                self._reply(conn, self.events_enabled)
            elif command in ("api show channels as json", "api show registrations as json"):
                self._reply(conn, api_response(b'{"row_count":0}\n'))
                if "registrations" in command:
                    self._go_live(conn)
            else:
                self._reply(conn, b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")


_EMPTY_LISTS = {
    "coreshowchannels": "CoreShowChannelsComplete",
    "devicestatelist": "DeviceStateListComplete",
    "queuestatus": "QueueStatusComplete",
}


class AmiServer(_PbxServer):
    """Asterisk manager interface as Asterisk 22 answers the listener's actions, nothing live."""

    def _serve(self, conn: socket.socket) -> None:
        self._reply(conn, b"Asterisk Call Manager/9.0.0\r\n")
        for raw in _requests(conn, b"\r\n\r\n"):
            action = dict(line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line)
            name = action.get("Action", "").lower()
            tag = f"ActionID: {action.get('ActionID', '')}\n"
            if name == "login":
                reply = f"Response: Success\n{tag}Message: Authentication accepted\n"
            elif name == "filter":
                reply = f"Response: Success\n{tag}Message: Filter Added Successfully\n"
            elif name == "events":
                reply = f"Response: Success\n{tag}Events: On\n"
            elif name == "ping":
                reply = f"Response: Success\n{tag}Ping: Pong\nTimestamp: {time.time():.6f}\n"
            elif name == "pjsipshowcontacts":
                reply = f"Response: Error\n{tag}Message: No Contacts found\n"
            elif name in _EMPTY_LISTS:
                self._reply(conn, _ami_wire(f"Response: Success\n{tag}EventList: start\nMessage: follows\n"))
                reply = f"Event: {_EMPTY_LISTS[name]}\n{tag}EventList: Complete\nListItems: 0\n"
            else:
                reply = f"Response: Error\n{tag}Message: Invalid/unknown command\n"
            self._reply(conn, _ami_wire(reply))
            if name == "queuestatus":
                self._go_live(conn)


# --- the world: database, listeners, web ----------------------------------------------------------


@dataclass
class World:
    url: str
    fs_tenant: int
    ast_tenant: int
    fs_probe_user: int
    ast_probe_user: int
    fs_admin: str
    ast_admin: str


def create_database(admin_url: str) -> str:
    from sqlalchemy import create_engine, text

    name = f"switchboard_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def seed(url: str, fs_port: int, ast_port: int) -> World:
    """Two tenants, each with users 1000-1002, the probe user, an admin, queue support, a node.

    Tenant ids start at a random high value: pub/sub channels are per tenant id and shared by
    every process on this Redis."""
    from sqlalchemy import text

    from control import db
    from control.services import nodes, queues, tenants, users

    session = db.new_session(url)
    try:
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('tenants', 'id'), :n)"),
            {"n": random.randrange(10**6, 10**9)},
        )
        ids: dict[str, int] = {}
        admins: dict[str, str] = {}
        for kind, node, port in (("freeswitch", "fs1", fs_port), ("asterisk", "ast1", ast_port)):
            tag = secrets.token_hex(4)
            tenant = tenants.create_tenant(
                session, {"name": f"bench {kind} {tag}", "domain": f"{node}-{tag}.bench.example"}
            )
            made = {
                ext: users.create_user(
                    session,
                    tenant.id,
                    {"name": f"User {ext}", "email": f"u{ext}-{tag}@bench.example", "extension": ext},
                    None,
                )
                for ext in ("1000", "1001", "1002", PROBE_EXTENSION)
            }
            admins[kind] = f"admin-{tag}@bench.example"
            users.create_user(
                session,
                tenant.id,
                {"name": "Bench admin", "email": admins[kind], "role": "admin", "password": PASSWORD},
                None,
            )
            queues.create_queue(
                session,
                tenant.id,
                {"name": "support", "extension": "7000", "members": [{"user_id": made["1001"].id}]},
                None,
            )
            nodes.create_node(
                session,
                {
                    "name": node,
                    "kind": kind,
                    "host": "127.0.0.1",
                    "port": port,
                    "secret": "ClueCon",
                    "username": "switchboard",
                    "config_dir": "/etc/freeswitch" if kind == "freeswitch" else "/etc/asterisk",
                    "tenant_id": tenant.id,
                },
                None,
            )
            ids[kind] = tenant.id
            ids[f"{kind}-probe"] = made[PROBE_EXTENSION].id
        session.commit()
    finally:
        session.close()
    return World(
        url=url,
        fs_tenant=ids["freeswitch"],
        ast_tenant=ids["asterisk"],
        fs_probe_user=ids["freeswitch-probe"],
        ast_probe_user=ids["asterisk-probe"],
        fs_admin=admins["freeswitch"],
        ast_admin=admins["asterisk"],
    )


PIPELINE_TABLES = (
    "raw_events",
    "live_channels",
    "sip_registrations",
    "presence_states",
    "call_records",
    "activity_items",
)


def reset_pipeline_state(url: str) -> None:
    from sqlalchemy import text

    from control import db

    with db.engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(PIPELINE_TABLES)} RESTART IDENTITY CASCADE"))


def committed_events(url: str) -> int:
    from sqlalchemy import text

    from control import db

    with db.engine(url).connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM raw_events")).scalar_one())


def progress(url: str, last_events: dict[str, str]) -> tuple[int, int]:
    """(highest raw event id, how many nodes' last events are in) -- index look-ups only: a
    count(*) every few ms would scan the growing table and steal the database's CPU.
    Each node's sink commits its events in order, so its last event in means all are."""
    from sqlalchemy import text

    from control import db

    with db.engine(url).connect() as conn:
        highest = conn.execute(text("SELECT coalesce(max(id), 0) FROM raw_events")).scalar_one()
        finished = sum(
            conn.execute(
                text("SELECT count(*) FROM raw_events WHERE node = :node AND event_id = :event_id"),
                {"node": node, "event_id": event_id},
            ).scalar_one()
            for node, event_id in last_events.items()
        )
    return int(highest), int(finished)


def derived_summary(url: str) -> str:
    """What the last run built, per node: proof the pipeline did the whole job, not just inserts."""
    from sqlalchemy import text

    from control import db

    with db.engine(url).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT n.name, count(*), sum(CASE WHEN c.missed THEN 1 ELSE 0 END), "
                "(SELECT count(*) FROM activity_items a WHERE a.tenant_id = n.tenant_id) "
                "FROM call_records c JOIN pbx_nodes n ON n.id = c.node_id GROUP BY n.name, n.tenant_id ORDER BY n.name"
            )
        ).all()
        live = conn.execute(text("SELECT count(*) FROM live_channels")).scalar_one()
    parts = [
        f"{node}: {calls:,} call records ({missed:,} missed), {items:,} activity items"
        for node, calls, missed, items in rows
    ]
    return "; ".join(parts) + f"; {live} channels left up"


def child_environment(url: str, scratch: str, redis_url: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SWITCHBOARD_DATA_DIR": scratch,
        "PYTHONPATH": str(ROOT),
    }


def start_listeners(env: dict[str, str], fs_port: int, ast_port: int, logs: Path) -> list[subprocess.Popen]:
    from esl_handlers.listener_config import ListenerConfig
    from esl_handlers.listener_process import spawn_listener

    processes = []
    for node, pbx, port in (("fs1", "freeswitch", fs_port), ("ast1", "asterisk", ast_port)):
        config = ListenerConfig(
            node=node,
            pbx=pbx,
            host="127.0.0.1",
            port=port,
            secret="ClueCon",
            username="switchboard",
            heartbeat_interval=600.0,
        )
        log = open(logs / f"listener-{node}.log", "wb")  # noqa: SIM115 -- the child owns it
        processes.append(
            spawn_listener(
                config,
                sink="esl_handlers.sink:database_sink",
                log_level="WARNING",
                env=env,
                stderr=log,
                cwd=ROOT,
            )
        )
    return processes


def start_web(env: dict[str, str], logs: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    log = open(logs / "web.log", "wb")  # noqa: SIM115 -- the child owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--workers", "1", "--no-worker"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"the web server did not come up; see {logs / 'web.log'}")


class SseClient:
    """A logged-in admin's /live/events stream; every data message lands on ``messages``."""

    def __init__(self, base: str, email: str) -> None:
        import httpx

        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(10, read=None))
        page = self.client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None, "no CSRF token on the login page"
        reply = self.client.post(
            "/login", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD}
        )
        if reply.status_code not in (302, 303):
            raise RuntimeError(f"bench admin login failed: {reply.status_code}")
        self.messages: queue.SimpleQueue[tuple[float, dict]] = queue.SimpleQueue()
        self.connected = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.connected.wait(10):
            raise RuntimeError("the SSE stream did not open")

    def _read(self) -> None:
        import httpx
        import orjson

        try:
            with self.client.stream("GET", "/live/events") as response:
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line.startswith("data: "):
                        self.messages.put((time.time(), orjson.loads(line[6:])))
        except httpx.HTTPError:
            pass  # the web server stops at the end of the run

    def wait_for(self, user_id: int, state: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, message = self.messages.get(timeout=left)
            except queue.Empty:
                return None
            if (
                message.get("type") == "presence"
                and message.get("user_id") == user_id
                and message.get("state") == state
            ):
                return at
        return None


# --- measurements --------------------------------------------------------------------------------


def measure_parse(fs_blob: bytes, ast_blob: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    count = len(parse_freeswitch(fs_blob, "fs1")) + len(parse_asterisk(ast_blob, "ast1"))
    return time.perf_counter() - started, count


def measure_pipeline(
    url: str,
    servers: tuple[EslServer, AmiServer],
    blobs: tuple[bytes, bytes],
    expected: int,
    last_events: dict[str, str],
    listeners: list,
) -> float:
    reset_pipeline_state(url)
    senders = [
        threading.Thread(target=server.send, args=(blob,))
        for server, blob in zip(servers, blobs, strict=True)
    ]
    started = time.perf_counter()
    for sender in senders:
        sender.start()
    last, last_change = 0, time.monotonic()
    while True:
        time.sleep(0.02)
        highest, finished = progress(url, last_events)
        if finished == len(last_events):
            elapsed = time.perf_counter() - started
            break
        if highest != last:
            last, last_change = highest, time.monotonic()
        elif time.monotonic() - last_change > 60 or any(p.poll() is not None for p in listeners):
            raise RuntimeError(f"pipeline stalled after {highest:,} of {expected:,} events")
    for sender in senders:
        sender.join()
    done = committed_events(url)
    if done != expected:
        raise RuntimeError(f"{done:,} events committed, {expected:,} expected")
    return elapsed


def _fs_probe_frames() -> tuple[Callable[[int], bytes], Callable[[int], bytes]]:
    frames = {b"sofia%3A%3Aregister": b"", b"sofia%3A%3Aunregister": b""}
    for frame in split_raw_frames((WIRE / "events-register.txt").read_bytes()):
        body = frame.split(b"\n\n", 1)[1]
        for subclass in frames:
            if not frames[subclass] and b"Event-Subclass: " + subclass + b"\n" in body:
                frames[subclass] = body
    bodies = [
        frames[key]
        .replace(b"\nusername: 1000\n", b"\nusername: " + PROBE_EXTENSION.encode() + b"\n")
        .replace(b"\nfrom-user: 1000\n", b"\nfrom-user: " + PROBE_EXTENSION.encode() + b"\n")
        for key in (b"sofia%3A%3Aregister", b"sofia%3A%3Aunregister")
    ]

    def make(body: bytes) -> Callable[[int], bytes]:
        return lambda n: event_plain_frame(
            re.sub(rb"\nEvent-Sequence: \d+\n", b"\nEvent-Sequence: %d\n" % (10**8 + n), body)
        )

    return make(bodies[0]), make(bodies[1])


def _ast_probe_frames() -> tuple[Callable[[int], bytes], Callable[[int], bytes]]:
    def make(text: str) -> Callable[[int], bytes]:
        text = text.replace("1001", PROBE_EXTENSION).replace(
            "Privilege: system,all\n", "Privilege: system,all\nTimestamp: {stamp}\n"
        )
        return lambda n: _ami_wire(text.replace("{stamp}", f"{1795300000 + n / 1000:.6f}"))

    return make(ami.CONTACT_CREATED), make(ami.CONTACT_REMOVED)


def measure_latency(
    servers: tuple[EslServer, AmiServer],
    world: World,
    clients: tuple[SseClient, SseClient],
    probes: range,
    registered_now: dict[str, bool],
    background: tuple[bytes, bytes],
    background_rate: float,
    per_copy: tuple[int, int],
) -> tuple[list[float], int]:
    """Probe presence changes, alternating PBX kinds, while paced background traffic flows."""
    stop = threading.Event()

    def pace(server: _PbxServer, blob: bytes, frames_per_chunk: int, separator: bytes) -> None:
        chunks = _chunks(blob, separator, frames_per_chunk)
        interval = frames_per_chunk / (background_rate / 2)
        next_at = time.monotonic()
        for chunk in chunks:
            if stop.is_set():
                return
            server.send(chunk)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    pacers = [
        threading.Thread(target=pace, args=(servers[0], background[0], per_copy[0], None), daemon=True),
        threading.Thread(
            target=pace, args=(servers[1], background[1], per_copy[1], b"\r\n\r\n"), daemon=True
        ),
    ]
    if background_rate > 0:
        for pacer in pacers:
            pacer.start()
    fs_on, fs_off = _fs_probe_frames()
    ast_on, ast_off = _ast_probe_frames()
    samples, lost = [], 0
    time.sleep(0.5)
    for n in probes:
        kind = "freeswitch" if n % 2 == 0 else "asterisk"
        registered = registered_now[kind] = not registered_now[kind]  # register, unregister, ...
        if kind == "freeswitch":
            server, client, user, frame = (
                servers[0],
                clients[0],
                world.fs_probe_user,
                (fs_on if registered else fs_off)(n),
            )
        else:
            server, client, user, frame = (
                servers[1],
                clients[1],
                world.ast_probe_user,
                (ast_on if registered else ast_off)(n),
            )
        sent = server.send(frame)
        arrived = client.wait_for(user, "available" if registered else "offline", 5.0)
        if arrived is None:
            lost += 1
        else:
            samples.append(arrived - sent)
        time.sleep(random.uniform(0.005, 0.02))
    stop.set()
    return samples, lost


def _chunks(blob: bytes, separator: bytes | None, per_chunk: int) -> Iterator[bytes]:
    """Whole frames, ``per_chunk`` at a time (ESL frames by Content-Length, AMI by blank line)."""
    if separator is None:
        frames = split_raw_frames(blob)
    else:
        frames = [part + separator for part in blob.split(separator) if part]
    for start in range(0, len(frames), per_chunk):
        yield b"".join(frames[start : start + per_chunk])


def show_logs(logs: Path) -> None:
    """The end of each child's log (the scratch directory holding them goes away at exit)."""
    for log in sorted(logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-15:]
        print(f"--- {log.name} (last {len(lines)} lines)", *lines, sep="\n", file=sys.stderr)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000, help="events per run, both PBX kinds")
    parser.add_argument("--freeswitch-share", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument(
        "--background-share",
        type=float,
        default=0.5,
        help="other traffic during the probes, as a share of the measured pipeline rate",
    )
    parser.add_argument("--pg-admin-url", default=os.environ.get("SWITCHBOARD_TEST_PG", PG_ADMIN_URL))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    real = parser.add_argument_group(
        "--freeswitch-sipp: a real FreeSWITCH under sipp load (bench/events_freeswitch.py)"
    )
    real.add_argument("--freeswitch-sipp", action="store_true", help="run this mode instead")
    real.add_argument(
        "--cps", type=float, action="append", help="offered calls/s, in order (default 5, 10, 20)"
    )
    real.add_argument("--seconds", type=float, default=20.0, help="seconds of load per rate")
    real.add_argument("--hold", type=float, default=1.0, help="seconds each answered call is held")
    real.add_argument(
        "--lag", type=float, default=5.0, help="seconds after the last call its record may take"
    )
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    if args.freeswitch_sipp:
        from bench import events_freeswitch

        return events_freeswitch.main(args)
    random.seed(args.seed)

    scratch = tempfile.TemporaryDirectory(prefix="switchboard-bench-events-")
    logs = Path(scratch.name)
    os.environ["SWITCHBOARD_DATA_DIR"] = scratch.name
    os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "bench-secret-key-" + "x" * 32)
    os.environ["REDIS_URL"] = args.redis_url

    from control import db
    from control.migrate import upgrade

    started = time.perf_counter()
    fs_traffic, ast_traffic = FreeSwitchTraffic(), AsteriskTraffic()
    fs_blob, fs_frames = fs_traffic.blob(round(args.events * args.freeswitch_share))
    ast_blob, ast_frames = ast_traffic.blob(args.events - fs_frames)
    check_asterisk_parse(ast_traffic.copy(0) + ast_traffic.copy(1), "ast1")
    fs_events, ast_events = parse_freeswitch(fs_blob, "fs1"), parse_asterisk(ast_blob, "ast1")
    expected = len({e.event_id for e in fs_events}) + len({e.event_id for e in ast_events})
    if expected != len(fs_events) + len(ast_events):
        raise RuntimeError("generated events repeat an event id")
    last_events = {"fs1": fs_events[-1].event_id[:160], "ast1": ast_events[-1].event_id[:160]}
    del fs_events, ast_events
    print(
        f"generated {fs_frames + ast_frames:,} events ({fs_frames:,} FreeSWITCH frames, {len(fs_blob) / 1e6:.0f} MB; "
        f"{ast_frames:,} AMI messages, {len(ast_blob) / 1e6:.0f} MB); {expected:,} reach the model "
        f"(the rest are HEARTBEAT / CHANNEL_UNBRIDGE / FullyBooted-class events the model ignores) "
        f"in {time.perf_counter() - started:.1f} s"
    )

    url = create_database(args.pg_admin_url)
    servers = (EslServer(), AmiServer())
    processes: list[subprocess.Popen] = []
    try:
        upgrade(url)
        world = seed(url, servers[0].port, servers[1].port)
        env = child_environment(url, scratch.name, args.redis_url)
        processes = start_listeners(env, servers[0].port, servers[1].port, logs)
        web, base = start_web(env, logs)
        processes.append(web)
        for server in servers:
            if not server.ready.wait(30):
                raise RuntimeError(f"a listener did not connect; logs in {logs}")
        time.sleep(0.5)  # the connect resyncs reach the database

        parse_times, pipeline_times = [], []
        for _ in range(args.runs):
            elapsed, count = measure_parse(fs_blob, ast_blob)
            assert count == expected
            parse_times.append(elapsed)
            pipeline_times.append(
                measure_pipeline(url, servers, (fs_blob, ast_blob), expected, last_events, processes[:2])
            )
        total = fs_frames + ast_frames
        pipeline_rate = total / statistics.median(pipeline_times)
        parse_rate = total / statistics.median(parse_times)
        print(
            f"pipeline (socket -> listener -> DatabaseSink -> PostgreSQL): {pipeline_rate:,.0f} events/s "
            f"(median of {args.runs}: {', '.join(f'{total / t:,.0f}' for t in pipeline_times)}; target >= 20,000)"
        )
        print(
            f"fastest correct parse of the same bytes (framing + normalise, no database): {parse_rate:,.0f} events/s "
            f"(median of {args.runs})"
        )
        print(f"pipeline / parse ratio: {pipeline_rate / parse_rate:.2f} (target >= 0.3)")
        print(f"after the last run: {derived_summary(url)}")

        clients = (SseClient(base, world.fs_admin), SseClient(base, world.ast_admin))
        registered_now = {"freeswitch": False, "asterisk": False}  # the probe users' phones
        for phase, share in enumerate(sorted({0.0, args.background_share})):
            background_rate = pipeline_rate * share
            background_events = int(background_rate * args.probes * 0.05)  # a probe takes ~20-50 ms
            background = (
                fs_traffic.blob(background_events // 2, first_copy=(phase + 1) * 10**6)[0],
                ast_traffic.blob(background_events // 2, first_copy=(phase + 1) * 10**6)[0],
            )
            samples, lost = measure_latency(
                servers,
                world,
                clients,
                range(phase * args.probes, (phase + 1) * args.probes),
                registered_now,
                background,
                background_rate,
                (fs_traffic.frames_per_copy, ast_traffic.frames_per_copy),
            )
            load = (
                f"{background_rate:,.0f} events/s of other traffic" if background_rate else "no other traffic"
            )
            if samples:
                print(
                    f"presence latency, socket -> SSE message on /live/events, {load}: "
                    f"p50 {percentile(samples, 0.5) * 1000:.1f} ms, p99 {percentile(samples, 0.99) * 1000:.1f} ms "
                    f"over {len(samples)} probes ({lost} lost; target p99 <= 50 ms)"
                )
            else:
                print(f"presence latency, {load}: no probe reached the SSE stream ({lost} lost)")
                show_logs(logs)
    except BaseException:
        show_logs(logs)
        raise
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in servers:
            server.close()
        db.dispose_all()
        drop_database(args.pg_admin_url, url)
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
