"""The event pipeline end to end, for integration and browser tests, on either PBX kind (a
`pbx_kinds.Pbx`): a tenant built through the services and deployed to the sandbox, `switchboard
listen` running as a real process against it, sipp phones, outside callers arriving where the
carrier's calls do, a sipp trunk that answers outbound calls, and the live presence stream read
from Redis.

The listener reaches the PBX's control connection (AMI or ESL) and PostgreSQL through
`TcpProxy`s the tests can cut. The sandbox is held exclusively while the world exists and left
with live -> versions/0.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import redis
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from control import config, db, live
from control.models import ActivityItem, CallRecord, DeployRecord, RawEvent, SipRegistration
from control.services import (
    contacts,
    deploys,
    lines,
    nodes,
    numbers,
    queues,
    ring_groups,
    tenants,
    users,
)
from tests.integration.events_tcp_proxy import TcpProxy
from tests.integration.pbx_kinds import Pbx
from tests.integration.pbx_world import sandbox_node
from tests.integration.sipp import Phone, SippSession
from worker.deploys import run_deploy

REPO = Path(__file__).resolve().parents[2]
NODE = "events-sandbox"
#: Inbound numbers: A rings Ann (1001), B rings Ben (1002), C rings the ring group 600
#: (Ann and Ben at once); queue 700 has Ann as its one member.
LINE_A, LINE_B, LINE_C = "+12125550147", "+12125550148", "+12125550149"
#: A known outside caller (a contact) and an outside number Cat (1003) calls out to.
CONTACT_NUMBER = "+14155550123"
OUTSIDE_NUMBER = "+14155550188"
ADMIN_EMAIL = "ops@events.example"
ADMIN_PASSWORD = "events-admin-password"
DOMAIN = "events.switchboard.test"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 10.0, every: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(every)


def read(fn: Callable[[Session], T]) -> T:
    """Run `fn` in a fresh session (the listener commits in another process)."""
    session = db.new_session()
    try:
        return fn(session)
    finally:
        session.close()


# --- the live presence stream ------------------------------------------------------------------


@dataclass(frozen=True)
class LiveMessage:
    at: float
    data: dict[str, Any]


class LiveWatch:
    """Every message published on the tenant's live channel, as the SSE stream relays them."""

    def __init__(self, tenant_id: int) -> None:
        self.messages: list[LiveMessage] = []
        self._lock = threading.Lock()
        self._pubsub = redis.Redis.from_url(os.environ["REDIS_URL"]).pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(live.channel(tenant_id))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.1)
            if message is not None:
                with self._lock:
                    self.messages.append(LiveMessage(time.time(), orjson.loads(message["data"])))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()

    def mark(self) -> int:
        with self._lock:
            return len(self.messages)

    def presence(self, user_id: int, since: int = 0) -> list[str]:
        """The presence states a user went through since `since` (a `mark()`): repeats folded,
        so a line-state change that leaves presence as it was (idle -> ringing) does not count."""
        with self._lock:
            states = [
                (index, m.data["state"])
                for index, m in enumerate(self.messages)
                if m.data.get("type") == "presence" and m.data.get("user_id") == user_id
            ]
        before = [state for index, state in states if index < since]
        folded: list[str] = before[-1:]
        for index, state in states:
            if index >= since and (not folded or folded[-1] != state):
                folded.append(state)
        return folded[len(before[-1:]) :]

    def describe(self, user_id: int, since: int = 0) -> str:
        """The raw presence messages of a user since `since`, for assertion messages."""
        with self._lock:
            return "\n".join(
                f"{m.at:.3f} {m.data}" for m in self.messages[since:] if m.data.get("user_id") == user_id
            )

    def wait_presence(self, user_id: int, state: str, since: int = 0, timeout: float = 10.0) -> None:
        wait_for(
            f"user {user_id} to turn {state} (saw {self.presence(user_id, since)})",
            lambda: state in self.presence(user_id, since),
            timeout,
        )

    def activity_ids(self, since: int = 0) -> list[int]:
        with self._lock:
            return [m.data["activity_id"] for m in self.messages[since:] if m.data.get("type") == "activity"]


# --- the REST API as the world's admin -------------------------------------------------------


class Api:
    """The Flask test client with the world admin's bearer token on every request."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict | None = None) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def put(self, path: str, body: dict) -> Any:
        return self.client.put(path, json=body, headers=self.headers)

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)


def admin_api(token_name: str) -> Api:
    """The web app's API, as the world's admin (a token named `token_name`)."""
    from control.services import accounts
    from web.app import create_app

    app = create_app()
    with db.unit_of_work() as s:
        admin = users.find_user_by_email(s, ADMIN_EMAIL)
        assert admin is not None
        token = accounts.create_token(s, admin, token_name)
    return Api(app.test_client(), token)


# --- `switchboard listen` -----------------------------------------------------------------------


class ListenerCli:
    """`switchboard listen NODE` as a child process, its log in a file."""

    def __init__(self, node: str, log_path: Path, env: dict[str, str]) -> None:
        self.node = node
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "listen", self.node],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def count(self, text: str) -> int:
        return self.log().count(text)

    def wait_log(self, text: str, count: int = 1, timeout: float = 15.0) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"switchboard listen exited ({self.process.returncode}):\n{self.log()}")
            return self.count(text) >= count

        try:
            wait_for(f"{text!r} x{count} in the listener log", seen, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- listener log ---\n{self.log()[-4000:]}") from None

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no goodbye, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


# --- the world ----------------------------------------------------------------------------------


@dataclass
class EventsWorld:
    pbx: Pbx
    sipp: SippSession
    #: callers from outside, arriving where the carrier's calls do
    outside: SippSession
    tenant_id: int
    node_id: int
    ids: dict[str, int]
    secrets: dict[str, str]
    trunk: Phone
    control_proxy: TcpProxy
    pg_proxy: TcpProxy
    listener: ListenerCli
    watch: LiveWatch
    spool_dir: Path
    phones: dict[str, Phone] = field(default_factory=dict)
    #: positions in the live stream (LiveWatch.mark()) one test leaves for a later one
    marks: dict[str, int] = field(default_factory=dict)

    def user_id(self, extension: str) -> int:
        return self.ids[extension]

    def register(self, extension: str, *, answer_after: float | None, expires: int = 3600) -> Phone:
        phone = self.sipp.phone(
            extension, self.secrets[extension], answer_after=answer_after, expires=expires
        )
        self.phones[extension] = phone
        return phone

    def wait_registered(self, extension: str, timeout: float = 20.0) -> None:
        """Until the listener has recorded a registration of the extension's phone."""
        wait_for(
            f"{extension} registered in the database",
            lambda: read(
                lambda s: s.scalar(
                    select(SipRegistration).where(SipRegistration.user_id == self.user_id(extension))
                )
            ),
            timeout,
        )

    def records(self) -> list[CallRecord]:
        return read(
            lambda s: list(
                s.scalars(
                    select(CallRecord).where(CallRecord.tenant_id == self.tenant_id).order_by(CallRecord.id)
                )
            )
        )

    def wait_record(
        self, what: str, match: Callable[[CallRecord], bool], timeout: float = 10.0
    ) -> CallRecord:
        return wait_for(
            what,
            lambda: next((r for r in self.records() if match(r)), None),
            timeout,
        )

    def activity(self, record_id: int) -> set[tuple[str, int | None, int | None]]:
        return read(
            lambda s: {
                (a.kind, a.user_id, a.line_id)
                for a in s.scalars(select(ActivityItem).where(ActivityItem.call_record_id == record_id))
            }
        )

    def raw_events(self, call_key: str | None = None) -> list[RawEvent]:
        def rows(s: Session) -> list[RawEvent]:
            stmt = select(RawEvent).where(RawEvent.node == NODE).order_by(RawEvent.id)
            if call_key is not None:
                stmt = stmt.where(RawEvent.call_key == call_key)
            return list(s.scalars(stmt))

        return read(rows)


def _model(pbx: Pbx, trunk_port: int, control_port: int) -> tuple[int, int, dict[str, int], dict[str, str]]:
    """The tenant, as the admin would build it: people, three lines, a ring group, a contact."""
    with db.unit_of_work() as s:
        # Redis pub/sub ignores database numbers: other test runs on this machine publish on
        # `switchboard:live:1` too. A tenant id of our own keeps the stream ours.
        s.execute(
            text("SELECT setval(pg_get_serial_sequence('tenants', 'id'), :start)"),
            {"start": random.randrange(10**6, 10**9)},
        )
        tenant = tenants.create_tenant(
            s,
            {
                "name": "events",
                "domain": DOMAIN,
                "trunk_host": "127.0.0.1",
                "trunk_port": trunk_port,
            },
        )
        ids: dict[str, int] = {}
        number_ids = {
            n: numbers.create_number(s, tenant.id, {"number": n}, None).id for n in (LINE_A, LINE_B, LINE_C)
        }
        for ext, name in (
            ("1001", "Ann Archer"),
            ("1002", "Ben Baker"),
            ("1003", "Cat Cole"),
            ("1004", "Dan Dale"),
        ):
            data: dict[str, Any] = {"name": name, "email": f"{ext}@events.example", "extension": ext}
            if ext == "1003":
                data["caller_id_number_id"] = number_ids[LINE_A]
            ids[ext] = users.create_user(s, tenant.id, data, None).id
        ids["admin"] = users.create_user(
            s,
            tenant.id,
            {"name": "Ops Admin", "email": ADMIN_EMAIL, "role": "admin", "password": ADMIN_PASSWORD},
            None,
        ).id
        ids["600"] = ring_groups.create_ring_group(
            s,
            tenant.id,
            {
                "name": "Front desk",
                "extension": "600",
                "strategy": "parallel",
                "timeout": 20,
                "members": [
                    {"kind": "user", "target": ids["1001"], "timeout": 20},
                    {"kind": "user", "target": ids["1002"], "timeout": 20},
                ],
            },
            None,
        ).id
        ids["700"] = queues.create_queue(
            s,
            tenant.id,
            {
                "name": "Help",
                "extension": "700",
                "strategy": "ring_all",
                "wrap_up_time": 0,
                "members": [{"user_id": ids["1001"], "active": True}],
            },
            None,
        ).id
        for key, number, kind, target in (
            ("line_a", LINE_A, "user", ids["1001"]),
            ("line_b", LINE_B, "user", ids["1002"]),
            ("line_c", LINE_C, "ring_group", ids["600"]),
        ):
            ids[key] = lines.create_line(
                s,
                tenant.id,
                {
                    "name": key.replace("_", " ").title(),
                    "destination_kind": kind,
                    "destination_target": target,
                    "number_ids": [number_ids[number]],
                },
                None,
            ).id
        ids["contact"] = contacts.create_contact(
            s,
            tenant.id,
            {
                "first_name": "Carla",
                "last_name": "Client",
                "numbers": [{"label": "work", "number": CONTACT_NUMBER}],
            },
            None,
        ).id
        ids["outside_contact"] = contacts.create_contact(
            s,
            tenant.id,
            {"company": "Outside Supplies", "numbers": [{"label": "work", "number": OUTSIDE_NUMBER}]},
            None,
        ).id
        secrets = {
            ext: users.sip_secret(s, tenant.id, ids[ext], None) for ext in ("1001", "1002", "1003", "1004")
        }
        node = sandbox_node(pbx.sandbox, tenant.id, NODE) | {"port": control_port}
        node_id = nodes.create_node(s, node, None).id
    return tenant.id, node_id, ids, secrets


def deploy(node_id: int) -> None:
    """Deploy the node's tenant like the rq job does, in this process."""
    with db.unit_of_work() as s:
        record_id = deploys.request_deploy(s, node_id, None, source="cli").id
    run_deploy(record_id)
    record = read(lambda s: s.get(DeployRecord, record_id))
    if record.result != "success":
        raise AssertionError(f"deploy failed: {record.error}")


def proxied_database_url(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@contextlib.contextmanager
def events_world(
    database_url: str, pbx: Pbx, workdir: Path, *, proxied: bool = True
) -> Iterator[EventsWorld]:
    """Everything up and the listener connected and resynchronised; torn down in reverse.

    proxied=False: the listener reaches the PBX and PostgreSQL directly, not through the proxies
    (bench/commands.py: the proxies' thread hops would be timed as Switchboard's)."""
    if not database_url.startswith("postgresql"):
        raise AssertionError(
            "the event pipeline tests run against PostgreSQL (SWITCHBOARD_TEST_DB=postgresql)"
        )
    pg = make_url(database_url)
    pg_proxy = TcpProxy(pg.host or "127.0.0.1", pg.port or 5432)
    sandbox = pbx.sandbox
    control_proxy = TcpProxy(*pbx.control_address)
    spool_dir = config.settings().data_dir / "spool" / NODE
    shutil.rmtree(spool_dir, ignore_errors=True)
    with contextlib.ExitStack() as stack:
        stack.callback(pg_proxy.close)
        stack.callback(control_proxy.close)
        stack.enter_context(sandbox.exclusive())
        sandbox.reset()
        stack.callback(sandbox.reset)
        sipp = stack.enter_context(pbx.phones(workdir / "sipp", DOMAIN))
        outside = stack.enter_context(pbx.outside(workdir / "outside"))
        trunk = sipp.phone("trunk", "", answer_after=0.3, register=False)
        tenant_id, node_id, ids, secrets = _model(
            pbx, trunk.port, control_proxy.port if proxied else pbx.control_address[1]
        )
        with pbx.short_registrations():
            deploy(node_id)
        env = {
            **os.environ,
            "DATABASE_URL": proxied_database_url(database_url, pg_proxy.port) if proxied else database_url,
            "PYTHONUNBUFFERED": "1",
        }
        listener = ListenerCli(NODE, workdir / "listener.log", env)
        watch = LiveWatch(tenant_id)
        stack.callback(watch.close)
        listener.start()
        stack.callback(listener.stop)
        listener.wait_log("resynced after connect", timeout=30)
        yield EventsWorld(
            pbx=pbx,
            sipp=sipp,
            outside=outside,
            tenant_id=tenant_id,
            node_id=node_id,
            ids=ids,
            secrets=secrets,
            trunk=trunk,
            control_proxy=control_proxy,
            pg_proxy=pg_proxy,
            listener=listener,
            watch=watch,
            spool_dir=spool_dir,
        )
