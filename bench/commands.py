"""Benchmark: click-to-call, from the API request to the first INVITE at the user's sipp phone.

    # environment: REDIS_URL; SWITCHBOARD_SANDBOX_* / SWITCHBOARD_FS_* for other sandboxes
    .venv/bin/python bench/commands.py --pbx asterisk|freeswitch [--originates 200] [--profile DIR]

It starts what it needs: the sandbox PBX of the kind asked for (SWITCHBOARD_SANDBOX_* or
SWITCHBOARD_FS_* pick it), a PostgreSQL database of its own (SWITCHBOARD_BENCH_PG, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres; created and dropped), the integration
tests' world (tests/integration/events_world.py: a tenant deployed to the sandbox and
`switchboard listen` with its command executor, reaching the PBX and the database directly), and
`switchboard serve` (gunicorn, one worker) on a free loopback port. 1001 registers as a sipp phone
that turns every call down at once (486), so each originate ends as soon as it rang.

Then it times, one originate at a time (each waits for its INVITE), in alternating blocks so both
see the same machine:
  - switchboard: POST /api/v1/calls over HTTP (token, validation, the command row and audit
    entry, the commit, the hand-over on the node's Redis stream) -> the listener's executor
    (claim, Originate over its AMI connection / bgapi originate over its ESL connection) -> the
    INVITE at the phone;
  - direct: the same Originate action (bgapi originate) sent straight over an AMI (ESL)
    connection of this process.
It prints p50/p99 of each, their ratio, what Switchboard adds (target: <= 50 ms at p99), and the
CPU time per originate of the server and of the listener (process CPU times: the machine is
shared, wall time alone says little; each block's counted until its calls' events are recorded),
with the load average. Originates are spread over several
admins' tokens so the per-person rate limit (10 calls and texts a minute) is never reached: it is
what the bench measures around, not what it measures.

--profile DIR samples the server's and the listener's stacks (bench/sampling: a few ms apart, all
threads) into DIR; `bench/sampling/summary.py DIR` says where their time goes. Sampling slows
both: time with it off.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.direct_esl import DirectEsl  # noqa: E402
from bench.events_freeswitch import tree_cpu  # noqa: E402
from bench.scratch import scratch_database  # noqa: E402

WARM_UP = 5
BLOCK = 10
#: originates one admin's token may carry: the rate limit is 10 a minute per person
PER_TOKEN = 9


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the baseline: the same action straight over the PBX's control connection --------------------


class DirectAmi:
    """An AMI connection of this process sending the executor's Originate action as it is."""

    def __init__(self, sandbox: Any) -> None:
        from worker.ami_client import AmiClient

        self.client = AmiClient(sandbox.ami_host, sandbox.ami_port, sandbox.ami_user, sandbox.ami_secret)
        self.client.connect()

    def originate(self) -> None:
        from esl_handlers import asterisk_commands as ami

        action = ami.originate(
            {"endpoint": "1001", "target": "1003", "caller_id": "", "channel_id": uuid.uuid4().hex}
        )
        name = action.pop("Action")
        action["Variable"] = ",".join(action["Variable"])
        answer = self.client.action(name, **action)
        if not answer.ok:
            raise RuntimeError(f"Originate refused: {answer.message}")

    def close(self) -> None:
        self.client.close()


class DirectOriginate(DirectEsl):
    """Sends the executor's `bgapi originate` as it is."""

    def __init__(self, sandbox: Any, domain: str) -> None:
        super().__init__(sandbox, timeout=10)
        self.domain = domain

    def originate(self) -> None:
        from esl_handlers import freeswitch_commands as fs

        command = fs.originate(
            {
                "endpoint": "1001",
                "target": "1003",
                "domain": self.domain,
                "caller_id": "",
                "channel_id": uuid.uuid4().hex,
            }
        )
        self.send(command.wire, "bgapi originate")


# --- Switchboard: its own server ---------------------------------------------------------------


class Server:
    """`switchboard serve` (gunicorn, one worker) on a free loopback port, and one keep-alive
    HTTP connection to it."""

    def __init__(self, log_path: Path) -> None:
        self.port = _free_port()
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--no-worker",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )
        self.connection = self._connect()
        self.used = time.monotonic()

    def ready(self) -> None:
        """A connection gunicorn has not closed yet (it keeps an idle one 2 s): reconnect after
        a pause, before the clock starts."""
        if time.monotonic() - self.used > 1.0:
            self.connection.close()
            self.connection = self._connect()

    def _connect(self, timeout: float = 60.0) -> http.client.HTTPConnection:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"switchboard serve exited ({self.process.returncode}): see {self.log.name}"
                )
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                connection.request("GET", "/api/v1/openapi.json")
                connection.getresponse().read()
                return connection
            except OSError:
                connection.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def post(self, path: str, body: dict, token: str) -> tuple[int, Any]:
        self.connection.request(
            "POST",
            path,
            body=orjson.dumps(body),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        answer = self.connection.getresponse()
        self.used = time.monotonic()
        return answer.status, orjson.loads(answer.read() or b"null")

    def stop(self) -> None:
        self.connection.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.log.close()


# --- the run -----------------------------------------------------------------------------------


def _sandbox(kind: str) -> Any:
    if kind == "freeswitch":
        from tests.integration.freeswitch_sandbox import FreeswitchSandbox

        sandbox: Any = FreeswitchSandbox()
    else:
        from tests.integration.asterisk_sandbox import AsteriskSandbox

        sandbox = AsteriskSandbox()
    sandbox.ensure()
    sandbox.start()
    return sandbox


def _admin_tokens(tenant_id: int, count: int) -> list[str]:
    from control import db
    from control.services import accounts, users

    tokens = []
    with db.unit_of_work() as s:
        for n in range(count):
            admin = users.create_user(
                s,
                tenant_id,
                {"name": f"Bench Admin {n}", "email": f"bench{n}@events.example", "role": "admin"},
                None,
            )
            tokens.append(accounts.create_token(s, admin, "bench"))
    return tokens


def _settle(pids: list[int], timeout: float = 5.0) -> None:
    """Until the processes are quiet (under 5 % of a CPU over 100 ms): a block's calls end and
    their events are recorded within the block's CPU, never in the next block's."""
    deadline = time.monotonic() + timeout
    last = sum(tree_cpu(pid) for pid in pids)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = sum(tree_cpu(pid) for pid in pids)
        if now - last < 0.005:
            return
        last = now


def _measure(
    originates: int,
    one: Callable[[], float],
    other: Callable[[], float],
    cpu: dict[str, float],
    pids: dict[str, int],
) -> None:
    """Alternating blocks of BLOCK, so both paths see the same moments of a busy machine. Each
    block's CPU is counted from its start until its processes are quiet again (its calls' events
    recorded): `cpu` gets the server's and the listener's for `one` (switchboard), and the
    listener's for `other` (direct)."""
    done = 0
    watched = list(pids.values())
    while done < originates:
        size = min(BLOCK, originates - done)
        before = {name: tree_cpu(pid) for name, pid in pids.items()}
        for _ in range(size):
            one()
        _settle(watched)
        cpu["server"] += tree_cpu(pids["server"]) - before["server"]
        cpu["listener"] += tree_cpu(pids["listener"]) - before["listener"]
        before_direct = tree_cpu(pids["listener"])
        for _ in range(size):
            other()
        _settle(watched)
        cpu["listener_direct"] += tree_cpu(pids["listener"]) - before_direct
        done += size


def _sample_into(directory: Path) -> None:
    """The server and the listener started from here sample themselves (bench/sampling)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["SWITCHBOARD_BENCH_PROFILE"] = str(directory.resolve())
    paths = [str(ROOT / "bench" / "sampling"), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def run(kind: str, originates: int, profile: Path | None = None) -> dict[str, Any]:
    from sqlalchemy import select

    from control import db
    from control.models import Command
    from tests.integration.events_world import DOMAIN, events_world
    from tests.integration.pbx_kinds import Pbx

    with scratch_database("commands") as (url, scratch):
        server: Server | None = None
        direct: DirectAmi | DirectOriginate | None = None
        try:
            sandbox = _sandbox(kind)
            if profile is not None:
                _sample_into(profile)
            workdir = scratch / "world"
            with events_world(url, Pbx(kind, sandbox), workdir, proxied=False) as world:
                world.sipp.lifetime = 3600  # a run on a busy machine outlasts sipp's default 300 s
                phone = world.sipp.phone("1001", world.secrets["1001"], reject_code=486, answer_after=0)
                tokens = _admin_tokens(world.tenant_id, math.ceil((originates + WARM_UP) / PER_TOKEN) + 1)
                server = Server(workdir / "serve.log")
                direct = DirectOriginate(sandbox, DOMAIN) if kind == "freeswitch" else DirectAmi(sandbox)
                assert world.listener.process is not None
                listener_pid = world.listener.process.pid
                body = {"user_id": world.user_id("1001"), "target": "1003"}
                used = 0
                ours: list[float] = []
                requests: list[float] = []
                baseline: list[float] = []
                cpu = {"server": 0.0, "listener": 0.0, "listener_direct": 0.0}

                def wait_invite(count: int) -> float:
                    return phone.wait_for_invites(count, 15.0)[count - 1]

                def switchboard(record: bool = True) -> float:
                    nonlocal used
                    count = len(phone.invites()) + 1
                    token = tokens[used // PER_TOKEN]
                    used += 1
                    server.ready()  # type: ignore[union-attr]
                    started = time.time()
                    status, answer = server.post("/api/v1/calls", body, token)  # type: ignore[union-attr]
                    answered = time.time()
                    if status != 202:
                        raise RuntimeError(f"POST /api/v1/calls answered {status}: {answer}")
                    latency = wait_invite(count) - started
                    if record:
                        requests.append(answered - started)
                        ours.append(latency)
                    return latency

                def straight(record: bool = True) -> float:
                    count = len(phone.invites()) + 1
                    started = time.time()
                    direct.originate()  # type: ignore[union-attr]
                    latency = wait_invite(count) - started
                    if record:
                        baseline.append(latency)
                    return latency

                for _ in range(WARM_UP):  # first requests, connections, prepared statements
                    switchboard(record=False)
                    straight(record=False)

                pids = {"server": server.process.pid, "listener": listener_pid}
                _settle(list(pids.values()))  # the warm-up's calls recorded
                load_before = os.getloadavg()[0]
                _measure(originates, switchboard, straight, cpu, pids)
                load_after = os.getloadavg()[0]
                with db.unit_of_work() as s:
                    rows = s.scalars(
                        select(Command)
                        .where(Command.kind == "originate")
                        .order_by(Command.id.desc())
                        .limit(originates)
                    ).all()
                    states = {c.state for c in rows}
                    handover = [(c.sent_at - c.created_at).total_seconds() for c in rows if c.sent_at]
        finally:
            if direct is not None:
                direct.close()
            if server is not None:
                server.stop()
    return {
        "pbx": kind,
        "originates": originates,
        "ours": ours,
        "direct": baseline,
        "requests": requests,
        "handover": handover,
        "states": sorted(states),
        "cpu_server": cpu["server"] / originates,
        "cpu_listener": cpu["listener"] / originates,
        "cpu_listener_direct": cpu["listener_direct"] / originates,
        "load": (load_before + load_after) / 2,
    }


def report(result: dict[str, Any]) -> None:
    ms = 1000.0

    def line(label: str, values: list[float]) -> str:
        return (
            f"  {label:<38} p50 {statistics.median(values) * ms:7.1f} ms   "
            f"p99 {_percentile(values, 0.99) * ms:7.1f} ms"
        )

    ours, direct = result["ours"], result["direct"]
    pbx = "Asterisk" if result["pbx"] == "asterisk" else "FreeSWITCH"
    baseline = "AMI Originate" if result["pbx"] == "asterisk" else "ESL bgapi originate"
    print(
        f"{result['originates']} originates each, request -> first INVITE at the phone, sandbox {pbx}; "
        f"load average {result['load']:.1f} on {os.cpu_count()} CPUs (shared: figures are noisy)"
    )
    print(line("switchboard (HTTP, stream, executor)", ours))
    print(line(f"direct {baseline}", direct))
    print(line("of which: the API request", result["requests"]))
    print(line("of which: command row -> claimed", result["handover"]))
    p50, p99 = statistics.median(ours), _percentile(ours, 0.99)
    d50, d99 = statistics.median(direct), _percentile(direct, 0.99)
    print(
        f"  switchboard adds                       p50 {(p50 - d50) * ms:7.1f} ms   "
        f"p99 {(p99 - d99) * ms:7.1f} ms (target <= 50 ms)   ratio to direct: "
        f"p50 {p50 / d50:.2f}x, p99 {p99 / d99:.2f}x"
    )
    rate = 1.0 / statistics.mean(ours)
    print(
        f"  CPU per originate: server {result['cpu_server'] * ms:.2f} ms, listener "
        f"{result['cpu_listener'] * ms:.2f} ms (with a direct originate's events alone: "
        f"{result['cpu_listener_direct'] * ms:.2f} ms); one at a time: {rate:.1f} originates/s; "
        f"command states: {', '.join(result['states'])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbx", choices=("asterisk", "freeswitch"), default="asterisk")
    parser.add_argument("--originates", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--profile", type=Path, help="sample the server's and listener's stacks into this directory"
    )
    args = parser.parse_args()
    result = run(args.pbx, args.originates, args.profile)
    report(result)
    if args.json:
        args.json.write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
