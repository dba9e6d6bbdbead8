"""The SSH transport against a real OpenSSH server on loopback (Debian: openssh-server).

sshd runs from a throw-away configuration with its own host key; the client trusts exactly that
key through a known_hosts file, so host-key checking is exercised for real (a different key is
refused, never accepted).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from control import config
from tests.worker.conftest import freeswitch_node
from worker.pbx_errors import PbxError, PbxUnreachable
from worker.ssh_store import SshOptions, SshStore

pytestmark = pytest.mark.integration

SSHD = Path("/usr/sbin/sshd")


@dataclass
class SshServer:
    port: int
    options: SshOptions
    root: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _client_files(root: Path, port: int, host_key: str, client_key: Path) -> SshOptions:
    config_file = root / "client_config"
    config_file.write_text(
        f"Host 127.0.0.1\n  Port {port}\n  User {os.environ.get('USER', 'root')}\n"
        f"  IdentityFile {client_key}\n  IdentitiesOnly yes\n"
    )
    known = root / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {' '.join(host_key.split()[:2])}\n")
    return SshOptions(config_file, known, connect_timeout=5)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists():
        raise RuntimeError("sshd is missing: apt-get install openssh-server (tests/run_suite.sh does)")
    root = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(root / "host_key")
    client_pub = _keygen(root / "client_key")
    (root / "authorized_keys").write_text(client_pub + "\n")
    os.chmod(root / "authorized_keys", 0o600)
    port = _free_port()
    (root / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{port}\nHostKey {root / 'host_key'}\nPidFile {root / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(root / "sshd_config")], stderr=open(root / "sshd.log", "wb")
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError(f"sshd did not listen: {(root / 'sshd.log').read_text()}")
    try:
        yield SshServer(port, _client_files(root, port, host_key, root / "client_key"), root)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def remote(tmp_path: Path) -> Path:
    conf = tmp_path / "remote-asterisk"
    (conf / "switchboard" / "versions" / "0").mkdir(parents=True)
    (conf / "switchboard" / "versions" / "0" / "pjsip.conf").write_text("; empty\n")
    (conf / "switchboard" / "live").symlink_to("versions/0")
    return conf


def test_versions_are_written_whole_switched_atomically_and_share_unchanged_files(
    sshd: SshServer, remote: Path
):
    store = SshStore("127.0.0.1", str(remote), sshd.options)
    assert store.versions() == [0] and store.live_version() == 0
    store.write_version(1, {"pjsip.conf": b"[a]\n", "pjsip.d/1001.conf": b"[1001]\n"})
    assert store.live_version() == 0
    store.activate(1)
    assert os.readlink(remote / "switchboard" / "live") == "versions/1"
    assert store.read_version(1) == {"pjsip.conf": b"[a]\n", "pjsip.d/1001.conf": b"[1001]\n"}
    store.write_version(2, {"pjsip.conf": b"[b]\n", "pjsip.d/1001.conf": b"[1001]\n"})
    v1, v2 = remote / "switchboard" / "versions" / "1", remote / "switchboard" / "versions" / "2"
    assert (v2 / "pjsip.d" / "1001.conf").stat().st_ino == (v1 / "pjsip.d" / "1001.conf").stat().st_ino
    assert (v2 / "pjsip.conf").read_bytes() == b"[b]\n"
    assert stat.S_IMODE((v2 / "pjsip.conf").stat().st_mode) == 0o640
    assert stat.S_IMODE(v2.stat().st_mode) == 0o750
    assert not list((remote / "switchboard" / "versions").glob(".*"))
    store.activate(2)
    with pytest.raises(Exception, match="is live"):
        store.remove_version(2)
    store.remove_version(1)
    assert store.versions() == [0, 2]


def test_an_unknown_host_key_is_refused_not_accepted(sshd: SshServer, remote: Path, tmp_path: Path):
    other = tmp_path / "other_host_key"
    key = _keygen(other)
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(key.split()[:2])}\n")
    options = SshOptions(sshd.options.config_file, known, connect_timeout=5)
    with pytest.raises(PbxError, match="host key not trusted") as caught:
        SshStore("127.0.0.1", str(remote), options).versions()
    assert not isinstance(caught.value, PbxUnreachable), "a wrong key is never retried"
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(PbxError, match="host key not trusted"):
        SshStore("127.0.0.1", str(remote), SshOptions(sshd.options.config_file, empty, 5)).versions()
    assert empty.read_text() == "", "the unknown key was not added"


def test_a_host_without_sshd_is_unreachable(sshd: SshServer, remote: Path, tmp_path: Path):
    port = _free_port()
    config_file = tmp_path / "config"
    config_file.write_text(sshd.options.config_file.read_text().replace(f"Port {sshd.port}", f"Port {port}"))
    store = SshStore("127.0.0.1", str(remote), SshOptions(config_file, sshd.options.known_hosts, 5))
    with pytest.raises(PbxUnreachable, match="Connection refused"):
        store.versions()


def test_a_whole_deploy_over_ssh(sshd: SshServer, demo, tmp_path: Path):  # type: ignore[no-untyped-def]
    ssh_dir = config.settings().data_dir / "ssh"
    ssh_dir.mkdir(exist_ok=True)
    shutil.copy(sshd.options.config_file, ssh_dir / "config")
    shutil.copy(sshd.options.known_hosts, ssh_dir / "known_hosts")
    try:
        with freeswitch_node(demo["tenant_id"], tmp_path / "freeswitch", transport="ssh") as fs:
            done = fs.deploy()
            assert done.result == "success", done.error
            assert fs.live() == "versions/1"
            assert (
                b'<user id="1001">'
                in (fs.conf_dir / "switchboard" / "versions" / "1" / "directory.xml").read_bytes()
            )
            assert "reloadxml" in fs.sim.commands and fs.sim.users
    finally:
        shutil.rmtree(ssh_dir)
