"""Benchmark: from a model change to the change being live on the sandbox PBX (Asterisk, and
FreeSWITCH with --pbx freeswitch).

    .venv/bin/python bench/deploy.py [--pbx asterisk] [--pbx freeswitch] [--runs 5]
        [--users 10 --users 10000] [--database-url URL]

For each tenant size: the tenant (users, one ring group and one queue per 50 users) is inserted
in bulk, deployed once in full, then `--runs` times one user is renamed through the service
layer (users.update_user in a unit of work, as the admin does) and the clock runs until AMI
shows the new caller ID on that endpoint. The change is applied by the real automatic apply
path: the effect handler opens the apply window, a `switchboard worker` process (forking, as
in production) runs the apply job and the deploy. Printed, medians of --runs:

  - change -> live with the apply window at 0 s (the pipeline; target <= 1.5 s on 10,000 users)
  - Switchboard's share: render + validate + diff + write + switch + verify, from the deploy
    record's timings (target <= 0.3 s); when the deploy finished; the reloads inside it
  - the floor, measured in the same run: the PBX reloading the same files for the same change
    with nothing else around it (live switched back to the previous version and forward again,
    the second reload timed): Asterisk's reloads of the parts, FreeSWITCH's own `reloadxml`;
    Switchboard's share is printed as a ratio to it
  ("live" is the first moment the PBX shows the new caller ID: AMI PJSIPShowEndpoint, or
  FreeSWITCH's `user_data EXT@DOMAIN var effective_caller_id_name`; a pjsip reload of 10,000
  endpoints applies them while it runs, so that comes before the reload command returns.)
  - CPU per change beside the times: the `switchboard worker` process and its forked jobs
    (apply + deploy), and the PBX process during one floor reload
  - one change -> live with the shipped 2 s apply window (what an admin sees)

Needs root (the sandboxes: deploy/asterisk/sandbox with SWITCHBOARD_SANDBOX_*,
deploy/freeswitch/sandbox with SWITCHBOARD_FS_*), Redis (REDIS_URL, default
redis://127.0.0.1:6379/14, flushed) and leaves each sandbox's live -> versions/0.
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


def generate(session, users: int, tag: str, max_queues: int | None = None) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    """A tenant of `users` users, a ring group and a queue per 50 users (at most `max_queues`
    queues); returns (id, user ids)."""
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
            [
                {"tenant_id": tenant.id, "name": f"Q{g}", "extension": str(30000 + g)}
                for g in range(min(groups, groups if max_queues is None else max_queues))
            ],
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


def cpu_seconds(pid: int) -> float:
    """CPU a process and its reaped children used so far (utime+stime+cutime+cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class AsteriskColumn:
    """The Asterisk sandbox as the benchmark sees it: the new caller ID over AMI, the floor as
    the deploy's reloads of the same parts."""

    kind = "asterisk"

    def __init__(self) -> None:
        from tests.integration.asterisk_sandbox import AsteriskSandbox

        self.sandbox = AsteriskSandbox()
        self.client = None

    def pid(self) -> int:
        """Asterisk's pid, from its pidfile in the chroot (deploy/asterisk/sandbox's asterisk_pid)."""
        path = self.sandbox.root / "run" / "asterisk" / "asterisk.pid"
        return int(path.read_text().split()[0]) if path.exists() else 0

    def __enter__(self) -> AsteriskColumn:
        from worker.ami_client import AmiClient

        s = self.sandbox
        self.client = AmiClient(s.ami_host, s.ami_port, s.ami_user, s.ami_secret, timeout=120)
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def is_live(self, extension: str, domain: str, name: str) -> bool:
        response = self.client.action("PJSIPShowEndpoint", Endpoint=extension)
        for event in response.events:
            if event.get("ObjectType") == "endpoint":
                return f'"{name}"' in event.get("Callerid", "")
        return False

    def reload(self, parts: list[str]) -> None:
        from worker.asterisk_apply import RELOADS

        for part in parts:
            command, expected = RELOADS[part]
            output = self.client.command(command, timeout=120)
            assert expected in output, output

    def floor_name(self, parts: list[str]) -> str:
        return f"Asterisk alone reloading the same change ({', '.join(parts)})"


class FreeswitchColumn:
    """The FreeSWITCH sandbox: the new caller ID in `user_data` (the live directory), the floor
    FreeSWITCH's own `reloadxml` of the same files."""

    kind = "freeswitch"

    def __init__(self) -> None:
        from tests.integration.freeswitch_sandbox import FreeswitchSandbox

        self.sandbox = FreeswitchSandbox()
        self.client = None

    def pid(self) -> int:
        path = self.sandbox.root / "run" / "freeswitch.pid"
        return int(path.read_text().split()[0]) if path.exists() else 0

    def __enter__(self) -> FreeswitchColumn:
        self.client = self.sandbox.esl(timeout=120)
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def is_live(self, extension: str, domain: str, name: str) -> bool:
        output = self.client.api(f"user_data {extension}@{domain} var effective_caller_id_name", timeout=30)
        return output.strip() == name

    def reload(self, parts: list[str]) -> None:
        output = self.client.api("reloadxml", timeout=120)
        assert output.startswith("+OK"), output

    def floor_name(self, parts: list[str]) -> str:
        return "FreeSWITCH's own reloadxml of the same files"


COLUMNS = {"asterisk": AsteriskColumn, "freeswitch": FreeswitchColumn}


def _wait_live(column, extension: str, domain: str, name: str, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if column.is_live(extension, domain, name):
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


def _floor(column, runs: int, parts: list[str], previous: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median seconds (and the PBX's CPU seconds) the PBX takes to reload `parts` for the last
    deploy's change alone: live is switched back to the previous version (reloaded, not timed),
    then forward to the deployed one, and that reload is timed. Nothing else runs meanwhile."""
    sandbox = column.sandbox
    live = sandbox.live_version()
    pid = column.pid()
    samples, cpu = [], []
    for _ in range(runs):
        sandbox.activate_version(previous)
        column.reload(parts)
        sandbox.activate_version(live)
        before = cpu_seconds(pid) if pid else float("nan")
        started = time.perf_counter()
        column.reload(parts)
        samples.append(time.perf_counter() - started)
        cpu.append((cpu_seconds(pid) if pid else float("nan")) - before)
    return _median(samples), _median(cpu)


def _version_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_size(
    column, users: int, runs: int, shipped_window: float, worker_pid: int, max_queues: int | None
) -> None:  # type: ignore[no-untyped-def]
    from control import db, jobs
    from control.services import deploys, nodes
    from control.services import users as users_service
    from tests.integration.pbx_world import sandbox_node

    sandbox = column.sandbox
    label = f"{column.kind:>10} {users:>6} users"
    with db.unit_of_work() as session:
        tenant_id, user_ids = generate(session, users, f"{column.kind}-{users}-{os.getpid()}", max_queues)
        domain = f"bench-{column.kind}-{users}-{os.getpid()}.example.com"
        node_id = nodes.create_node(
            session, sandbox_node(sandbox, tenant_id, f"sandbox-{column.kind}-{users}"), None
        ).id
        record_id = deploys.request_deploy(session, node_id, None, source="cli").id
    started = time.perf_counter()
    jobs.start_deploy_job(record_id)
    first = _wait_record(node_id, record_id - 1, timeout=600)
    assert first.result == "success", first.error
    print(
        f"{label}: {max(1, users // 50)} ring groups, "
        f"{max(1, users // 50) if max_queues is None else min(max_queues, max(1, users // 50))} queues; "
        f"first (full) deploy {time.perf_counter() - started:.2f} s, "
        f"{_version_bytes(sandbox.version_dir(first.version)):,} bytes; "
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
        seen = _wait_live(column, extension, domain, name)
        return seen - t0, _wait_record(node_id, last)

    with column:
        live, share, reload, done, cpu = [], [], [], [], []
        for run in range(runs):
            t0 = time.time()
            cpu_before = cpu_seconds(worker_pid)
            elapsed, record = change_and_wait(run, 0.0)
            assert record.result == "success", record.error
            cpu.append(cpu_seconds(worker_pid) - cpu_before)
            timings = record.diff_summary["timings"]
            live.append(elapsed)
            done.append(record.finished_at.replace(tzinfo=UTC).timestamp() - t0)
            reload.append(timings.get("reload", 0) / 1000)
            own = ("render", "validate", "diff", "write", "switch", "verify")
            share.append(sum(timings.get(k, 0) for k in own) / 1000)
        last_timings = record.diff_summary["timings"]
        parts = record.diff_summary["parts"]
        floor, floor_cpu = _floor(column, runs, parts, record.diff_summary["previous_version"])
        windowed = [change_and_wait(runs + run, shipped_window)[0] for run in range(min(runs, 3))]
    print(
        f"{label}: one change -> live {_median(live):.3f} s (median of {runs}; target <= 1.5 s) | "
        f"Switchboard's share {_median(share):.3f} s (target <= 0.3 s), "
        f"{_median(share) / floor:.2f}x the floor | deploy finished after {_median(done):.3f} s, "
        f"its reload ({', '.join(parts)}) {_median(reload):.3f} s | worker CPU {_median(cpu):.3f} s "
        f"per change | with the shipped {shipped_window:g} s apply window {_median(windowed):.3f} s"
    )
    print(
        f"{label}: floor (baseline, same run): {column.floor_name(parts)} {floor:.3f} s, "
        f"PBX CPU {floor_cpu:.3f} s"
    )
    print(f"{label}: last deploy's timings (ms): {last_timings}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pbx", choices=sorted(COLUMNS), action="append")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--max-queues",
        type=int,
        help="cap the tenant's queues (default one per 50 users); FreeSWITCH's first deploy loads "
        "each agent and tier with its own callcenter_config command",
    )
    parser.add_argument("--users", type=int, action="append")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    scratch = _environment(args)

    import redis

    from control import db, jobs
    from control.migrate import upgrade

    shipped_window = jobs.APPLY_WINDOW
    upgrade(os.environ["DATABASE_URL"])
    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    jobs.register_apply_handlers()
    columns = [COLUMNS[kind]() for kind in args.pbx or ["asterisk"]]
    for column in columns:
        column.sandbox.start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "worker"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared: figures are noisy)")
    try:
        for column in columns:
            sandbox = column.sandbox
            with sandbox.exclusive():
                try:
                    for users in args.users or [10, 10_000]:
                        bench_size(column, users, args.runs, shipped_window, worker.pid, args.max_queues)
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
