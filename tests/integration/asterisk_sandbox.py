"""The sandbox Asterisk (deploy/asterisk/sandbox) as tests see it: start it, talk to it, read its
log, and stage Switchboard config versions in its switchboard/ folder.

Nothing here skips: when the sandbox cannot be built or started, `SandboxError` says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO / "deploy" / "asterisk" / "sandbox"
INCLUDED_FILES = ("pjsip.conf", "extensions.conf", "queues.conf")


class SandboxError(RuntimeError):
    """The sandbox script failed, or Asterisk rejected a CLI command."""


@dataclass(frozen=True)
class LogMark:
    """A position in messages.log; the inode tells a rotated (restarted) log apart."""

    inode: int
    offset: int


class AsteriskSandbox:
    """Asterisk 22 in the cached chroot: AMI on 127.0.0.1:5038, pjsip UDP and TCP on 127.0.0.1:5060
    (or the ports the SWITCHBOARD_SANDBOX_* variables name, as the script reads them)."""

    ami_host = "127.0.0.1"
    ami_port = int(os.environ.get("SWITCHBOARD_SANDBOX_AMI_PORT", "5038"))
    ami_user = "switchboard"
    ami_secret = "sandbox-secret"
    sip_host = "127.0.0.1"
    sip_port = int(os.environ.get("SWITCHBOARD_SANDBOX_SIP_PORT", "5060"))

    def __init__(self, script: Path = SANDBOX_SCRIPT, build_timeout: float = 900.0) -> None:
        self.script = script
        self.build_timeout = build_timeout
        self.root = Path(self._run("path", timeout=10).strip())
        self.config_dir = self.root / "etc" / "asterisk"
        # The configuration the Debian package installed, before anything was wired.
        self.stock_dir = self.root / "var" / "lib" / "switchboard-sandbox" / "stock-etc-asterisk"
        self.switchboard_dir = self.config_dir / "switchboard"
        self.log_path = self.root / "var" / "log" / "asterisk" / "messages.log"
        self._mark: LogMark | None = None

    def _run(self, *args: str, timeout: float) -> str:
        try:
            done = subprocess.run(
                [str(self.script), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
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
        """Build the chroot unless a complete one is cached."""
        self._run("ensure", timeout=self.build_timeout)

    def start(self, keep_config: bool = False) -> None:
        """Build if needed, start Asterisk and wait until it is fully booted with AMI up.

        keep_config: run on etc/asterisk as it is, not on the sandbox's own base configuration."""
        self._run("start", *(["--keep-config"] if keep_config else []), timeout=self.build_timeout)

    def stop(self) -> None:
        self._run("stop", timeout=60)

    def restart(self) -> None:
        self._run("restart", timeout=self.build_timeout)

    def is_running(self) -> bool:
        done = subprocess.run(
            [str(self.script), "status"], capture_output=True, text=True, timeout=10, check=False
        )
        return done.returncode == 0

    def cli(self, command: str, timeout: float = 30.0) -> str:
        """Run an Asterisk CLI command (asterisk -rx) and return its output."""
        output = self._run("cli", command, timeout=timeout)
        if output.startswith("No such command"):
            raise SandboxError(f"Asterisk does not know the CLI command {command!r}")
        return output

    def reload(self) -> None:
        """Make Asterisk read the live pjsip, dialplan and queue configuration again."""
        checks = {
            "module reload res_pjsip.so": "reloaded successfully",
            "dialplan reload": "Dialplan reloaded",
            "module reload app_queue.so": "reloaded successfully",
        }
        for command, expected in checks.items():
            output = self.cli(command)
            if expected not in output:
                raise SandboxError(f"{command!r} answered {output.strip()!r}")

    # --- the messages log -------------------------------------------------------------------

    def mark_log(self) -> LogMark:
        """Remember the end of messages.log; log_errors() and log_lines() read from there."""
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
            # Asterisk restarted since the mark: the rest of the old log, then the new one.
            if rotated.exists() and rotated.stat().st_ino == mark.inode:
                chunks.append(_read_from(rotated, mark.offset))
            if self.log_path.exists():
                chunks.append(_read_from(self.log_path, 0))
        elif self.log_path.exists():
            chunks.append(_read_from(self.log_path, mark.offset))
        return b"".join(chunks).decode(errors="replace").splitlines()

    def log_errors(self, since: LogMark | None = None, warnings: bool = False) -> list[str]:
        """ERROR lines (and WARNING lines with warnings=True) since the mark."""
        levels = (" ERROR[", " WARNING[") if warnings else (" ERROR[",)
        return [line for line in self.log_lines(since) if any(lv in line for lv in levels)]

    # --- Switchboard's include layout: switchboard/versions/<N>/ and live -> versions/<N> ------

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 600.0) -> Iterator[None]:
        """Hold the sandbox's configuration for this block.

        One Asterisk serves every test run on the machine; a test that switches the live version
        or reloads holds this lock (an flock next to the chroot) so runs do not interleave.
        """
        lock_path = self.root.with_name(self.root.name + ".config.lock")
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
        """Write versions/<number>/ with `files` (missing included files are left empty)."""
        unknown = set(files) - set(INCLUDED_FILES)
        if unknown:
            raise ValueError(f"not a Switchboard-included file: {sorted(unknown)}")
        owner = self.config_dir.stat()
        target = self.version_dir(number)
        target.mkdir(mode=0o750, parents=True, exist_ok=True)
        os.chown(target, owner.st_uid, owner.st_gid)
        for name in INCLUDED_FILES:
            path = target / name
            path.write_text(files.get(name, f"; {name}: nothing in this version\n"))
            path.chmod(0o640)
            os.chown(path, owner.st_uid, owner.st_gid)
        return target

    def activate_version(self, number: int) -> None:
        """Point switchboard/live at versions/<number> atomically (rename over the symlink)."""
        if not self.version_dir(number).is_dir():
            raise SandboxError(f"{self.version_dir(number)} does not exist")
        live = self.switchboard_dir / "live"
        staging = self.switchboard_dir / ".live.new"
        staging.unlink(missing_ok=True)
        staging.symlink_to(f"versions/{number}")
        owner = self.config_dir.stat()
        os.chown(staging, owner.st_uid, owner.st_gid, follow_symlinks=False)
        os.replace(staging, live)

    def live_version(self) -> int:
        target = os.readlink(self.switchboard_dir / "live")
        return int(Path(target).name)

    def reset(self) -> None:
        """Back to the baseline, for a test module that holds `exclusive()`: no call left up (a
        caller sipp killed at its timeout leaves its channel, which a listener's resync would
        count), versions/0 live and reloaded, every other version removed."""
        self.cli("channel request hangup all")
        self.activate_version(0)
        self.reload()
        for path in (self.switchboard_dir / "versions").iterdir():
            if path.name != "0":
                shutil.rmtree(path)


def _read_from(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(offset if offset <= size else 0)
        return handle.read()
