"""`switchboard serve` with no REDIS_URL: gunicorn, one rq worker and the embedded Redis, all
started and stopped together (what the README's run command does)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_login(port: int, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "serve exited while starting"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the login page never answered")


def test_serve_stops_its_worker_and_embedded_redis_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {"SWITCHBOARD_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "web.cli"]
    subprocess.run([*cli, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_login(port, server)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=40) == 0
        finally:
            if server.poll() is None:
                server.kill()
    output = log_path.read_text()
    socket_path = re.search(r"embedded Redis at unix://(\S+)", output)
    assert socket_path, output
    # The gunicorn workers leave first; neither they nor anything else stops Redis under the worker.
    assert "could not connect to Redis" not in output, output
    assert "warm shut down requested" in output
    leftovers = subprocess.run(
        ["pgrep", "-f", socket_path.group(1)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [], "the embedded Redis outlived serve"
