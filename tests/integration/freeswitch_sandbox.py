"""The sandbox FreeSWITCH (deploy/freeswitch/sandbox) as tests see it: start it, talk to it over
the event socket, read its log, and stage Switchboard config versions in its switchboard/ folder.

The same names as `AsteriskSandbox` wherever the meaning is the same. Nothing here skips: when
the sandbox cannot be installed or started, `SandboxError` says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.integration.asterisk_sandbox import LogMark, SandboxError, _read_from
from worker.esl_client import EslClient
from worker.freeswitch_apply import ROOTS

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO / "deploy" / "freeswitch" / "sandbox"
EMPTY_INCLUDE = "<include>\n  <!-- {name}: nothing in this version -->\n</include>\n"
# What mod_xml_curl logs (as ERR) on every lookup while no control plane answers at the sandbox's
# control URL: static-mode tests pass it to log_errors(ignore=...).
XML_CURL_UNREACHABLE = "trying to fetch http"


class FreeswitchSandbox:
    """FreeSWITCH 1.11 on a scratch copy of its vanilla configuration wired by install.sh: the
    event socket on 127.0.0.1:8021, SIP profiles internal (phones) on 127.0.0.1:5070 and external
    (trunks) on 127.0.0.1:5080, or the ports the SWITCHBOARD_FS_* variables name, as the script
    reads them."""

    esl_host = "127.0.0.1"
    esl_port = int(os.environ.get("SWITCHBOARD_FS_ESL_PORT", "8021"))
    esl_password = "sandbox-esl-secret"
    sip_host = "127.0.0.1"
    sip_internal_port = int(os.environ.get("SWITCHBOARD_FS_INTERNAL_PORT", "5070"))
    sip_external_port = int(os.environ.get("SWITCHBOARD_FS_EXTERNAL_PORT", "5080"))
    sip_port = sip_internal_port  # where phones register, as AsteriskSandbox.sip_port
    control_url = os.environ.get("SWITCHBOARD_FS_CONTROL_URL", "http://127.0.0.1:18021")
    xml_curl_user = "freeswitch"
    xml_curl_password = "sandbox-xml-curl-secret"

    def __init__(self, script: Path = SANDBOX_SCRIPT, install_timeout: float = 600.0) -> None:
        self.script = script
        self.install_timeout = install_timeout
        self.root = Path(self._run("path", timeout=10).strip())
        self.config_dir = self.root / "conf"
        self.switchboard_dir = self.config_dir / "switchboard"
        self.log_path = self.root / "log" / "freeswitch.log"
        self._mark: LogMark | None = None

    def _run(self, *args: str, timeout: float) -> str:
        try:
            done = subprocess.run(
                [str(self.script), *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"sandbox {' '.join(args)} took over {timeout:.0f} s") from exc
        if done.returncode != 0:
            raise SandboxError(
                f"sandbox {' '.join(args)} failed (exit {done.returncode}):\n"
                f"{done.stderr.strip()}\n{done.stdout.strip()}"
            )
        return done.stdout

    def ensure(self) -> None:
        """Install FreeSWITCH unless it is there, and lay the wired configuration once."""
        self._run("ensure", timeout=self.install_timeout)

    def start(self) -> None:
        """Install if needed, start FreeSWITCH and wait until ESL answers and both profiles run."""
        self._run("start", timeout=self.install_timeout)

    def stop(self) -> None:
        self._run("stop", timeout=60)

    def restart(self) -> None:
        self._run("restart", timeout=self.install_timeout)

    def is_running(self) -> bool:
        done = subprocess.run(
            [str(self.script), "status"], capture_output=True, text=True, timeout=10, check=False
        )
        return done.returncode == 0

    def esl(self, timeout: float = 10.0) -> EslClient:
        """A connected event-socket client (a context manager) with the sandbox's password."""
        return EslClient(self.esl_host, self.esl_port, self.esl_password, timeout=timeout)

    def api(self, command: str, timeout: float = 30.0) -> str:
        """Run an API command (`fs_cli -x`) over the event socket and return its output."""
        with self.esl(timeout) as client:
            output = client.api(command, timeout=timeout)
        if output.startswith("-ERR") and "command not found" in output.lower():
            raise SandboxError(f"FreeSWITCH does not know the API command {command!r}")
        return output

    def reload(self) -> None:
        """Make FreeSWITCH read the live directory, dialplan and configuration again."""
        output = self.api("reloadxml")
        if not output.startswith("+OK"):
            raise SandboxError(f"'reloadxml' answered {output.strip()!r}")

    def registrations(self, profile: str = "internal") -> set[str]:
        """user@domain of every registration on a SIP profile."""
        output = self.api(f"sofia status profile {profile} reg")
        return set(re.findall(r"^User:\s+(\S+)", output, re.MULTILINE))

    def queue_agents(self, queue: str) -> set[str]:
        """The agents mod_callcenter offers `queue`'s calls to (its tiers), by name."""
        return set(_first_column(self.api(f"callcenter_config queue list agents {queue}")))

    # --- the log ---------------------------------------------------------------------------

    def mark_log(self) -> LogMark:
        """Remember the end of freeswitch.log; log_errors() and log_lines() read from there."""
        if self.log_path.exists():
            stat = self.log_path.stat()
            self._mark = LogMark(stat.st_ino, stat.st_size)
        else:
            self._mark = LogMark(0, 0)
        return self._mark

    def log_lines(self, since: LogMark | None = None) -> list[str]:
        """Lines logged since `since` (default: the last mark_log(); without one, all)."""
        mark = since or self._mark or LogMark(0, 0)
        chunks: list[bytes] = []
        rotated = self.log_path.with_name(self.log_path.name + ".1")
        current_inode = self.log_path.stat().st_ino if self.log_path.exists() else 0
        if mark.inode and mark.inode != current_inode:
            # FreeSWITCH restarted since the mark: the rest of the old log, then the new one.
            if rotated.exists() and rotated.stat().st_ino == mark.inode:
                chunks.append(_read_from(rotated, mark.offset))
            if self.log_path.exists():
                chunks.append(_read_from(self.log_path, 0))
        elif self.log_path.exists():
            chunks.append(_read_from(self.log_path, mark.offset))
        return b"".join(chunks).decode(errors="replace").splitlines()

    def log_errors(
        self, since: LogMark | None = None, warnings: bool = False, ignore: tuple[str, ...] = ()
    ) -> list[str]:
        """[ERR] and [CRIT] lines (and [WARNING] with warnings=True) since the mark, but those
        containing one of `ignore`."""
        levels = ("[ERR]", "[CRIT]", "[ALERT]") + (("[WARNING]",) if warnings else ())
        return [
            line
            for line in self.log_lines(since)
            if any(level in line for level in levels) and not any(text in line for text in ignore)
        ]

    # --- Switchboard's include layout: switchboard/versions/<N>/ and live -> versions/<N> ------

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 600.0) -> Iterator[None]:
        """Hold the sandbox's configuration for this block.

        One FreeSWITCH serves every test run that uses this state dir; a test that switches the
        live version or reloads holds this lock (an flock in the state dir) so runs do not
        interleave.
        """
        lock_path = self.root / "config.lock"
        with lock_path.open("a") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SandboxError(f"{lock_path} held for over {timeout:.0f} s") from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def version_dir(self, number: int) -> Path:
        return self.switchboard_dir / "versions" / str(number)

    def write_version(self, number: int, files: Mapping[str, str]) -> Path:
        """Write versions/<number>/ with `files` (missing entry points are left empty)."""
        unknown = set(files) - set(ROOTS)
        if unknown:
            raise ValueError(f"not a Switchboard-included file: {sorted(unknown)}")
        target = self.version_dir(number)
        (target / "dialplan").mkdir(mode=0o750, parents=True, exist_ok=True)
        for name in ROOTS:
            path = target / name
            path.write_text(files.get(name, EMPTY_INCLUDE.format(name=name)))
            path.chmod(0o640)
        return target

    def activate_version(self, number: int) -> None:
        """Point switchboard/live at versions/<number> atomically (rename over the symlink)."""
        if not self.version_dir(number).is_dir():
            raise SandboxError(f"{self.version_dir(number)} does not exist")
        live = self.switchboard_dir / "live"
        staging = self.switchboard_dir / ".live.new"
        staging.unlink(missing_ok=True)
        staging.symlink_to(f"versions/{number}")
        os.replace(staging, live)

    def live_version(self) -> int:
        target = os.readlink(self.switchboard_dir / "live")
        return int(Path(target).name)

    def reset(self) -> None:
        """Back to the baseline, for a test module that holds `exclusive()`: no call up, no
        registration, versions/0 live and reloaded, no queue or agent left in mod_callcenter, no
        Switchboard gateway, every other version removed."""
        self.api("hupall NORMAL_CLEARING")
        self.api("sofia profile internal flush_inbound_reg")
        self.activate_version(0)
        self.reload()
        for queue in _first_column(self.api("callcenter_config queue list")):
            self.api(f"callcenter_config queue unload {queue}")
        for agent in _first_column(self.api("callcenter_config agent list")):
            self.api(f"callcenter_config agent del {agent}")
        self.api("sofia profile external killgw switchboard-trunk")
        for path in (self.switchboard_dir / "versions").iterdir():
            if path.name != "0":
                shutil.rmtree(path)


def _first_column(output: str) -> list[str]:
    """The first field of each row of a `callcenter_config ... list` table (after its header)."""
    rows = [line for line in output.splitlines() if "|" in line]
    return [row.split("|", 1)[0] for row in rows[1:]]
