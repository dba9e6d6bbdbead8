"""Runs a listener entry point in a child process (gevent must not patch the pytest process) and
collects what its JSON-lines sink writes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from esl_handlers.listener_config import ListenerConfig
from esl_handlers.listener_process import spawn_listener

REPO = Path(__file__).resolve().parents[2]


class ListenerProcess:
    def __init__(self, config: dict[str, Any]) -> None:
        self.records: list[dict[str, Any]] = []
        self.stderr_lines: list[str] = []
        self.stats: dict[str, int] | None = None
        self._process = spawn_listener(
            ListenerConfig.from_mapping(config),
            log_level="DEBUG",
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.records.append(json.loads(line))

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for raw in self._process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stderr_lines.append(line)
            if line.startswith('{"stats"'):
                self.stats = json.loads(line)["stats"]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [record for record in self.records if record["type"] != "Snapshot"]

    @property
    def snapshots(self) -> list[dict[str, Any]]:
        return [record for record in self.records if record["type"] == "Snapshot"]

    def _check(self, condition: Callable[[ListenerProcess], bool]) -> bool:
        if condition(self):
            return True
        if self._process.poll() is not None:
            raise AssertionError("listener exited early:\n" + "\n".join(self.stderr_lines[-30:]))
        return False

    def _timed_out(self, timeout: float) -> AssertionError:
        return AssertionError(
            f"condition not met in {timeout}s; {len(self.records)} records\n"
            + "\n".join(self.stderr_lines[-30:])
        )

    def wait_for(self, condition: Callable[[ListenerProcess], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._check(condition):
                return
            time.sleep(0.02)
        raise self._timed_out(timeout)

    async def wait_for_async(
        self, condition: Callable[[ListenerProcess], bool], timeout: float = 20.0
    ) -> None:
        """Same, yielding to the event loop (for fakes that run in the test's loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._check(condition):
                return
            await asyncio.sleep(0.02)
        raise self._timed_out(timeout)

    def stop(self) -> dict[str, int]:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise AssertionError("listener did not stop on SIGTERM") from None
        for reader in self._readers:
            reader.join(timeout=5)
        assert self._process.returncode == 0, "\n".join(self.stderr_lines[-30:])
        assert self.stats is not None, "no final stats line"
        return self.stats

    async def stop_async(self) -> dict[str, int]:
        return await asyncio.to_thread(self.stop)

    def __enter__(self) -> ListenerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
