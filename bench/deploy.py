"""Benchmark: from a model change to the change being live on the sandbox Asterisk.

    .venv/bin/python bench/deploy.py [--runs 5] [--users 10 --users 10000] [--database-url URL]

For each tenant size: the tenant (users, one ring group and one queue per 50 users) is inserted
in bulk, deployed once in full, then `--runs` times one user is renamed through the service
layer (users.update_user in a unit of work, as the admin does) and the clock runs until AMI
shows the new caller ID on that endpoint. The change is applied by the real automatic apply
path: the effect handler opens the apply window, a `switchboard worker` process (forking, as
in production) runs the apply job and the deploy. Printed, medians of --runs:

  - change -> live with the apply window at 0 s (the pipeline; target <= 1.5 s on 10,000 users)
  - Switchboard's share: render + validate + diff + write + switch + verify, from the deploy
    record's timings (target <= 0.3 s); when the deploy finished; the reloads inside it
  - the floor: Asterisk reloading the same parts for the same change with nothing else around it
    (live switched back to the previous version and forward again, the second reload timed)
  ("live" is the first moment AMI shows the new caller ID; a pjsip reload of 10,000 endpoints
  applies them while it runs, so that comes before the reload command returns.)
  - one change -> live with the shipped 2 s apply window (what an admin sees)

Needs root (the sandbox), Redis (REDIS_URL, default redis://127.0.0.1:6379/14, flushed) and
leaves the sandbox's live -> versions/0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _environment(args: argparse.Namespace) -> tempfile.TemporaryDirectory[str]:
    scratch = tempfile.TemporaryDirectory(prefix="switchboard-bench-deploy-")
    os.environ["SWITCHBOARD_DATA_DIR"] = scratch.name
    os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "bench-secret-key-" + "x" * 32)
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{scratch.name}/bench.db"
    os.environ["REDIS_URL"] = args.redis_url
    return scratch


def generate(session, users: int, tag: str) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    """A tenant of `users` users, a ring group and a queue per 50 users; returns (id, user ids)."""
    from sqlalchemy import insert

    from control import crypto
    from control.models import Queue, QueueMember, RingGroup, RingGroupMember, Tenant, User

    tenant = Tenant(name=f"bench-{tag}", domain=f"bench-{tag}.example.com")
    session.add(tenant)
    session.flush()
    rows = [
        {
            "tenant_id": tenant.id,
            "name": f"User {i}",
            "email": f"u{i}@{tag}.bench.example.com",
            "extension": str(100000 + i),
            "sip_secret_enc": crypto.encrypt(f"secret-{tag}-{i:06d}-x"),
        }
        for i in range(users)
    ]
    user_ids = list(session.scalars(insert(User).returning(User.id), rows))
    groups = max(1, users // 50)
    group_ids = list(
        session.scalars(
            insert(RingGroup).returning(RingGroup.id),
            [
                {"tenant_id": tenant.id, "name": f"G{g}", "extension": str(20000 + g), "strategy": "parallel"}
                for g in range(groups)
            ],
        )
    )
    session.execute(
        insert(RingGroupMember),
        [
            {"ring_group_id": gid, "position": p, "kind": "user", "user_id": user_ids[(g * 50 + p) % users]}
            for g, gid in enumerate(group_ids)
            for p in range(min(5, users))
        ],
    )
    queue_ids = list(
        session.scalars(
            insert(Queue).returning(Queue.id),
            [{"tenant_id": tenant.id, "name": f"Q{g}", "extension": str(30000 + g)} for g in range(groups)],
        )
    )
    session.execute(
        insert(QueueMember),
        [
            {"queue_id": qid, "user_id": user_ids[(g * 50 + p) % users], "position": p, "active": p % 3 != 2}
            for g, qid in enumerate(queue_ids)
            for p in range(min(10, users))
        ],
    )
    return tenant.id, user_ids


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _callerid(ami, extension: str) -> str:  # type: ignore[no-untyped-def]
    response = ami.action("PJSIPShowEndpoint", Endpoint=extension)
    for event in response.events:
        if event.get("ObjectType") == "endpoint":
            return event.get("Callerid", "")
    return ""


def _wait_live(ami, extension: str, name: str, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if f'"{name}"' in _callerid(ami, extension):
            return time.perf_counter()
        time.sleep(0.025)
    raise TimeoutError(f"{name} not live on {extension} after {timeout:.0f} s")


def _record(record_id: int):  # type: ignore[no-untyped-def]
    from control import db
    from control.models import DeployRecord

    with db.new_session() as session:
        return session.get(DeployRecord, record_id)


def _latest_record(node_id: int):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from control import db
    from control.models import DeployRecord

    with db.new_session() as session:
        return session.scalar(
            select(DeployRecord)
            .where(DeployRecord.node_id == node_id)
            .order_by(DeployRecord.id.desc())
            .limit(1)
        )


def _wait_record(node_id: int, after_id: int, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = _latest_record(node_id)
        if record is not None and record.id > after_id and record.result in ("success", "failed"):
            return record
        time.sleep(0.02)
    raise TimeoutError("no deploy finished")


def _floor(sandbox, ami, runs: int, parts: list[str], previous: int) -> float:  # type: ignore[no-untyped-def]
    """Median seconds Asterisk takes to reload `parts` for the last deploy's change alone:
    live is switched back to the previous version (reloaded, not timed), then forward to the
    deployed one, and that reload is timed. Nothing else runs meanwhile."""
    from worker.asterisk_apply import RELOADS

    live = sandbox.live_version()

    def reload() -> float:
        started = time.perf_counter()
        for part in parts:
            command, expected = RELOADS[part]
            output = ami.command(command, timeout=120)
            assert expected in output, output
        return time.perf_counter() - started

    samples = []
    for _ in range(runs):
        sandbox.activate_version(previous)
        reload()
        sandbox.activate_version(live)
        samples.append(reload())
    return _median(samples)


def bench_size(users: int, runs: int, sandbox, shipped_window: float) -> None:  # type: ignore[no-untyped-def]
    from control import db, jobs
    from control.services import deploys, nodes
    from control.services import users as users_service
    from worker.ami_client import AmiClient

    with db.unit_of_work() as session:
        tenant_id, user_ids = generate(session, users, f"{users}-{os.getpid()}")
        node_id = nodes.create_node(
            session,
            {
                "name": f"sandbox-{users}",
                "kind": "asterisk",
                "host": sandbox.ami_host,
                "port": sandbox.ami_port,
                "username": sandbox.ami_user,
                "secret": sandbox.ami_secret,
                "config_dir": str(sandbox.config_dir),
                "tenant_id": tenant_id,
            },
            None,
        ).id
        record_id = deploys.request_deploy(session, node_id, None, source="cli").id
    started = time.perf_counter()
    jobs.start_deploy_job(record_id)
    first = _wait_record(node_id, record_id - 1, timeout=600)
    assert first.result == "success", first.error
    print(
        f"{users:>6} users: first (full) deploy {time.perf_counter() - started:.2f} s, "
        f"{sum(len(p.read_bytes()) for p in sandbox.version_dir(first.version).iterdir()):,} bytes; "
        f"timings ms {first.diff_summary['timings']}"
    )

    def change_and_wait(run: int, window: float) -> tuple[float, object]:
        jobs.APPLY_WINDOW = window
        last = _latest_record(node_id).id
        user_id = user_ids[(run * 7919) % len(user_ids)]
        name = f"Bench {window:g} {run}"
        extension = str(100000 + user_ids.index(user_id))
        t0 = time.perf_counter()
        with db.unit_of_work() as session:
            users_service.update_user(session, tenant_id, user_id, {"name": name}, None)
        seen = _wait_live(ami, extension, name)
        return seen - t0, _wait_record(node_id, last)

    with AmiClient(
        sandbox.ami_host, sandbox.ami_port, sandbox.ami_user, sandbox.ami_secret, timeout=120
    ) as ami:
        live, share, reload, done = [], [], [], []
        for run in range(runs):
            t0 = time.time()
            elapsed, record = change_and_wait(run, 0.0)
            assert record.result == "success", record.error
            timings = record.diff_summary["timings"]
            live.append(elapsed)
            done.append(record.finished_at.replace(tzinfo=UTC).timestamp() - t0)
            reload.append(timings.get("reload", 0) / 1000)
            own = ("render", "validate", "diff", "write", "switch", "verify")
            share.append(sum(timings.get(k, 0) for k in own) / 1000)
        last_timings = record.diff_summary["timings"]
        floor = _floor(
            sandbox, ami, runs, record.diff_summary["parts"], record.diff_summary["previous_version"]
        )
        windowed = [change_and_wait(runs + run, shipped_window)[0] for run in range(min(runs, 3))]
    parts = ", ".join(record.diff_summary["parts"])
    print(
        f"{users:>6} users: one change -> live {_median(live):.3f} s (median of {runs}; target <= 1.5 s) | "
        f"Switchboard's share {_median(share):.3f} s (target <= 0.3 s) | deploy finished after "
        f"{_median(done):.3f} s, its reload ({parts}) {_median(reload):.3f} s | Asterisk alone reloading "
        f"the same change ({parts}) {floor:.3f} s | with the shipped {shipped_window:g} s apply window "
        f"{_median(windowed):.3f} s"
    )
    print(f"{users:>6} users: last deploy's timings (ms): {last_timings}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--users", type=int, action="append")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    scratch = _environment(args)

    import redis

    from control import db, jobs
    from control.migrate import upgrade
    from tests.integration.asterisk_sandbox import AsteriskSandbox

    shipped_window = jobs.APPLY_WINDOW
    upgrade(os.environ["DATABASE_URL"])
    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    jobs.register_apply_handlers()
    sandbox = AsteriskSandbox()
    sandbox.start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "worker"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with sandbox.exclusive():
            try:
                for users in args.users or [10, 10_000]:
                    bench_size(users, args.runs, sandbox, shipped_window)
            finally:
                sandbox.activate_version(0)
                sandbox.reload()
                for path in (sandbox.switchboard_dir / "versions").iterdir():
                    if path.name != "0":
                        shutil.rmtree(path)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client.flushdb()
        db.dispose_all()
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
