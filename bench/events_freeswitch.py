"""bench/events.py --freeswitch-sipp: the event pipeline fed by a real FreeSWITCH under sipp load.

    .venv/bin/python bench/events.py --freeswitch-sipp [--cps 5 --cps 10 --cps 20] [--seconds 20]

The sandbox FreeSWITCH (deploy/freeswitch/sandbox, SWITCHBOARD_FS_* variables) gets pbx_world's
tenant deployed by the real deploy job (users 1001-1003 in the tenant's SIP domain). Two sipp UAS
phones register as 1001 and 1002 and answer at once; sipp UACs authenticate as 1003 and call
them at the offered rate (half each), every call held --hold seconds. For each rate:

  - baseline, the same run: the same load with nobody listening (FreeSWITCH alone): the calls
    sipp completed and FreeSWITCH's CPU per call;
  - then the same load with the real `switchboard listen` (its listener process writing
    PostgreSQL through the production sink): the calls sipp completed, the call records written
    for them (counted afterwards, in the database), how long after sipp exited (1 s after its
    last BYE) the last record was in, and CPU per call of the listener processes and of FreeSWITCH, as ratios to the
    baseline.

A rate is held when every call sipp placed completed, every one has its call record, and the
last record is in within --lag seconds of sipp's exit. Rates are tried in order and
the run stops at the first one not held. Loopback only; the sandbox's RTP range (200 ports)
bounds the calls up at once, so the rate is capped at 40 calls/s.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE = "sandbox"  # pbx_world.sandbox_node's name
MAX_CPS = 40.0


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (and their reaped children)."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


@dataclass
class Load:
    """One sipp load run: calls placed, completed and failed, and when the last one ended."""

    placed: int
    successful: int
    failed: int
    ended: float  # when the UACs exited: each call's scenario ends with a 1 s timewait
    seconds: float


def run_load(sipp, workdir: Path, cps: float, seconds: float, hold: float, password: str, tag: str) -> Load:  # type: ignore[no-untyped-def]
    """Two UACs (1003 calling 1001 and 1002), cps/2 calls/s each for `seconds`."""
    from tests.integration.sipp import LOCAL_IP, SCENARIOS, SippProcess, free_udp_port

    per_uac = cps / 2
    calls = max(1, round(per_uac * seconds))
    processes = []
    for callee in ("1001", "1002"):
        stats = workdir / f"{tag}-{callee}-stats.csv"
        args = [
            "-sf", str(SCENARIOS / "uac_call.xml"),
            "-i", LOCAL_IP, "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
            sipp.target,
            "-s", callee,
            "-key", "caller", "1003",
            "-key", "domain", sipp.domain,
            "-au", "1003", "-ap", password,
            "-d", str(round(hold * 1000)),
            "-r", f"{per_uac:g}", "-rp", "1000",
            "-m", str(calls),
            "-trace_stat", "-stf", str(stats), "-fd", "1",
        ]  # fmt: skip
        processes.append((SippProcess(f"{tag}-uac-{callee}", workdir, args, seconds * 3 + 60), stats))
    started = time.perf_counter()
    for process, _ in processes:
        process.wait(seconds * 3 + 90)
    ended = time.time()
    successful = failed = 0
    for _, stats in processes:
        with stats.open() as handle:
            rows = list(csv.DictReader(handle, delimiter=";"))
        successful += int(rows[-1]["SuccessfulCall(C)"])
        failed += int(rows[-1]["FailedCall(C)"])
    return Load(2 * calls, successful, failed, ended, time.perf_counter() - started)


def count_records(tenant_id: int) -> int:
    from sqlalchemy import func, select

    from control import db
    from control.models import CallRecord

    with db.new_session() as session:
        return int(session.scalar(select(func.count()).where(CallRecord.tenant_id == tenant_id)) or 0)


def wait_records(tenant_id: int, expected: int, quiet: float) -> tuple[int, float]:
    """(records, when the last one came in): waits until `expected` are in, or none came for
    `quiet` seconds (calls that never reached FreeSWITCH have none)."""
    count = count_records(tenant_id)
    last_in = time.time()
    while count < expected and time.time() - last_in < quiet:
        time.sleep(0.05)
        now = count_records(tenant_id)
        if now != count:
            count, last_in = now, time.time()
    return count, last_in


def start_listen(env: dict[str, str], logs: Path) -> subprocess.Popen:
    log = open(logs / "listen.log", "wb")  # noqa: SIM115 -- the child owns it
    return subprocess.Popen(
        [sys.executable, "-m", "web.cli", "listen", NODE], env=env, cwd=ROOT, stdout=log, stderr=log
    )


def wait_connected(pid: int, port: int, timeout: float = 30.0) -> None:
    """Until a listener process under `pid` holds an established connection to the event socket."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                connections = child.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.raddr and c.raddr.port == port and c.status == "ESTABLISHED" for c in connections):
                return
        time.sleep(0.05)
    raise RuntimeError(f"`switchboard listen` did not connect to the event socket in {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def main(args: argparse.Namespace) -> int:
    from bench.events import create_database, drop_database

    rates = args.cps or [5.0, 10.0, 20.0]
    if max(rates) > MAX_CPS:
        raise SystemExit(f"--cps at most {MAX_CPS:g}: the sandbox has 200 RTP ports")
    scratch = tempfile.mkdtemp(prefix="switchboard-bench-fs-events-")
    os.environ["SWITCHBOARD_DATA_DIR"] = scratch
    os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "bench-secret-key-" + "x" * 32)
    os.environ["REDIS_URL"] = args.redis_url
    url = create_database(args.pg_admin_url)
    os.environ["DATABASE_URL"] = url

    import redis

    from bench.events import child_environment
    from control import db
    from control.config import reset_settings
    from control.migrate import upgrade
    from tests.integration.freeswitch_sandbox import FreeswitchSandbox
    from tests.integration.pbx_world import DeployWorld, build_model, create_node
    from tests.integration.sipp import SippSession

    reset_settings()
    upgrade(url)
    client = redis.Redis.from_url(args.redis_url)
    client.flushdb()
    sandbox = FreeswitchSandbox()
    sandbox.start()
    logs = Path(scratch)
    fs_pid = int((sandbox.root / "run" / "freeswitch.pid").read_text().split()[0])
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared: figures are noisy); "
        f"calls held {args.hold:g} s, {args.seconds:g} s per rate"
    )
    try:
        with sandbox.exclusive():
            sandbox.reset()
            model = build_model(name="bench-fs-events")
            world = DeployWorld(client, create_node(sandbox, model.tenant_id))
            record = world.deploy()
            assert record.result == "success", record.error
            env = child_environment(url, scratch, args.redis_url)
            with SippSession(logs / "sipp", sip_port=sandbox.sip_internal_port, domain=model.domain) as sipp:
                for ext in ("1001", "1002"):
                    sipp.phone(ext, model.secrets[ext], answer_after=0.0)
                listen = start_listen(env, logs)
                try:
                    wait_connected(listen.pid, sandbox.esl_port)
                    # Warm up: one call through, its record in (the listener is connected).
                    warm = run_load(sipp, logs, 2, 1, 0.2, model.secrets["1003"], "warm")
                    count, _ = wait_records(model.tenant_id, warm.placed, 30)
                    if count < warm.placed:
                        raise RuntimeError(f"warm-up: {count} of {warm.placed} records; see {logs}")
                finally:
                    stop(listen)
                for cps in rates:
                    if not bench_rate(args, sipp, sandbox, model, env, logs, cps, fs_pid):
                        break
            sandbox.reset()
    finally:
        client.flushdb()
        db.dispose_all()
        drop_database(args.pg_admin_url, url)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def bench_rate(args, sipp, sandbox, model, env, logs: Path, cps: float, fs_pid: int) -> bool:  # type: ignore[no-untyped-def]
    password = model.secrets["1003"]
    # Baseline: FreeSWITCH alone.
    before = tree_cpu(fs_pid)
    alone = run_load(sipp, logs, cps, args.seconds, args.hold, password, f"alone-{cps:g}")
    alone_cpu = (tree_cpu(fs_pid) - before) / max(1, alone.successful)

    # The same load with `switchboard listen` writing history.
    first = count_records(model.tenant_id)
    listen = start_listen(env, logs)
    try:
        wait_connected(listen.pid, sandbox.esl_port)
        fs_before, listen_before = tree_cpu(fs_pid), tree_cpu(listen.pid)
        load = run_load(sipp, logs, cps, args.seconds, args.hold, password, f"listen-{cps:g}")
        count, last_in = wait_records(model.tenant_id, first + load.placed, args.lag)
        fs_cpu = (tree_cpu(fs_pid) - fs_before) / max(1, load.successful)
        listen_cpu = (tree_cpu(listen.pid) - listen_before) / max(1, load.successful)
    finally:
        stop(listen)
    records = count - first
    lag = last_in - load.ended
    held = load.failed == 0 and load.successful == load.placed and records == load.placed and lag <= args.lag
    limit = "" if held or alone.successful == alone.placed else " (FreeSWITCH alone did not hold it either)"
    achieved = load.successful / load.seconds
    print(
        f"offered {cps:g} calls/s: baseline (no listener) {alone.successful}/{alone.placed} calls in "
        f"{alone.seconds:.1f} s, FreeSWITCH CPU {alone_cpu * 1000:.1f} ms/call | with `switchboard listen` "
        f"{load.successful}/{load.placed} calls ({achieved:.1f} calls/s completed), {records} call records, "
        f"the last in {lag:.2f} s after sipp exited (1 s after its last BYE) | listener CPU {listen_cpu * 1000:.1f} ms/call "
        f"({listen_cpu / alone_cpu:.2f}x FreeSWITCH's own), FreeSWITCH CPU {fs_cpu * 1000:.1f} ms/call "
        f"({fs_cpu / alone_cpu:.2f}x the baseline) | {'held' if held else 'NOT held'}{limit}"
    )
    return held
