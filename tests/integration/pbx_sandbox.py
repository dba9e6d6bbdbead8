"""What the Asterisk and FreeSWITCH sandboxes share as tests see them: their script (ensure,
start, stop, restart, status, path), a log read from a mark, the lock a test holds on the
sandbox's configuration, and Switchboard's switchboard/versions/<N> + live layout in it.

A subclass sets `config_dir`, `switchboard_dir`, `log_path` and `config_lock` in its __init__
(after `ScriptSandbox.__init__`, which asks the script for its root) and says which log lines
are errors. Nothing here skips: when a sandbox cannot be built or started, `SandboxError` says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class SandboxError(RuntimeError):
    """The sandbox script failed, or the PBX rejected a command."""


@dataclass(frozen=True)
class LogMark:
    """A position in the PBX's log; the inode tells a rotated (restarted) log apart."""

    inode: int
    offset: int


class ScriptSandbox:
    """A PBX run by a sandbox script (deploy/<kind>/sandbox)."""

    config_dir: Path
    switchboard_dir: Path
    log_path: Path  # rotated to <name>.1 when the PBX restarts
    config_lock: Path
    error_levels: tuple[str, ...]
    warning_levels: tuple[str, ...]

    def __init__(self, script: Path, build_timeout: float) -> None:
        self.script = script
        self.build_timeout = build_timeout
        self.root = Path(self._run("path", timeout=10).strip())
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
        """Build or install the PBX unless a complete one is cached."""
        self._run("ensure", timeout=self.build_timeout)

    def start(self) -> None:
        """Build if needed, start the PBX and wait until its control connection answers."""
        self._run("start", timeout=self.build_timeout)

    def stop(self) -> None:
        self._run("stop", timeout=60)

    def restart(self) -> None:
        self._run("restart", timeout=self.build_timeout)

    def is_running(self) -> bool:
        done = subprocess.run(
            [str(self.script), "status"], capture_output=True, text=True, timeout=10, check=False
        )
        return done.returncode == 0

    # --- the log ---------------------------------------------------------------------------

    def mark_log(self) -> LogMark:
        """Remember the end of the log; log_errors() and log_lines() read from there."""
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
            # The PBX restarted since the mark: the rest of the old log, then the new one.
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
        """Error lines (and warnings with warnings=True) since the mark, but those containing
        one of `ignore`."""
        levels = self.error_levels + (self.warning_levels if warnings else ())
        return [
            line
            for line in self.log_lines(since)
            if any(level in line for level in levels) and not any(text in line for text in ignore)
        ]

    # --- Switchboard's include layout: switchboard/versions/<N>/ and live -> versions/<N> ------

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 600.0) -> Iterator[None]:
        """Hold the sandbox's configuration for this block.

        One PBX serves every test run on the machine that uses this sandbox; a test that switches
        the live version or reloads holds this lock (an flock) so runs do not interleave.
        """
        with self.config_lock.open("a") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SandboxError(f"{self.config_lock} held for over {timeout:.0f} s") from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def version_dir(self, number: int) -> Path:
        return self.switchboard_dir / "versions" / str(number)

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


def _read_from(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(offset if offset <= size else 0)
        return handle.read()
