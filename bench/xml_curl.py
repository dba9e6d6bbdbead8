"""Benchmark: the mod_xml_curl endpoint under the production web server, against a constant
Flask response on the same server, in the same run.

    .venv/bin/python bench/xml_curl.py [--users 1000] [--runs 7] [--duration 3] [--connections 16]
                                       [--database-url URL] [--redis-url URL]

Seeds a tenant with SIP domain 192.0.2.2 and --users users (extensions 1000...; SQLite in a
temporary directory unless --database-url is given), then starts `web.server.run_server` —
gunicorn, gthread workers, exactly as `switchboard serve` — on a free loopback port, serving
create_app() plus one route that exists only in this benchmark: POST /bench/constant, a constant
text/xml response (the floor of the framework). wrk (Debian package `wrk`) POSTs, with the basic
auth header mod_xml_curl sends:

  - sip_auth:  tests/fixtures/freeswitch-wire/xmlcurl-directory-register.txt (user 1000)
  - dialplan:  xmlcurl-dialplan-call.txt with destination 1001 (answers the default context)
  - and each of those bodies (1.1 kB and 6.2 kB) to /bench/constant, its baseline

Rounds interleave the four; the medians of --runs rounds are printed with the ratio of each
fetch to the constant endpoint fed the same body, and the server's CPU time per request (gunicorn master and
workers, from /proc: on a shared machine the steadier figure). Targets: >= 5,000 req/s, >= 0.7x
the constant endpoint, p99 <= 10 ms. Redis (REDIS_URL, default redis://127.0.0.1:6379/15) holds the model generation the
endpoint reads on every fetch; the benchmark does not flush it.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CAPTURES = ROOT / "tests" / "fixtures" / "freeswitch-wire"
DOMAIN = "192.0.2.2"
USER, PASSWORD = "freeswitch", "bench-xml-curl-password"
CONSTANT_PATH = "/bench/constant"
ENDPOINT_PATH = "/freeswitch/xml-curl"


def bench_app(create_app):  # type: ignore[no-untyped-def]
    """create_app() and the constant route; only this benchmark serves it."""
    from flask import Blueprint, Response

    from control.services.xml_curl import NOT_FOUND
    from web.app import csrf
    from web.auth import self_authenticating

    app = create_app()
    constant = Blueprint(self_authenticating("bench_constant"), __name__)

    @constant.post(CONSTANT_PATH)
    def reply() -> Response:
        return Response(NOT_FOUND, status=200, mimetype="text/xml")

    csrf.exempt(constant)
    app.register_blueprint(constant)
    return app


def serve(port: int) -> None:
    """The production server (web/server.py) loading bench_app instead of create_app."""
    import web.app
    from web.server import run_server

    create_app = web.app.create_app
    web.app.create_app = lambda: bench_app(create_app)  # _Server.load imports it at load time
    run_server("127.0.0.1", port)


def seed(users: int) -> None:
    from sqlalchemy import insert

    from control import crypto
    from control.db import unit_of_work
    from control.migrate import upgrade
    from control.models import User
    from control.services import tenants

    upgrade()
    with unit_of_work() as session:
        tenant = tenants.create_tenant(session, {"name": "bench", "domain": DOMAIN})
        session.execute(
            insert(User),
            [
                {
                    "tenant_id": tenant.id,
                    "name": f"User {i} O'Neil & Co",
                    "email": f"u{i}@bench.example.com",
                    "extension": str(1000 + i),
                    "sip_secret_enc": crypto.encrypt(f"secret-{i:05d}-abcdef"),
                    "role": "agent",
                    "language": "en",
                }
                for i in range(users)
            ],
        )


def captured_body(name: str, **changes: str) -> bytes:
    raw = (CAPTURES / name).read_bytes()
    body = raw.partition(b"\r\n\r\n")[2]
    for key, value in changes.items():
        body = re.sub(
            rb"(^|&)" + re.escape(key.encode()) + rb"=[^&]*",
            rb"\g<1>" + key.encode() + b"=" + value.encode(),
            body,
        )
    return body


def headers() -> dict[str, str]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return {
        "User-Agent": "freeswitch-xml/1.0",
        "Accept": "*/*",
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": f"Basic {token}",
    }


def lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" if not (32 <= b < 127) or b in b'"\\' else chr(b) for b in data) + '"'


def wrk_script(path: Path, body: bytes) -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(body)}"]
    lines += [
        f"wrk.headers[{lua_string(k.encode())}] = {lua_string(v.encode())}" for k, v in headers().items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers())
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if post(port, CONSTANT_PATH, b"")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not answer")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def server_cpu(pid: int) -> float:
    """CPU seconds used so far by the server process and its workers (Linux /proc)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending += [int(child) for child in children]
    return total


def run_wrk(
    port: int, path: str, script: Path, args: argparse.Namespace, pid: int
) -> tuple[float, float, float]:
    """(requests/s, p99 latency in ms, server CPU µs per request) of one wrk run; any non-2xx
    answer is an error. On a shared machine the CPU per request is the steadier figure."""
    cpu = server_cpu(pid)
    out = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors on {path}:\n{out}")
    cpu = server_cpu(pid) - cpu
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([0-9.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    count = int(re.search(r"([0-9]+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, float(value) * _UNITS[unit], cpu / count * 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2

    scratch = tempfile.TemporaryDirectory(prefix="switchboard-bench-")
    os.environ.update(
        {
            "SWITCHBOARD_DATA_DIR": scratch.name,
            "SWITCHBOARD_SECRET_KEY": os.environ.get(
                "SWITCHBOARD_SECRET_KEY", "bench-secret-key-" + "x" * 32
            ),
            "DATABASE_URL": args.database_url or f"sqlite:///{scratch.name}/bench.db",
            "REDIS_URL": args.redis_url,
            "SWITCHBOARD_XML_CURL_USER": USER,
            "SWITCHBOARD_XML_CURL_PASSWORD": PASSWORD,
            "SWITCHBOARD_XML_CURL_ALLOW": "127.0.0.1",
        }
    )
    seed(args.users)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, server)
        register = captured_body("xmlcurl-directory-register.txt")
        dialplan = captured_body(
            "xmlcurl-dialplan-call.txt",
            **{"Hunt-Destination-Number": "1001", "Caller-Destination-Number": "1001"},
        )
        cases = {
            "constant (sip_auth body)": (CONSTANT_PATH, register, b'status="not found"'),
            "sip_auth": (ENDPOINT_PATH, register, b'<param name="password" value="secret-00000-abcdef"/>'),
            "constant (dialplan body)": (CONSTANT_PATH, dialplan, b'status="not found"'),
            "dialplan": (ENDPOINT_PATH, dialplan, b'<extension name="switchboard-user-1001">'),
        }
        scripts = {}
        for name, (path, body, expected) in cases.items():
            for _ in range(4):  # each gunicorn worker builds its answers on its first fetches
                status, answer = post(port, path, body)
                if status != 200 or expected not in answer:
                    raise RuntimeError(f"{name}: unexpected answer {status} {answer[:300]!r}")
            scripts[name] = wrk_script(Path(scratch.name) / f"case{len(scripts)}.lua", body)
        print(
            f"{args.users} users; gunicorn gthread 2 workers x 16 threads; wrk -t{args.threads} "
            f"-c{args.connections} -d{args.duration}s, {args.runs} rounds"
        )
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, (path, _body, _expected) in cases.items():
                results[name].append(run_wrk(port, path, scripts[name], args, server.pid))
    finally:
        server.terminate()
        server.wait(30)
        scratch.cleanup()

    ok = True
    for name, samples in results.items():
        rps = statistics.median(r[0] for r in samples)
        p99 = statistics.median(r[1] for r in samples)
        cpu = statistics.median(r[2] for r in samples)
        line = (
            f"{name:24} {rps:6.0f} req/s (median; runs {', '.join(f'{r[0]:.0f}' for r in samples)})"
            f"  p99 {p99:6.2f} ms  server CPU {cpu:4.0f} us/request"
        )
        if not name.startswith("constant"):
            base = results[f"constant ({name} body)"]
            ratio = rps / statistics.median(r[0] for r in base)
            cpu_ratio = statistics.median(r[2] for r in base) / cpu
            met = rps >= 5000 and ratio >= 0.7 and p99 <= 10
            ok = ok and met
            line += (
                f"\n{'':24} {ratio:.2f}x the constant endpoint's req/s, {cpu_ratio:.2f}x its CPU per request"
                f"  [{'meets' if met else 'MISSES'} >= 5000 req/s, >= 0.7x, p99 <= 10 ms]"
            )
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
