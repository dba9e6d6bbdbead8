"""`make run` as root: `switchboard serve --demo-pbx` makes the sandbox Asterisk the demo tenant's
node, deploys it through the ordinary deploy job and listens to it, so the demo users' phones
register and their calls come back as history. Without root it says how to turn it on, in one line,
and serves as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from control.demo import DEMO_ADMIN
from tests.conftest import ROOT
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.sipp import SippSession
from tests.web.serving import Served, serving
from web import demo_pbx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = [sys.executable, "-m", "web.cli"]


def _env(data_dir: Path) -> dict[str, str]:
    """A newcomer's environment: no REDIS_URL (serve starts the embedded Redis), a fresh data dir."""
    keep = ("PATH", "HOME", "LANG") + tuple(k for k in os.environ if k.startswith("SWITCHBOARD_SANDBOX_"))
    env = {k: os.environ[k] for k in keep if k in os.environ}
    return env | {"SWITCHBOARD_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait(what: str, probe: Callable[[], Any], served: Served, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert served.process.poll() is None, f"serve exited:\n{served.log()}"
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:.0f} s; serve said:\n{served.log()}")


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token

    def __call__(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/api/v1{path}", method=method, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def test_serve_with_the_demo_pbx_deploys_listens_and_phones_call(
    asterisk_sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    sandbox = asterisk_sandbox
    assert demo_pbx.is_root(), "the suite runs as root (it builds the sandboxes)"
    env = _env(tmp_path / "data")
    _cli(env, "db", "upgrade")
    _cli(env, "seed-demo")
    with sandbox.exclusive():
        sandbox.reset()
        try:
            with serving(env, tmp_path / "serve.log", extra=["--demo-pbx", "--workers", "1"]) as served:
                assert f"demo PBX: node {demo_pbx.NODE_NAME}" in served.log()
                _wait("the demo deploy live", lambda: sandbox.live_version() >= 1, served)
                assert "1001" in sandbox.cli("pjsip show endpoints")
                api = Api(served.url, _cli(env, "create-token", DEMO_ADMIN).strip())
                people = {u["extension"]: u for u in api("GET", "/users?per_page=100")["items"]}
                secrets = {
                    ext: api("POST", f"/users/{people[ext]['id']}/sip-secret")["sip_secret"]
                    for ext in ("1001", "1002")
                }
                with SippSession(
                    tmp_path / "sipp", sip_host=sandbox.sip_host, sip_port=sandbox.sip_port
                ) as sipp:
                    sipp.phone("1001", secrets["1001"])
                    bob = sipp.phone("1002", secrets["1002"], answer_after=0.3)
                    result = sipp.call("1002", caller="1001", password=secrets["1001"], hold=0.5)
                    assert result.outcome == "answered", result
                    assert len(bob.invites()) == 1

                    # The listener serve started turned the call's events into history.
                    def recorded() -> list[dict]:
                        return [
                            c
                            for c in api("GET", "/calls?per_page=10")["items"]
                            if c["caller_number"] == "1001" and c["callee_number"] == "1002"
                        ]

                    (call,) = _wait("the call in history", recorded, served, timeout=30)
                    assert call["answered_by_user_id"] == people["1002"]["id"]
        finally:
            sandbox.reset()


def test_without_root_serve_says_in_one_line_how_to_turn_the_demo_pbx_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from web import cli

    monkeypatch.setattr(demo_pbx, "is_root", lambda: False)
    monkeypatch.setattr(demo_pbx, "start_demo_pbx", lambda: pytest.fail("no sandbox without root"))
    cli._start_demo_pbx()
    assert capsys.readouterr().out == demo_pbx.NOT_ROOT + "\n"
