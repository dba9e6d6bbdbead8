"""Real SIP traffic for integration tests, driven by the sipp binary (Debian: sip-tester).

A `Phone` is two sipp processes, like a desk phone behind a registrar: one REGISTERs the user
with a Contact pointing at the other, a UAS on its own port that rings and answers (or rings
until cancelled, or rejects) and logs when each INVITE arrived. `SippSession.call` and
`SippSession.start_call` run a UAC against the PBX, authenticated as an endpoint or
unauthenticated like a trunk, and report the final response and its timing.

Every sipp process runs with a global -timeout and is killed by `SippSession.close()`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent / "sipp_scenarios"
LOCAL_IP = "127.0.0.1"
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3}) ")
_REQUEST_LINE = re.compile(r"^([A-Z]+) \S+ SIP/2\.0$")
_LOG_STAMP = re.compile(r"^-{20,} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+)$")
_REJECT_LINE = "SIP/2.0 486 Busy Here"


class SippError(RuntimeError):
    """sipp could not run, or a SIP exchange ended differently than the harness needs."""


def sipp_binary() -> str:
    """Path of sipp, installing the sip-tester package when it is missing."""
    path = shutil.which("sipp")
    if path:
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "sip-tester"],
        check=True,
        env=env,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )
    path = shutil.which("sipp")
    if not path:
        raise SippError("sip-tester is installed but sipp is not on PATH")
    return path


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((LOCAL_IP, port))
        except OSError:
            return False
    return True


class _PortBand:
    """UDP ports for sipp, from a band below the kernel's ephemeral range (32768 and up) and
    clear of the sandboxes' RTP ranges (30000 and 31000 up).

    A port probed free stays free until sipp binds it: no other process's bind(0) or outgoing
    UDP takes ports from this band, and this run hands each block of four (sipp's media uses
    port to port + 3) out once per turn of the band. A run starts at an offset of its own, for
    two test runs on one host."""

    BLOCK = 4

    def __init__(self, first: int, last: int) -> None:
        self._band = f"{first}-{last}"
        self._starts = range(first, last + 1 - self.BLOCK + 1, self.BLOCK)
        self._next = os.getpid() % len(self._starts)
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            for _ in self._starts:
                port = self._starts[self._next]
                self._next = (self._next + 1) % len(self._starts)
                if all(_udp_port_free(port + k) for k in range(self.BLOCK)):
                    return port
        raise SippError(f"no free block of UDP ports in {self._band} on 127.0.0.1")


_SIPP_PORTS = _PortBand(20000, 29999)


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 for sipp, free together with the three above it (its media)."""
    return _SIPP_PORTS.take()


def _holds_udp_port(pid: int, port: int) -> bool:
    """Whether process `pid` has a UDP socket bound to 127.0.0.1:port (Linux's /proc)."""
    local = f"0100007F:{port:04X}"
    sockets = {
        f"socket:[{fields[9]}]"
        for fields in (line.split() for line in Path("/proc/net/udp").read_text().splitlines()[1:])
        if fields[1] == local
    }
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # a descriptor closed while we looked
            if os.readlink(fd) in sockets:
                return True
    return False


@dataclass(frozen=True)
class SipMessage:
    """One SIP message from a sipp -message_file, as sent or received by sipp."""

    at: float
    sent: bool
    start_line: str
    headers: dict[str, str]

    @property
    def status(self) -> int | None:
        match = _STATUS_LINE.match(self.start_line)
        return int(match.group(1)) if match else None

    @property
    def method(self) -> str | None:
        match = _REQUEST_LINE.match(self.start_line)
        return match.group(1) if match else None

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.headers.get("cseq", "0 ?").partition(" ")
        return int(number), method.strip()


def read_message_log(path: Path) -> list[SipMessage]:
    """Parse a sipp -trace_msg file: blocks of a dashed timestamp line, a note, a message."""
    if not path.exists():
        return []
    messages: list[SipMessage] = []
    blocks = re.split(r"(?m)^(?=-{20,} \d{4}-)", path.read_text(errors="replace"))
    for block in blocks:
        lines = block.splitlines()
        if len(lines) < 3:
            continue
        stamp = _LOG_STAMP.match(lines[0])
        if not stamp:
            continue
        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        sent = " sent " in lines[1]
        body = list(lines[2:])
        while body and not body[0].strip():
            body.pop(0)
        if not body:
            continue
        headers: dict[str, str] = {}
        for line in body[1:]:
            if not line.strip():
                break
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        messages.append(SipMessage(at, sent, body[0].strip(), headers))
    return messages


def received_texts(path: Path) -> list[str]:
    """Bodies of the MESSAGE requests a sipp -trace_msg file shows as received, byte-exact
    (Content-Length bytes after the blank line)."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    bodies = []
    for match in re.finditer(rb"(?m)^MESSAGE sip:\S+ SIP/2\.0\r?\n", raw):
        head_end = raw.find(b"\r\n\r\n", match.end())
        separator = 4
        if head_end < 0:
            head_end, separator = raw.find(b"\n\n", match.end()), 2
        headers = raw[match.end() : head_end].decode(errors="replace")
        length = re.search(r"(?im)^(?:Content-Length|l)\s*:\s*(\d+)", headers)
        start = head_end + separator
        size = int(length.group(1)) if length else 0
        bodies.append(raw[start : start + size].decode("utf-8"))
    return bodies


class SippProcess:
    """One sipp run: its files live in `workdir` under `name`; the process is bounded in time."""

    def __init__(self, name: str, workdir: Path, args: Sequence[str], lifetime: float) -> None:
        self.name = name
        self.message_file = workdir / f"{name}.messages.log"
        self.log_file = workdir / f"{name}.actions.log"
        self.error_file = workdir / f"{name}.errors.log"
        self.stderr_file = workdir / f"{name}.stderr.log"
        for stale in (self.message_file, self.log_file, self.error_file, self.stderr_file):
            stale.unlink(missing_ok=True)
        command = [
            sipp_binary(),
            *args,
            "-nostdin",
            "-timeout",
            f"{max(1, round(lifetime))}s",
            "-trace_msg",
            "-message_file",
            str(self.message_file),
            "-trace_logs",
            "-log_file",
            str(self.log_file),
            "-trace_err",
            "-error_file",
            str(self.error_file),
        ]
        self.command = command
        with self.stderr_file.open("wb") as stderr:
            self.process = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        self.lifetime = lifetime

    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise SippError(f"sipp {self.name} still running after {timeout:.1f} s") from None

    def stop(self) -> None:
        """Terminate, then kill, this process (and only this one)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def messages(self) -> list[SipMessage]:
        return read_message_log(self.message_file)

    def diagnostics(self) -> str:
        parts = [f"command: {' '.join(self.command)}"]
        for path in (self.stderr_file, self.error_file):
            if path.exists() and path.stat().st_size:
                parts.append(f"{path.name}:\n{path.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)


@dataclass(frozen=True)
class PhoneEvent:
    """A line the phone's UAS scenario logged: INVITE, ANSWER, BYE, CANCEL or REJECT."""

    kind: str
    at: float
    call_id: str


@dataclass(frozen=True)
class CallResult:
    """What the caller saw, from the UAC's message log."""

    final_code: int | None
    started_at: float
    ringing_at: float | None
    answered_at: float | None
    cancelled_at: float | None
    ended_at: float | None
    hung_up_by: str | None
    messages: list[SipMessage] = field(repr=False)

    @property
    def answered(self) -> bool:
        return self.final_code == 200

    @property
    def outcome(self) -> str:
        """answered, cancelled, rejected (a final error) or no-answer (no final response)."""
        if self.final_code is None:
            return "no-answer"
        if self.final_code == 200:
            return "answered"
        if self.cancelled_at is not None and self.final_code == 487:
            return "cancelled"
        return "rejected"

    @property
    def setup_seconds(self) -> float | None:
        """From the first INVITE to the final response of the last (authenticated) INVITE."""
        final = _final_invite_response(self.messages)
        return final.at - self.started_at if final else None


def _final_invite_response(messages: Sequence[SipMessage]) -> SipMessage | None:
    invites = [m for m in messages if m.sent and m.method == "INVITE"]
    if not invites:
        return None
    last_cseq = max(m.cseq[0] for m in invites)
    for message in messages:
        status = message.status
        if (
            not message.sent
            and status is not None
            and status >= 200
            and message.cseq == (last_cseq, "INVITE")
        ):
            return message
    return None


def call_result(messages: Sequence[SipMessage]) -> CallResult:
    invites = [m for m in messages if m.sent and m.method == "INVITE"]
    if not invites:
        raise SippError("the caller sent no INVITE")
    final = _final_invite_response(messages)
    ringing = next(
        (m for m in messages if not m.sent and m.status in (180, 183) and m.cseq[1] == "INVITE"),
        None,
    )
    cancel = next((m for m in messages if m.sent and m.method == "CANCEL"), None)
    bye = next((m for m in messages if m.method == "BYE"), None)
    return CallResult(
        final_code=final.status if final else None,
        started_at=invites[0].at,
        ringing_at=ringing.at if ringing else None,
        answered_at=final.at if final and final.status == 200 else None,
        cancelled_at=cancel.at if cancel else None,
        ended_at=bye.at if bye else (final.at if final and final.status != 200 else None),
        hung_up_by=("caller" if bye.sent else "callee") if bye else None,
        messages=list(messages),
    )


class Call:
    """A UAC in flight; `wait()` gives its `CallResult`."""

    def __init__(self, process: SippProcess, timeout: float) -> None:
        self.process = process
        self.timeout = timeout

    def wait(self) -> CallResult:
        code = self.process.wait(self.timeout)
        messages = self.process.messages()
        if not any(m.sent and m.method == "INVITE" for m in messages):
            raise SippError(f"sipp caller exited with {code}\n{self.process.diagnostics()}")
        return call_result(messages)


class Phone:
    """A registered extension: a UAS on `port`, registered as `user` with that Contact."""

    def __init__(self, session: SippSession, user: str, password: str, uas: SippProcess, port: int) -> None:
        self.session = session
        self.user = user
        self.password = password
        self.uas = uas
        self.port = port
        self.registered = False

    def events(self) -> list[PhoneEvent]:
        if not self.uas.log_file.exists():
            return []
        events = []
        for line in self.uas.log_file.read_text(errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) == 5:
                events.append(PhoneEvent(fields[0], float(fields[3]), fields[4]))
        return events

    def invites(self) -> list[float]:
        """Arrival time (epoch seconds) of every INVITE this phone received, oldest first."""
        return [event.at for event in self.events() if event.kind == "INVITE"]

    def texts(self) -> list[str]:
        """The bodies of the MESSAGEs this phone received (UTF-8), oldest first."""
        return received_texts(self.uas.message_file)

    def wait_for_texts(self, count: int = 1, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = self.texts()
            if len(texts) >= count:
                return texts
            time.sleep(0.05)
        raise SippError(f"phone {self.user} received {len(self.texts())} text(s), expected {count}")

    def wait_for_invites(self, count: int = 1, timeout: float = 10.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            invites = self.invites()
            if len(invites) >= count:
                return invites
            if not self.uas.running():
                break
            time.sleep(0.05)
        raise SippError(
            f"phone {self.user} saw {len(self.invites())} INVITE(s), expected {count} "
            f"within {timeout:.1f} s\n{self.uas.diagnostics()}"
        )

    def register(self, expires: int = 3600) -> int:
        """REGISTER (digest auth) with Contact at this phone's UAS; returns the final code."""
        code = self.session.register(self.user, self.password, self.port, expires=expires)
        self.registered = code == 200 and expires > 0
        return code

    def close(self) -> None:
        if self.registered and self.uas.running():
            self.register(expires=0)
        self.uas.stop()


class SippSession:
    """Owns every sipp process a test starts; `close()` (or the with-block) kills them all."""

    def __init__(
        self,
        workdir: Path,
        sip_host: str = LOCAL_IP,
        sip_port: int | None = None,
        lifetime: float = 300,
        domain: str | None = None,
    ) -> None:
        """domain: the SIP domain of the phones and callers (From and To of a REGISTER, From of
        an INVITE); FreeSWITCH picks the directory domain from it. Default: the PBX's address
        for REGISTER, ours for INVITE."""
        self.workdir = workdir
        if sip_port is None:
            sip_port = int(os.environ.get("SWITCHBOARD_SANDBOX_SIP_PORT", "5060"))
        self.target = f"{sip_host}:{sip_port}"
        self.sip_host = sip_host
        self.domain = domain
        self.lifetime = lifetime
        self.processes: list[SippProcess] = []
        self.phones: list[Phone] = []
        self._counter = 0
        workdir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> SippSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _spawn(self, kind: str, args: Sequence[str], lifetime: float) -> SippProcess:
        self._counter += 1
        # Log files are named after the call; a dialled number may hold any character.
        name = re.sub(r"[^A-Za-z0-9+._-]", "_", f"{self._counter:03d}-{kind}")
        process = SippProcess(name, self.workdir, args, lifetime)
        self.processes.append(process)
        return process

    def _scenario(self, name: str, rtp_port: int | None = None) -> str:
        """The scenario file; with `rtp_port` a copy whose SDP names that loopback port for the
        media (an RtpEcho's), so the test counts the RTP the far end receives."""
        if rtp_port is None:
            return str(SCENARIOS / name)
        text = (SCENARIOS / name).read_text()
        if "[media_port]" not in text:
            raise SippError(f"{name} has no [media_port] in its SDP")
        custom = self.workdir / f"{name.removesuffix('.xml')}_rtp{rtp_port}.xml"
        custom.write_text(text.replace("[media_port]", str(rtp_port)).replace("[media_ip]", LOCAL_IP))
        return str(custom)

    def register(
        self, user: str, password: str, contact_port: int, expires: int = 3600, timeout: float = 10
    ) -> int:
        """REGISTER `user` with Contact sip:user@127.0.0.1:contact_port; the final code."""
        process = self._spawn(
            f"register-{user}",
            [
                "-sf",
                self._scenario("register.xml"),
                "-i",
                LOCAL_IP,
                "-p",
                str(free_udp_port()),
                "-mp",
                str(free_udp_port()),
                self.target,
                "-s",
                user,
                "-au",
                user,
                "-ap",
                password,
                "-key",
                "expires",
                str(expires),
                "-key",
                "contact_port",
                str(contact_port),
                "-key",
                "domain",
                self.domain or self.sip_host,
                "-m",
                "1",
            ],
            lifetime=timeout,
        )
        process.wait(timeout + 5)
        finals = [
            m.status
            for m in process.messages()
            if not m.sent and m.status is not None and m.status >= 200 and m.status != 401
        ]
        if not finals:
            challenges = [m for m in process.messages() if m.status == 401]
            if len(challenges) > 1:
                return 401
            raise SippError(f"REGISTER for {user} got no final response\n{process.diagnostics()}")
        return finals[-1]

    def phone(
        self,
        user: str,
        password: str,
        *,
        answer_after: float | None = 1.0,
        reject_code: int | None = None,
        reject_reason: str = "Rejected",
        register: bool = True,
        expires: int = 3600,
        rtp_port: int | None = None,
    ) -> Phone:
        """Start a UAS for `user` and register it.

        answer_after: seconds of ringing before 200 OK; None rings until cancelled.
        reject_code: answer every INVITE with this final error (after `answer_after` s) instead.
        """
        port = free_udp_port()
        delay_ms = 86_400_000 if answer_after is None else round(answer_after * 1000)
        if reject_code is None:
            scenario = self._scenario("uas_answer.xml", rtp_port)
        else:
            if not 300 <= reject_code <= 699 or not re.fullmatch(r"[A-Za-z][A-Za-z ]*", reject_reason):
                raise ValueError("reject_code must be 300-699 and reject_reason plain words")
            template = (SCENARIOS / "uas_reject.xml").read_text()
            if _REJECT_LINE not in template:
                raise SippError(f"uas_reject.xml lost its '{_REJECT_LINE}' status line")
            custom = self.workdir / f"uas_reject_{reject_code}.xml"
            custom.write_text(template.replace(_REJECT_LINE, f"SIP/2.0 {reject_code} {reject_reason}"))
            scenario = str(custom)
        uas = self._spawn(
            f"phone-{user}",
            [
                "-sf",
                scenario,
                "-i",
                LOCAL_IP,
                "-p",
                str(port),
                "-mp",
                str(free_udp_port()),
                "-d",
                str(delay_ms),
            ],
            lifetime=self.lifetime,
        )
        self._wait_bound(uas, port)
        phone = Phone(self, user, password, uas, port)
        self.phones.append(phone)
        if register:
            code = phone.register(expires=expires)
            if code != 200:
                raise SippError(f"REGISTER for {user} answered {code}, expected 200")
        return phone

    def uas(self, name: str, scenario: str) -> Phone:
        """A UAS running `scenario` (a file in sipp_scenarios) on a port of its own, unregistered:
        a carrier behind a trunk, say."""
        port = free_udp_port()
        uas = self._spawn(
            f"uas-{name}",
            ["-sf", self._scenario(scenario), "-i", LOCAL_IP, "-p", str(port), "-mp", str(free_udp_port())],
            lifetime=self.lifetime,
        )
        self._wait_bound(uas, port)
        phone = Phone(self, name, "", uas, port)
        self.phones.append(phone)
        return phone

    def _wait_bound(self, process: SippProcess, port: int, timeout: float = 5.0) -> None:
        """Wait until this sipp itself holds `port` (not merely until someone does)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.running():
                raise SippError(f"sipp {process.name} exited at start\n{process.diagnostics()}")
            with contextlib.suppress(FileNotFoundError):  # exited since running() was asked
                if _holds_udp_port(process.process.pid, port):
                    return
            time.sleep(0.02)
        process.stop()
        raise SippError(f"sipp {process.name} did not bind 127.0.0.1:{port} in {timeout} s")

    def start_call(
        self,
        number: str,
        *,
        caller: str,
        password: str | None = None,
        auth_user: str | None = None,
        hold: float = 2.0,
        cancel_after: float | None = None,
        timeout: float = 30.0,
        rtp_port: int | None = None,
    ) -> Call:
        """INVITE `number` at the PBX with From `caller`; returns at once.

        password: digest password when challenged (the endpoint `auth_user`, default `caller`);
          None calls unauthenticated, like a trunk the PBX identifies by IP.
        hold: seconds an answered call stays up before the caller sends BYE.
        cancel_after: CANCEL this many seconds after the first 180/183 instead of waiting.
        timeout: hard bound for the whole call; sipp is killed after it.
        """
        scenario = "uac_call.xml" if cancel_after is None else "uac_cancel.xml"
        delay = hold if cancel_after is None else cancel_after
        args = [
            "-sf",
            self._scenario(scenario, rtp_port),
            "-i",
            LOCAL_IP,
            "-p",
            str(free_udp_port()),
            "-mp",
            str(free_udp_port()),
            self.target,
            "-s",
            number,
            "-key",
            "caller",
            caller,
            "-key",
            "domain",
            self.domain or LOCAL_IP,
            "-d",
            str(round(delay * 1000)),
            "-m",
            "1",
            "-timeout_error",
        ]
        if password is not None:
            args += ["-au", auth_user or caller, "-ap", password]
        else:
            # A challenge to an unauthenticated caller is answered with a wrong digest, so the
            # call ends on the PBX's final 401/403 rather than on a sipp configuration error.
            args += ["-au", caller, "-ap", "-"]
        process = self._spawn(f"call-{caller}-{number}", args, lifetime=timeout)
        return Call(process, timeout + 5)

    def call(
        self,
        number: str,
        *,
        caller: str,
        password: str | None = None,
        auth_user: str | None = None,
        hold: float = 2.0,
        cancel_after: float | None = None,
        timeout: float = 30.0,
    ) -> CallResult:
        """`start_call` and wait for its result."""
        return self.start_call(
            number,
            caller=caller,
            password=password,
            auth_user=auth_user,
            hold=hold,
            cancel_after=cancel_after,
            timeout=timeout,
        ).wait()

    def send_text(self, number: str, *, caller: str, text: str, timeout: float = 10.0) -> int | None:
        """An out-of-call MESSAGE to `number` at the PBX, from `caller` (like the trunk); the
        final response code. `text`: one line of plain text."""
        process = self._spawn(
            f"text-{caller}-{number}",
            [
                "-sf",
                self._scenario("uac_message.xml"),
                "-i",
                LOCAL_IP,
                "-p",
                str(free_udp_port()),
                self.target,
                "-s",
                number,
                "-key",
                "caller",
                caller,
                "-key",
                "text",
                text,
                "-m",
                "1",
            ],
            lifetime=timeout,
        )
        process.wait(timeout + 5)
        finals = [m.status for m in process.messages() if not m.sent and m.status and m.status >= 200]
        return finals[-1] if finals else None

    def close(self) -> None:
        for phone in self.phones:
            with contextlib.suppress(SippError):
                phone.close()
        for process in self.processes:
            process.stop()
