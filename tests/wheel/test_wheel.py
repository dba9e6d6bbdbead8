"""The package as operators install it: the wheel, built and installed into a fresh virtualenv
outside the checkout (no editable install, no checkout on sys.path, no system site-packages),
renders for both PBX kinds, serves, and deploys to the real Asterisk sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT
from tests.web.serving import serving
from tests.worker.rq_support import TEST_REDIS_URL

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# What a build needs from the checkout: everything tracked or generated, not the checkout's own
# virtualenv, build leftovers or data.
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "data", ".*_cache", "node_modules"
)


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel (and its dependencies) installed; returns its bin/."""
    work = tmp_path_factory.mktemp("wheel")
    source, wheels, venv = work / "source", work / "wheels", work / "venv"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        cwd=work,
        env=base,
    )
    (wheel,) = wheels.glob("switchboard-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)], cwd=work, env=base)
    _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], cwd=work, env=base, timeout=900)
    shutil.rmtree(source)  # nothing may come from a checkout from here on
    return venv / "bin"


def _env(bin_dir: Path, data_dir: Path) -> dict[str, str]:
    return {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "SWITCHBOARD_DATA_DIR": str(data_dir),
        "REDIS_URL": TEST_REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }


def test_the_installed_wheel_renders_serves_and_deploys(installed: Path, tmp_path: Path, asterisk_sandbox):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(installed, tmp_path / "data")
    switchboard = str(installed / "switchboard")

    where = _run(
        [str(installed / "python"), "-c", "import control, web; print(control.__file__, web.__file__)"],
        cwd=elsewhere,
        env=env,
    )
    assert str(ROOT) not in where and "site-packages" in where, where
    # the portal's French catalog came with it, compiled
    french = _run(
        [
            str(installed / "python"),
            "-c",
            "from web.app import create_app; from flask_babel import gettext\n"
            "with create_app().test_request_context(headers={'Accept-Language': 'fr'}):\n"
            "    print(gettext('Phonebook'))",
        ],
        cwd=elsewhere,
        env=env,
    )
    assert french.strip() == "Répertoire", french
    _run([switchboard, "db", "upgrade"], cwd=elsewhere, env=env)
    _run([switchboard, "seed-demo"], cwd=elsewhere, env=env)
    for kind, expected in (("freeswitch", "directory"), ("asterisk", "pjsip.conf")):
        out = tmp_path / f"render-{kind}"
        printed = _run([switchboard, "render", "--pbx", kind, "--out", str(out)], cwd=elsewhere, env=env)
        assert "files written" in printed
        assert any(expected in str(path) for path in out.rglob("*")), sorted(out.rglob("*"))

    sandbox = asterisk_sandbox
    client = redis.Redis.from_url(TEST_REDIS_URL)
    with sandbox.exclusive():
        sandbox.reset()
        client.flushdb()
        try:
            with serving(
                env,
                tmp_path / "serve.log",
                command=[switchboard],
                cwd=elsewhere,
                extra=["--with-worker", "--workers", "1"],
            ) as served:
                with urllib.request.urlopen(f"{served.url}/login", timeout=30) as page:
                    assert page.status == 200 and b"csrf_token" in page.read()
                with urllib.request.urlopen(f"{served.url}/static/vendor/htmx.min.js", timeout=30) as script:
                    assert script.status == 200
                _run(
                    [
                        switchboard, "node", "add", "sandbox", "--kind", "asterisk",
                        "--host", sandbox.ami_host, "--ami-port", str(sandbox.ami_port),
                        "--user", sandbox.ami_user, "--secret", sandbox.ami_secret,
                        "--config-dir", str(sandbox.config_dir),
                    ],
                    cwd=elsewhere,
                    env=env,
                )  # fmt: skip
                deployed = _run(
                    [switchboard, "deploy", "sandbox", "--wait", "--timeout", "180"],
                    cwd=elsewhere,
                    env=env,
                    timeout=240,
                )
                assert "success, version 1 is live" in deployed, deployed
                assert sandbox.live_version() == 1
                assert "1001" in (sandbox.version_dir(1) / "pjsip.conf").read_text()  # a demo extension
        finally:
            sandbox.reset()
            client.flushdb()
