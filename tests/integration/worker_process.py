"""`switchboard worker` (rq, with its scheduler) as operators run it: a child process of its own,
its log in a file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, log_path: Path, database_url: str | None = None, **env: str) -> None:
        self.log_path = log_path
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        if database_url is not None:
            environment["DATABASE_URL"] = database_url
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "worker"],
                cwd=REPO,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def exited(self) -> bool:
        return self.process.poll() is not None

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it (rq finishes its job); SIGKILL after 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
