"""The spacing of paced commands (a broadcast's calls and texts), one rule for both executors: a
command carrying `{"pace": {"key": ..., "seconds": ...}}` goes out at least `seconds` (at most
1 s) after the previous one of its key, whatever bunched them on the way to the listener."""

from __future__ import annotations

import time
from typing import Any


class Pacer:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def wait_for(self, params: dict[str, Any]) -> float:
        """Seconds to wait before sending a command with these parameters (0 for an unpaced one).
        The executor waits them, then calls `sent`."""
        pace = params.get("pace")
        if not isinstance(pace, dict):
            return 0.0
        key, seconds = str(pace.get("key")), min(float(pace.get("seconds") or 0), 1.0)
        return max(0.0, self._last.get(key, 0.0) + seconds - time.monotonic())

    def sent(self, params: dict[str, Any]) -> None:
        pace = params.get("pace")
        if isinstance(pace, dict):
            self._last[str(pace.get("key"))] = time.monotonic()
