"""Benchmark: voice broadcast throughput on FreeSWITCH, every outcome recorded.

    # environment: REDIS_URL; SWITCHBOARD_FS_* for another sandbox
    .venv/bin/python bench/broadcasts.py [--calls 40] [--rounds 3] [--rate 20]

It starts what it needs: the sandbox FreeSWITCH (SWITCHBOARD_FS_* pick it), a PostgreSQL database
of its own (SWITCHBOARD_BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres;
created and dropped), the integration tests' world (tests/integration/events_world.py: a tenant
deployed to the sandbox, `switchboard listen` with its command executor, reaching the PBX and the
database directly), a sipp carrier behind the tenant's trunk that answers every call after 300 ms
(tests/integration/sipp_scenarios/uas_carrier.xml), and `switchboard worker`.

Then, in alternating rounds so both see the same machine, `--calls` calls each:
  - switchboard: a voice broadcast (0.5 s recording) started through the service, sent by the
    worker at the tenant's rate (`--rate`, calls a second) through the listener's executor, until
    every recipient's outcome is in the database;
  - direct: the same `bgapi originate` (esl_handlers.freeswitch_commands.broadcast_call) sent
    straight over an ESL connection of this process at the same spacing, until every call's
    CHANNEL_HANGUP_COMPLETE has arrived.
A round's rate is its calls over the time from its first call to its last outcome. It prints the
median rate of each, their ratio (1.0: Switchboard sends as fast as a script that only
originates), and the CPU seconds per call of the worker and the listener (process CPU times: the
machine is shared, wall time alone says little), with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.direct_esl import DirectEsl  # noqa: E402
from bench.events_freeswitch import tree_cpu  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

SETTLE_TIMEOUT = 120.0


class DirectBroadcastCalls(DirectEsl):
    """Broadcast calls' originates, their hang-ups counted."""

    def __init__(self, sandbox: Any) -> None:
        self.ended: set[int] = set()
        super().__init__(sandbox)
        self.send(b"event plain CHANNEL_HANGUP_COMPLETE\n\n", "event")

    def take(self, frame: Any) -> None:
        from esl_handlers import freeswitch_commands as fs

        if frame.content_type == "text/event-plain":
            ended = fs.broadcast_hangup(frame.body)
            if ended is not None:
                self.ended.add(ended.command_id)

    def originate(self, params: dict[str, Any], call_id: int) -> None:
        from esl_handlers import freeswitch_commands as fs

        wire = fs.broadcast_call(params | {"channel_id": uuid.uuid4().hex}, call_id).wire
        self.send(wire, "bgapi originate")

    def wait_ended(self, ids: set[int], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while not ids <= self.ended:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(ids - self.ended)} direct calls never hung up")
            self.take(self._frame())
        return time.time()


def _recording(workdir: Path) -> bytes:
    path = workdir / "announcement.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", str(path), "synth", "0.5", "sine", "440"], check=True
    )
    return path.read_bytes()


def run(calls: int, rounds: int, rate: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from control import broadcast_jobs, db
    from control.models import Broadcast, BroadcastRecipient, Line
    from control.services import broadcast_recordings, broadcast_sending, broadcasts, contacts, tags, tenants
    from tests.integration.events_world import DOMAIN, LINE_A, deploy, events_world
    from tests.integration.freeswitch_sandbox import FreeswitchSandbox
    from tests.integration.pbx_kinds import Pbx
    from tests.integration.worker_process import Worker

    with scratch_database("broadcasts") as (url, scratch):
        broadcast_jobs.register_broadcast_handlers()
        worker: Any = None
        direct: DirectBroadcastCalls | None = None
        ours: list[float] = []
        baseline: list[float] = []
        cpu = {"worker": 0.0, "listener": 0.0, "listener_direct": 0.0}
        try:
            sandbox = FreeswitchSandbox()
            sandbox.ensure()
            sandbox.start()
            workdir = scratch / "world"
            with events_world(url, Pbx("freeswitch", sandbox), workdir, proxied=False) as world:
                world.sipp.lifetime = 3600
                carrier = world.sipp.uas("carrier", "uas_carrier.xml")
                with db.unit_of_work() as s:
                    tenants.update_tenant(
                        s,
                        world.tenant_id,
                        {
                            "name": "events",
                            "domain": DOMAIN,
                            "trunk_host": "127.0.0.1",
                            "trunk_port": carrier.port,
                            "broadcast_calls_per_second": rate,
                            "broadcast_max_concurrent": 500,
                        },
                        None,
                    )
                    line_id = s.scalar(
                        select(Line.id).where(Line.tenant_id == world.tenant_id, Line.name == "Line A")
                    )
                deploy(world.node_id)
                recording = _recording(workdir)
                worker = Worker(workdir / "worker.log", url)
                direct = DirectBroadcastCalls(sandbox)
                assert world.listener.process is not None
                listener_pid = world.listener.process.pid
                spacing = broadcast_sending.spacing(rate).total_seconds()

                def switchboard(round_: int) -> float:
                    numbers = [f"+14155552{round_}{n:02d}" for n in range(calls)]  # 2: the carrier answers
                    with db.unit_of_work() as s:
                        tag = tags.create_tag(s, world.tenant_id, {"name": f"Round {round_}"}, None)
                        for index, number in enumerate(numbers):
                            contacts.create_contact(
                                s,
                                world.tenant_id,
                                {
                                    "first_name": f"R{round_} {index}",
                                    "numbers": [{"number": number}],
                                    "tag_ids": [tag.id],
                                },
                                None,
                            )
                        broadcast = broadcasts.create_broadcast(
                            s,
                            world.tenant_id,
                            {
                                "name": f"Round {round_}",
                                "kind": "voice",
                                "message": "Bench",
                                "line_id": line_id,
                                "tag_ids": [tag.id],
                                "retry_count": 0,
                            },
                            None,
                        )
                        broadcast_recordings.save_recording(s, world.tenant_id, broadcast.id, recording, None)
                        broadcast_id = broadcast.id
                    before = tree_cpu(worker.process.pid), tree_cpu(listener_pid)
                    with db.unit_of_work() as s:
                        broadcast_sending.act(s, world.tenant_id, broadcast_id, "start", None)
                    deadline = time.monotonic() + SETTLE_TIMEOUT
                    while True:
                        with db.unit_of_work() as s:
                            status = s.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
                            first, last, answered = s.execute(
                                select(
                                    func.min(BroadcastRecipient.last_attempt_at),
                                    func.max(BroadcastRecipient.updated_at),
                                    func.count().filter(BroadcastRecipient.status == "answered"),
                                ).where(BroadcastRecipient.broadcast_id == broadcast_id)
                            ).one()
                        if status == "done":
                            break
                        if time.monotonic() > deadline:
                            raise RuntimeError(
                                f"broadcast {broadcast_id} still {status} after {SETTLE_TIMEOUT:.0f} s"
                            )
                        time.sleep(0.05)
                    cpu["worker"] += tree_cpu(worker.process.pid) - before[0]
                    cpu["listener"] += tree_cpu(listener_pid) - before[1]
                    if answered != calls:
                        raise RuntimeError(f"round {round_}: {answered} of {calls} answered")
                    return float(calls / (last - first).total_seconds())

                def straight(round_: int) -> float:
                    params = {"caller_id": LINE_A, "recording": "", "ring_seconds": 30}
                    with db.unit_of_work() as s:
                        params["recording"] = s.scalar(
                            select(Broadcast.recording).where(Broadcast.recording.is_not(None)).limit(1)
                        )
                    ids = {900_000 + round_ * 1000 + n for n in range(calls)}
                    before = tree_cpu(listener_pid)
                    started = time.time()
                    for n, call_id in enumerate(sorted(ids)):
                        wait = started + n * spacing - time.time()
                        if wait > 0:
                            time.sleep(wait)
                        direct.originate(params | {"to": f"+141555529{n:02d}"}, call_id)  # type: ignore[union-attr]
                    ended = direct.wait_ended(ids, SETTLE_TIMEOUT)  # type: ignore[union-attr]
                    cpu["listener_direct"] += tree_cpu(listener_pid) - before
                    return calls / (ended - started)

                switchboard(0)  # warm-up: the recording reaches the node, connections, plans
                load_before = os.getloadavg()[0]
                for round_ in range(1, rounds + 1):
                    ours.append(switchboard(round_))
                    baseline.append(straight(round_))
                load_after = os.getloadavg()[0]
        finally:
            if direct is not None:
                direct.close()
            if worker is not None:
                worker.stop()
    total = calls * rounds
    return {
        "calls": calls,
        "rounds": rounds,
        "rate": rate,
        "ours": ours,
        "direct": baseline,
        "cpu_worker": cpu["worker"] / total,
        "cpu_listener": cpu["listener"] / total,
        "cpu_listener_direct": cpu["listener_direct"] / total,
        "load": (load_before + load_after) / 2,
    }


def report(result: dict[str, Any]) -> None:
    ours, direct = statistics.median(result["ours"]), statistics.median(result["direct"])
    print(
        f"{result['rounds']} rounds of {result['calls']} voice broadcast calls each, tenant rate "
        f"{result['rate']}/s, sandbox FreeSWITCH, sipp carrier answering; load average "
        f"{result['load']:.1f} on {os.cpu_count()} CPUs (shared: figures are noisy)"
    )
    print(
        f"  switchboard (worker, executor, outcomes in the database)  median {ours:6.2f} calls/s   "
        f"rounds {', '.join(f'{r:.2f}' for r in result['ours'])}"
    )
    print(
        f"  direct (bgapi originate over ESL, hang-ups counted)        median {direct:6.2f} calls/s   "
        f"rounds {', '.join(f'{r:.2f}' for r in result['direct'])}"
    )
    print(f"  ratio switchboard / direct: {ours / direct:.2f}")
    print(
        f"  CPU per call: worker {result['cpu_worker'] * 1000:.1f} ms, listener "
        f"{result['cpu_listener'] * 1000:.1f} ms (direct: listener {result['cpu_listener_direct'] * 1000:.1f} ms, "
        "its call events only)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3, help="at most 8")
    parser.add_argument("--rate", type=int, default=20, help="the tenant's calls a second (1 to 50)")
    args = parser.parse_args()
    report(run(args.calls, args.rounds, args.rate))


if __name__ == "__main__":
    main()
