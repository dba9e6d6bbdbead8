"""Benchmark: click-to-call, from the API request to the first INVITE at the user's sipp phone.

    .venv/bin/python bench/commands.py [--originates 200]

Runs against the sandbox Asterisk (SWITCHBOARD_SANDBOX_* pick it), PostgreSQL
(SWITCHBOARD_BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres; a database
of its own is created and dropped) and Redis (REDIS_URL). It builds the integration tests' world
(tests/integration/events_world.py: a tenant deployed to the sandbox, `switchboard listen` with its
command executor) and registers 1001 as a sipp phone that turns every call down at once (486), so
each originate ends as soon as it rang.

Then, one at a time (each waits for its INVITE), it times:
  - switchboard: POST /api/v1/calls through the Flask app in this process (validation, the
    command row and audit entry, the commit, the hand-over on the node's Redis stream), the
    listener's executor (claim, Originate over its AMI connection) -> the INVITE at the phone;
  - direct: the same Originate action sent straight over an AMI connection of this process.
It prints p50/p99 of each and of the difference (target: Switchboard adds <= 50 ms at p99) and the
CPU time per originate of this process (API side) and of the listener process. The per-person
rate limit (10 calls and texts a minute) is lifted for the run: it is what the bench measures
around, not what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _listener_pid(parent: int) -> int:
    """The asyncio listener process `switchboard listen` started for the node."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                return int(entry.name)
    raise RuntimeError("no listener process under switchboard listen")


def _wait_invites(phone, count: int, timeout: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    return phone.wait_for_invites(count, timeout)[count - 1]


async def _direct(sandbox, phone, runs: int) -> tuple[list[float], float]:  # type: ignore[no-untyped-def]
    from panoramisk import Manager

    from esl_handlers import asterisk_commands

    manager = Manager(
        loop=asyncio.get_running_loop(),
        host=sandbox.ami_host,
        port=sandbox.ami_port,
        username=sandbox.ami_user,
        secret=sandbox.ami_secret,
        events="off",
        forgetable_actions=("ping", "login", "originate"),
    )
    await manager.connect()
    latencies = []
    cpu = time.process_time()
    try:
        for _ in range(runs):
            count = len(phone.invites()) + 1
            action = asterisk_commands.originate(
                {"endpoint": "1001", "target": "1003", "caller_id": "", "channel_id": uuid.uuid4().hex}
            )
            started = time.time()
            await manager.send_action(action, as_list=False)
            arrived = await asyncio.to_thread(_wait_invites, phone, count)
            latencies.append(arrived - started)
    finally:
        manager.close()
    return latencies, (time.process_time() - cpu) / runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--originates", type=int, default=200)
    args = parser.parse_args()

    scratch = tempfile.TemporaryDirectory(prefix="switchboard-bench-commands-")
    os.environ["SWITCHBOARD_DATA_DIR"] = scratch.name
    os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "bench-secret-key-" + "x" * 32)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

    from sqlalchemy import create_engine, text

    from control import config, db
    from control.migrate import upgrade
    from control.services import accounts, commands, users
    from tests.integration.asterisk_sandbox import AsteriskSandbox
    from tests.integration.events_world import ADMIN_EMAIL, events_world

    admin_url = os.environ.get(
        "SWITCHBOARD_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"sb_bench_commands_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    os.environ["DATABASE_URL"] = url
    config.reset_settings()
    commands.RATE_LIMIT = 10**9
    try:
        upgrade(url)
        sandbox = AsteriskSandbox()
        sandbox.ensure()
        sandbox.start()
        with events_world(url, sandbox, Path(scratch.name) / "world") as world:
            phone = world.sipp.phone("1001", world.secrets["1001"], reject_code=486, answer_after=0)
            from web.app import create_app

            client = create_app().test_client()
            with db.unit_of_work() as s:
                me = users.find_user_by_email(s, ADMIN_EMAIL)
                assert me is not None
                token = accounts.create_token(s, me, "bench")
            headers = {"Authorization": f"Bearer {token}"}
            body = {"user_id": world.user_id("1001"), "target": "1003"}
            listener = _listener_pid(world.listener.process.pid)  # type: ignore[union-attr]

            def originate() -> None:
                answer = client.post("/api/v1/calls", json=body, headers=headers)
                if answer.status_code != 202:
                    raise RuntimeError(
                        f"POST /api/v1/calls answered {answer.status_code}: {answer.get_json()}"
                    )

            for _ in range(5):  # warm-up: first requests, connections, code paths
                count = len(phone.invites()) + 1
                originate()
                _wait_invites(phone, count)
            ours, requests = [], []
            cpu, listener_cpu = time.process_time(), _cpu_seconds(listener)
            for _ in range(args.originates):
                count = len(phone.invites()) + 1
                started = time.time()
                originate()
                requests.append(time.time() - started)
                ours.append(_wait_invites(phone, count) - started)
            api_cpu = (time.process_time() - cpu) / args.originates
            executor_cpu = (_cpu_seconds(listener) - listener_cpu) / args.originates
            direct, direct_cpu = asyncio.run(_direct(sandbox, phone, args.originates))
            from sqlalchemy import select

            from control.models import Command

            with db.unit_of_work() as s:
                rows = s.scalars(select(Command).order_by(Command.id.desc()).limit(args.originates)).all()
                handover = [(c.sent_at - c.created_at).total_seconds() for c in rows if c.sent_at]
    finally:
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        scratch.cleanup()

    def line(label: str, values: list[float]) -> str:
        return (
            f"{label:<34} p50 {statistics.median(values) * 1000:7.1f} ms   "
            f"p99 {_percentile(values, 0.99) * 1000:7.1f} ms"
        )

    print(f"{args.originates} originates each, request -> first INVITE at the phone (sandbox Asterisk 22)")
    print(line("switchboard (API, stream, executor)", ours))
    print(line("direct AMI Originate", direct))
    print(line("  of which: the API request", requests))
    print(line("  of which: command row -> claimed", handover))
    added_p50 = statistics.median(ours) - statistics.median(direct)
    added_p99 = _percentile(ours, 0.99) - _percentile(direct, 0.99)
    print(
        f"switchboard adds                   p50 {added_p50 * 1000:7.1f} ms   p99 {added_p99 * 1000:7.1f} ms (target <= 50 ms)"
    )
    print(
        f"CPU per originate: API process {api_cpu * 1000:.2f} ms, listener process {executor_cpu * 1000:.2f} ms; "
        f"direct AMI client {direct_cpu * 1000:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
