"""`switchboard serve` with no REDIS_URL: gunicorn, one rq worker and the embedded Redis, all
started and stopped together (what the README's run command does); and two of them on one host."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.web.serving import CLI, serving

GUNICORNC = [sys.executable, "-m", "gunicorn.ctl.cli"]


def _own_env(data_dir: Path) -> dict[str, str]:
    """An instance with everything of its own: data dir, SQLite database, embedded Redis."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {"SWITCHBOARD_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    subprocess.run([*CLI, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    return env


def test_serve_stops_its_worker_and_embedded_redis_cleanly(tmp_path: Path) -> None:
    env = _own_env(tmp_path)
    with serving(env, tmp_path / "serve.log") as served:
        assert served.stop() == 0
    output = served.log()
    socket_path = re.search(r"embedded Redis at unix://(\S+)", output)
    assert socket_path, output
    # The gunicorn workers leave first; neither they nor anything else stops Redis under the worker.
    assert "could not connect to Redis" not in output, output
    assert "warm shut down requested" in output
    assert "did not stop within" not in output, "the rq worker's warm shutdown hung"
    leftovers = subprocess.run(
        ["pgrep", "-f", socket_path.group(1)], capture_output=True, text=True
    ).stdout.split()
    assert leftovers == [], "the embedded Redis outlived serve"


def _control(socket_path: Path, command: str) -> dict:
    done = subprocess.run(
        [*GUNICORNC, "-s", str(socket_path), "-c", command, "-j"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _answers(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/login", timeout=10) as response:
        return response.status == 200


def _wait_for_workers(socket_path: Path, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(_control(socket_path, "show workers")["workers"]) != count:
        assert time.monotonic() < deadline, f"never {count} workers"
        time.sleep(0.2)


@pytest.mark.slow
def test_two_instances_on_one_host_keep_their_own_control_sockets(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_env, second_env = _own_env(first_dir), _own_env(second_dir)
    first_socket, second_socket = first_dir / "gunicorn.ctl", second_dir / "gunicorn.ctl"
    one_worker = ["--workers", "1"]
    with serving(first_env, tmp_path / "first.log", extra=one_worker) as first:
        _wait_for_workers(first_socket, 1)
        with serving(second_env, tmp_path / "second.log", extra=one_worker) as second:
            _wait_for_workers(second_socket, 1)
            assert _answers(second.url) and _answers(first.url)
            assert _control(second_socket, "show workers") != _control(first_socket, "show workers")
            assert second.stop() == 0
        # The second is gone; the first still serves, and still answers on its own control socket.
        assert not second_socket.exists()
        assert first_socket.exists(), "stopping one instance removed the other's control socket"
        assert _answers(first.url)
        assert _control(first_socket, "worker add 1")["total"] == 2
        _wait_for_workers(first_socket, 2)
        assert _answers(first.url)
        _control(first_socket, "shutdown")
        assert first.process.wait(timeout=60) == 0
    for served in (first, second):
        assert "warm shut down requested" in served.log()
        assert "did not stop within" not in served.log()


def test_a_data_dir_too_long_for_a_socket_turns_the_control_socket_off_not_shared() -> None:
    from web.server import _control_socket_options, control_socket

    short = Path("/srv/switchboard/data")
    assert _control_socket_options(control_socket(short)) == {
        "control_socket": "/srv/switchboard/data/gunicorn.ctl"
    }
    deep = Path("/srv/" + "d" * 100)
    assert control_socket(deep) is None
    assert _control_socket_options(control_socket(deep)) == {"control_socket_disable": True}
