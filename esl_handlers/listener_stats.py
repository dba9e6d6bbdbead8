"""Counters a listener keeps (read by tests, logs and, later, metrics)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ListenerStats:
    received: int = 0
    processed: int = 0
    ignored: int = 0
    unknown: int = 0
    malformed: int = 0
    sink_errors: int = 0
    connects: int = 0
    disconnects: int = 0
    auth_failures: int = 0
    resyncs: int = 0
    resync_failures: int = 0
    watchdog_timeouts: int = 0
    reader_waits: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def count_rejected(self, kind: str, node: str, detail: object) -> None:
        """Count an unknown or malformed event; log the first ones and then every thousandth."""
        count = getattr(self, kind) + 1
        setattr(self, kind, count)
        if count <= 20 or count % 1000 == 0:
            log.warning("%s: %s event skipped (%d so far): %s", node, kind, count, detail)
