"""The sandbox Asterisk, install.sh and the sipp harness, proven against each other."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.asterisk_sandbox import REPO, AsteriskSandbox
from tests.integration.sipp import SippSession

pytestmark = pytest.mark.integration

INSTALL = REPO / "deploy" / "asterisk" / "install.sh"

PHONES_PJSIP = """\
[1001]
type = endpoint
context = sandbox-phones
disallow = all
allow = ulaw,alaw
direct_media = no
auth = 1001
aors = 1001

[1001]
type = auth
auth_type = userpass
username = 1001
password = phone-1001-pw

[1001]
type = aor
max_contacts = 1
remove_existing = yes

[1002]
type = endpoint
context = sandbox-phones
disallow = all
allow = ulaw,alaw
direct_media = no
auth = 1002
aors = 1002

[1002]
type = auth
auth_type = userpass
username = 1002
password = phone-1002-pw

[1002]
type = aor
max_contacts = 1
remove_existing = yes

[sandbox-trunk]
type = endpoint
context = sandbox-trunk-in
disallow = all
allow = ulaw,alaw
direct_media = no

[sandbox-trunk]
type = identify
endpoint = sandbox-trunk
match = 127.0.0.1
"""

PHONES_EXTENSIONS = """\
[sandbox-phones]
exten => 1002,hint,PJSIP/1002
exten => 1002,1,Dial(PJSIP/1002,10)
 same => n,Hangup()
exten => 7000,1,Queue(sandbox-queue,,,,15)
 same => n,Hangup()

[sandbox-trunk-in]
exten => 15550001,1,Dial(PJSIP/1002,10)
 same => n,Hangup()
"""

PHONES_QUEUES = """\
[sandbox-queue]
strategy = ringall
timeout = 8
retry = 1
member => PJSIP/1002
"""


class RawAmi:
    """A bare AMI client over a TCP socket: the wire protocol, nothing else."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = self.sock.makefile("rb")
        self.banner = self.reader.readline().decode().strip()
        self._action_id = 0

    def send(self, action: str, **fields: str) -> str:
        self._action_id += 1
        action_id = f"sb-{self._action_id}"
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        lines += [f"{name}: {value}" for name, value in fields.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    def read_message(self) -> dict[str, str]:
        message: dict[str, str] = {}
        while True:
            line = self.reader.readline()
            if not line:
                raise ConnectionError("AMI closed the connection")
            text = line.decode(errors="replace").rstrip("\r\n")
            if not text:
                if message:
                    return message
                continue
            name, _, value = text.partition(":")
            message.setdefault(name.strip(), value.strip())

    def action(self, action: str, **fields: str) -> dict[str, str]:
        action_id = self.send(action, **fields)
        while True:
            message = self.read_message()
            if message.get("ActionID") == action_id and "Response" in message:
                return message

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class AmiEventRecorder:
    """Logs in as the Switchboard user and records every event name it is sent."""

    def __init__(self, sandbox: AsteriskSandbox) -> None:
        self.ami = RawAmi(sandbox.ami_host, sandbox.ami_port)
        login = self.ami.action("Login", Username=sandbox.ami_user, Secret=sandbox.ami_secret)
        assert login["Response"] == "Success", login
        # Blocking reads; close() shuts the socket down, which ends the reader.
        self.ami.sock.settimeout(None)
        self.events: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                message = self.ami.read_message()
            except (ConnectionError, OSError, ValueError):
                return
            if "Event" in message:
                self.events.append(message)

    def names(self) -> set[str]:
        return {event["Event"] for event in list(self.events)}

    def wait_for(self, name: str, timeout: float = 10.0, **fields: str) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if event["Event"] == name and all(event.get(k) == v for k, v in fields.items()):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {name} {fields} within {timeout} s; got {sorted(self.names())}")

    def close(self) -> None:
        self.ami.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2)
        self.ami.close()


def tree_digest(root: Path) -> str:
    """Names, modes, owners, symlink targets and contents of everything under root."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest.update(f"{path.relative_to(root)}|{info.st_mode:o}|{info.st_uid}|{info.st_gid}|".encode())
        if stat.S_ISLNK(info.st_mode):
            digest.update(os.readlink(path).encode())
        elif stat.S_ISREG(info.st_mode):
            digest.update(path.read_bytes())
        digest.update(b"\n")
    return digest.hexdigest()


def run_install(
    confdir: Path, *extra: str, secret: str = "install-test-secret"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALL), str(confdir), "--ami-user", "switchboard", "--ami-secret", secret, *extra],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def transport_block(bind: str) -> str:
    return (
        "; >>> switchboard SIP transports: managed by switchboard deploy/asterisk/install.sh,"
        " edits here are overwritten\n"
        f"[switchboard-transport-udp]\ntype = transport\nprotocol = udp\nbind = {bind}\n\n"
        f"[switchboard-transport-tcp]\ntype = transport\nprotocol = tcp\nbind = {bind}\n"
        "; <<< switchboard SIP transports\n"
    )


@pytest.fixture(scope="module")
def sandbox() -> AsteriskSandbox:
    started = time.monotonic()
    box = AsteriskSandbox()
    box.start()
    print(f"sandbox ready in {time.monotonic() - started:.1f} s")
    return box


@pytest.fixture
def clean_log(sandbox: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """Fails the test when Asterisk logged an ERROR while it ran."""
    mark = sandbox.mark_log()
    yield sandbox
    errors = sandbox.log_errors(since=mark)
    assert not errors, "Asterisk logged errors:\n" + "\n".join(errors)


@pytest.fixture
def phones_version(clean_log: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """versions/1 with phones 1001/1002, a queue and a trunk, live for the test; then 0 again."""
    sandbox = clean_log
    with sandbox.exclusive():
        sandbox.write_version(
            1,
            {
                "pjsip.conf": PHONES_PJSIP,
                "extensions.conf": PHONES_EXTENSIONS,
                "queues.conf": PHONES_QUEUES,
            },
        )
        sandbox.activate_version(1)
        sandbox.reload()
        yield sandbox
        sandbox.activate_version(0)
        sandbox.reload()
        shutil.rmtree(sandbox.version_dir(1))
        assert "1002" not in sandbox.cli("pjsip show endpoints")


def test_start_is_a_no_op_when_running(sandbox: AsteriskSandbox) -> None:
    started = time.monotonic()
    sandbox.start()
    assert time.monotonic() - started < 2.0
    assert sandbox.is_running()
    assert (sandbox.switchboard_dir / "live").is_symlink()
    assert (sandbox.version_dir(0) / "pjsip.conf").is_file()


def test_ami_login_and_core_settings_over_a_raw_socket(clean_log: AsteriskSandbox) -> None:
    ami = RawAmi(clean_log.ami_host, clean_log.ami_port)
    try:
        assert ami.banner.startswith("Asterisk Call Manager/")
        login = ami.action("Login", Username=clean_log.ami_user, Secret=clean_log.ami_secret)
        assert login["Response"] == "Success", login
        settings = ami.action("CoreSettings")
        assert settings["Response"] == "Success"
        assert settings["AsteriskVersion"].startswith("22"), settings
    finally:
        ami.close()


def test_ami_rejects_a_wrong_secret(clean_log: AsteriskSandbox) -> None:
    ami = RawAmi(clean_log.ami_host, clean_log.ami_port)
    try:
        login = ami.action("Login", Username=clean_log.ami_user, Secret="not-the-secret")
        assert login["Response"] == "Error"
        assert login["Message"] == "Authentication failed"
    finally:
        ami.close()


def test_ami_user_gets_only_the_permissions_switchboard_needs(clean_log: AsteriskSandbox) -> None:
    shown = clean_log.cli(f"manager show user {clean_log.ami_user}")
    assert "read perm: system,call,agent,user,cdr" in shown
    assert "write perm: system,command,agent,reporting,originate,message" in shown
    ami = RawAmi(clean_log.ami_host, clean_log.ami_port)
    try:
        ami.action("Login", Username=clean_log.ami_user, Secret=clean_log.ami_secret)
        # Writing configuration files (class "config") and channel variables (class "call")
        # are outside the grant.
        for action, fields in (
            ("UpdateConfig", {"SrcFilename": "pjsip.conf", "DstFilename": "pjsip.conf"}),
            ("Setvar", {"Variable": "GLOBALX", "Value": "1"}),
        ):
            response = ami.action(action, **fields)
            assert response["Response"] == "Error", (action, response)
            assert response["Message"] == "Permission denied", (action, response)
        # Module reloads are inside it (class "system").
        assert ami.action("Reload", Module="res_musiconhold.so")["Response"] == "Success"
    finally:
        ami.close()


def test_install_twice_on_a_stock_config_changes_nothing_the_second_time(
    sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    stock = sandbox.root / "var" / "lib" / "switchboard-sandbox" / "stock-etc-asterisk"
    confdir = tmp_path / "asterisk"
    shutil.copytree(stock, confdir, symlinks=True)
    secret = "s3cret-never-printed"
    before = tree_digest(confdir)

    options = ("--ami-permit", "10.0.0.0/255.0.0.0", "--sip-bind", "192.0.2.10:5060")
    first = run_install(confdir, *options, secret=secret)
    assert first.returncode == 0, first.stderr
    after_first = tree_digest(confdir)
    second = run_install(confdir, *options, secret=secret)
    assert second.returncode == 0, second.stderr

    assert after_first != before
    assert tree_digest(confdir) == after_first
    assert "pjsip.conf transports (udp and tcp on 192.0.2.10:5060): changed" in first.stdout.splitlines()
    assert "restart" not in first.stdout, "a new transport needs no restart"
    assert all(line.endswith(": unchanged") for line in second.stdout.splitlines()), second.stdout
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert secret not in output

    manager = (confdir / "manager.conf").read_text()
    general = manager.split("[general]", 1)[1].splitlines()
    assert general[1:5] == ["enabled = yes", "bindaddr = 127.0.0.1", "port = 5038", "timestampevents = yes"]
    assert manager.count("[switchboard]") == 1
    assert f"secret = {secret}\n" in manager
    assert "deny = 0.0.0.0/0.0.0.0\npermit = 10.0.0.0/255.0.0.0\n" in manager
    assert "read = system,call,agent,cdr,user\n" in manager
    assert "write = system,command,originate,agent,reporting,message\n" in manager
    assert (confdir / "manager.conf").stat().st_mode & 0o007 == 0
    for name in ("pjsip.conf", "extensions.conf", "queues.conf"):
        lines = (confdir / name).read_text().splitlines()
        assert lines.count(f"#include switchboard/live/{name}") == 1
        version0 = confdir / "switchboard" / "versions" / "0" / name
        assert all(line.startswith(";") for line in version0.read_text().splitlines())
    assert os.readlink(confdir / "switchboard" / "live") == "versions/0"
    # The stock file as it was, then the transports, then the include.
    pjsip = (confdir / "pjsip.conf").read_text()
    stock_pjsip = (stock / "pjsip.conf").read_text()
    assert pjsip.startswith(stock_pjsip)
    assert pjsip[len(stock_pjsip) :] == (
        "\n" + transport_block("192.0.2.10:5060") + "\n; Switchboard renders this file; see"
        " deploy/asterisk/README.md\n#include switchboard/live/pjsip.conf\n"
    )


def test_install_refuses_a_stock_host_without_transports_and_changes_nothing(
    sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    confdir = tmp_path / "asterisk"
    shutil.copytree(sandbox.stock_dir, confdir, symlinks=True)
    before = tree_digest(confdir)
    done = run_install(confdir)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "pjsip.conf defines no SIP transport, so no phone could register" in done.stderr
    assert "--sip-bind ADDR:PORT" in done.stderr
    assert tree_digest(confdir) == before


OPERATOR_PJSIP = """\
[global]
type = global
user_agent = Operator PBX

[transport-template](!)
type = transport
protocol = tcp

;--
[commented-out]
type = transport
bind = 0.0.0.0:5070
--;
#include pjsip.d/*.conf
"""
OPERATOR_INCLUDED = """\
[operator-tcp](transport-template)
bind = [::]:5062 ; every address, IPv6 and IPv4

[operator-udp]
type = transport
protocol = udp
bind = 0.0.0.0
"""


def test_install_keeps_the_hosts_own_transports(tmp_path: Path) -> None:
    confdir = tmp_path / "asterisk"
    (confdir / "pjsip.d").mkdir(parents=True)
    (confdir / "pjsip.conf").write_text(OPERATOR_PJSIP)
    (confdir / "pjsip.d" / "transports.conf").write_text(OPERATOR_INCLUDED)

    kept = run_install(confdir)
    assert kept.returncode == 0, kept.stderr
    assert "pjsip.conf transports (the host's own: operator-tcp operator-udp): unchanged" in kept.stdout
    assert (confdir / "pjsip.conf").read_text() == (
        OPERATOR_PJSIP + "\n; Switchboard renders this file; see deploy/asterisk/README.md\n"
        "#include switchboard/live/pjsip.conf\n"
    )

    # A socket the host's transports already hold: the template's TCP on every address, UDP 5060.
    for taken, transport in (
        ("127.0.0.1:5062", "[operator-tcp] (tcp [::]:5062)"),
        ("10.0.0.1:5060", "[operator-udp] (udp 0.0.0.0)"),
    ):
        before = tree_digest(confdir)
        refused = run_install(confdir, "--sip-bind", taken)
        assert refused.returncode == 2
        assert f"pjsip.conf already has the transport {transport}: --sip-bind {taken}" in refused.stderr
        assert tree_digest(confdir) == before

    # Port 5070 is free: the block-commented transport does not count.
    added = run_install(confdir, "--sip-bind", "127.0.0.1:5070")
    assert added.returncode == 0, added.stderr
    pjsip = (confdir / "pjsip.conf").read_text()
    assert pjsip.startswith(OPERATOR_PJSIP) and transport_block("127.0.0.1:5070") in pjsip
    assert (confdir / "pjsip.d" / "transports.conf").read_text() == OPERATOR_INCLUDED

    # A section of the host named like Switchboard's is not overwritten.
    (confdir / "pjsip.d" / "mine.conf").write_text("[switchboard-transport-tcp]\ntype = endpoint\n")
    before = tree_digest(confdir)
    clash = run_install(confdir, "--sip-bind", "127.0.0.1:5070")
    assert clash.returncode == 2
    assert "defines [switchboard-transport-tcp] outside the Switchboard block" in clash.stderr
    assert tree_digest(confdir) == before


def test_install_moves_its_transports_in_place_and_says_to_restart(tmp_path: Path) -> None:
    confdir = tmp_path / "asterisk"
    confdir.mkdir()
    (confdir / "pjsip.conf").write_text("; the host's own pjsip.conf\n")
    assert run_install(confdir, "--sip-bind", "127.0.0.1:5060").returncode == 0
    first = (confdir / "pjsip.conf").read_text()

    moved = run_install(confdir, "--sip-bind", "[::1]:5080")
    assert moved.returncode == 0, moved.stderr
    assert "pjsip.conf transports (udp and tcp on [::1]:5080): changed" in moved.stdout
    assert (
        "restart Asterisk: pjsip moves an existing transport to its new address only at start" in moved.stdout
    )
    assert (confdir / "pjsip.conf").read_text() == first.replace(
        transport_block("127.0.0.1:5060"), transport_block("[::1]:5080")
    )

    # Without --sip-bind, the transports of an earlier run stay.
    again = run_install(confdir)
    assert again.returncode == 0, again.stderr
    assert "pjsip.conf transports (Switchboard's, kept from an earlier run): unchanged" in again.stdout
    assert "restart" not in again.stdout
    assert transport_block("[::1]:5080") in (confdir / "pjsip.conf").read_text()


def test_install_refuses_a_sip_bind_that_is_not_an_address_and_port(tmp_path: Path) -> None:
    confdir = tmp_path / "asterisk"
    confdir.mkdir()
    (confdir / "pjsip.conf").write_text("; the host's own pjsip.conf\n")
    before = tree_digest(confdir)
    for value in (
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:05060",
        "256.0.0.1:5060",
        "pbx.example.com:5060",
        "::1:5060",
        "[::1]",
        "127.0.0.1:5060\n[evil]\ntype = endpoint",
        "127.0.0.1:5060 ; comment",
        "",
    ):
        done = run_install(confdir, "--sip-bind", value)
        assert done.returncode == 2, value
        assert "--sip-bind must be IPV4:PORT or [IPV6]:PORT" in done.stderr, value
        assert "\n[evil]" not in done.stderr
    twice = run_install(confdir, "--sip-bind", "127.0.0.1:5060", "--sip-bind", "127.0.0.1:5061")
    assert twice.returncode == 2 and "--sip-bind can be given once" in twice.stderr
    assert tree_digest(confdir) == before


def test_install_refuses_a_secret_that_would_break_the_conf_file(tmp_path: Path) -> None:
    confdir = tmp_path / "asterisk"
    confdir.mkdir()
    (confdir / "manager.conf").write_text("[general]\nenabled = no\n")
    (confdir / "pjsip.conf").write_text("[udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:5060\n")
    before = tree_digest(confdir)
    for secret in ("short", "has;comment", " padded-secret "):
        done = run_install(confdir, secret=secret)
        assert done.returncode == 2, done
        assert secret not in done.stdout + done.stderr
    secret_file = tmp_path / "secret"
    secret_file.write_text("line-one-secret\nline-two\n")
    done = subprocess.run(
        [str(INSTALL), str(confdir), "--ami-user", "sb", "--ami-secret-file", str(secret_file)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "secret = line-one-secret\n" in (confdir / "manager.conf").read_text()
    assert "line-two" not in (confdir / "manager.conf").read_text()
    assert tree_digest(confdir) != before


def test_install_on_the_running_sandbox_is_a_no_op(clean_log: AsteriskSandbox) -> None:
    """The sandbox was wired by install.sh with these options when it started."""
    before = tree_digest(clean_log.config_dir)
    done = run_install(
        clean_log.config_dir,
        "--ami-port",
        str(clean_log.ami_port),
        "--sip-bind",
        f"{clean_log.sip_host}:{clean_log.sip_port}",
        "--wss",
        f"{clean_log.sip_host}:{clean_log.wss_port}",
        "--asterisk-etc",
        "/etc/asterisk",
        secret=clean_log.ami_secret,
    )
    assert done.returncode == 0, done.stderr
    assert all(line.endswith(": unchanged") for line in done.stdout.splitlines()), done.stdout
    assert tree_digest(clean_log.config_dir) == before
    transports = clean_log.cli("pjsip show transports")
    for protocol in ("udp", "tcp"):
        assert re.search(
            rf"switchboard-transport-{protocol}\s+{protocol}\s+\d+\s+\d+\s+"
            rf"{re.escape(clean_log.sip_host)}:{clean_log.sip_port}\b",
            transports,
        ), transports


def test_registered_phones_call_each_other(phones_version: AsteriskSandbox, tmp_path: Path) -> None:
    sandbox = phones_version
    recorder = AmiEventRecorder(sandbox)
    try:
        with SippSession(tmp_path / "sipp") as sipp:
            sipp.phone("1001", "phone-1001-pw")
            callee = sipp.phone("1002", "phone-1002-pw", answer_after=0.5)
            contacts = sandbox.cli("pjsip show contacts")
            assert f"1002/sip:1002@127.0.0.1:{callee.port}" in contacts

            result = sipp.call("1002", caller="1001", password="phone-1001-pw", hold=1.0)

            assert result.final_code == 200
            assert result.outcome == "answered"
            assert result.hung_up_by == "caller"
            invites = callee.invites()
            assert len(invites) == 1
            assert result.started_at <= invites[0] <= result.answered_at
            # Rang for the 0.5 s the phone waited, give or take the scheduler.
            assert 0.4 <= result.answered_at - invites[0] <= 2.0
            assert [e.kind for e in callee.events()] == ["INVITE", "ANSWER", "BYE"]

            # Through the queue: the member phone rings, answers, the caller is connected.
            queued = sipp.call("7000", caller="1001", password="phone-1001-pw", hold=1.0)
            assert queued.final_code == 200
            assert len(callee.wait_for_invites(2)) == 2
            recorder.wait_for("AgentComplete", Queue="sandbox-queue")
            recorder.wait_for("Cdr", Destination="7000")
    finally:
        recorder.close()
    # The least-privilege read mask still carries every event Switchboard consumes.
    wanted = {
        "Newchannel",
        "Newstate",
        "DialBegin",
        "DialEnd",
        "BridgeEnter",
        "Hangup",
        "Cdr",
        "ContactStatus",
        "DeviceStateChange",
        "ExtensionStatus",
        "QueueMemberStatus",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
    }
    assert wanted <= recorder.names(), sorted(wanted - recorder.names())


def test_a_caller_cancels_a_phone_that_never_answers(phones_version: AsteriskSandbox, tmp_path: Path) -> None:
    with SippSession(tmp_path / "sipp") as sipp:
        callee = sipp.phone("1002", "phone-1002-pw", answer_after=None)
        result = sipp.call("1002", caller="1001", password="phone-1001-pw", cancel_after=1.0, timeout=15)
        assert result.outcome == "cancelled"
        assert result.final_code == 487
        assert result.ringing_at is not None
        assert 0.9 <= result.cancelled_at - result.ringing_at <= 2.0
        kinds = [event.kind for event in callee.events()]
        deadline = time.monotonic() + 5
        while kinds != ["INVITE", "CANCEL"] and time.monotonic() < deadline:
            time.sleep(0.05)
            kinds = [event.kind for event in callee.events()]
        assert kinds == ["INVITE", "CANCEL"]


def test_a_busy_phone_rejects_and_the_caller_sees_busy(
    phones_version: AsteriskSandbox, tmp_path: Path
) -> None:
    with SippSession(tmp_path / "sipp") as sipp:
        sipp.phone("1002", "phone-1002-pw", answer_after=0.2, reject_code=486, reject_reason="Busy Here")
        result = sipp.call("1002", caller="1001", password="phone-1001-pw", timeout=15)
        assert result.outcome == "rejected"
        assert result.final_code == 486


def test_an_unauthenticated_trunk_call_reaches_a_phone(
    phones_version: AsteriskSandbox, tmp_path: Path
) -> None:
    with SippSession(tmp_path / "sipp") as sipp:
        callee = sipp.phone("1002", "phone-1002-pw", answer_after=0.3)
        result = sipp.call("15550001", caller="15551234567", hold=0.5)
        assert result.final_code == 200
        assert not any(m.status == 401 for m in result.messages)
        assert len(callee.invites()) == 1
        # A wrong password for a phone ends on the PBX's challenge, reported as such.
        refused = sipp.call("1002", caller="1001", password="wrong-password", timeout=10)
        assert refused.outcome == "rejected"
        assert refused.final_code in (401, 403)
        assert len(callee.invites()) == 1
        # And a REGISTER with a wrong password is answered with a second challenge.
        assert sipp.register("1002", "wrong-password", callee.port) == 401
        assert sipp.register("1002", "phone-1002-pw", callee.port) == 200
