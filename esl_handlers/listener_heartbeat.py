"""The "listener connected" heartbeat of one node (see control/listener_status.py).

Transport-neutral and blocking: the FreeSWITCH listener calls it from a greenlet (Redis I/O is
gevent-patched there), the Asterisk listener from a worker thread. A Redis that does not answer
never takes the PBX connection down: the failure is logged once and the next beat tries again.
"""

from __future__ import annotations

import logging
import time

from esl_handlers.listener_config import ListenerConfig

log = logging.getLogger(__name__)


class ListenerHeartbeat:
    def __init__(self, config: ListenerConfig) -> None:
        self.node = config.node
        self.tenant_id = config.tenant_id
        self.ttl = config.status_ttl
        self.since: float | None = None
        self._last = 0.0
        self._failing = False

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    @property
    def interval(self) -> float:
        """Three beats per time-to-live."""
        return self.ttl / 3

    def due(self) -> bool:
        return self.enabled and time.monotonic() - self._last >= self.interval

    def beat(self) -> None:
        """The PBX connection is up: renew the key (a no-op when the heartbeat is off)."""
        if not self.enabled:
            return
        from control import listener_status

        if self.since is None:
            self.since = time.time()
        self._last = time.monotonic()
        try:
            listener_status.beat(self.node, self.tenant_id, self.since, self.ttl)
        except Exception as exc:  # Redis down: the key expires, the PBX connection lives on
            if not self._failing:
                log.warning("%s: listener heartbeat not written: %r", self.node, exc)
            self._failing = True
        else:
            self._failing = False

    def clear(self) -> None:
        """The PBX connection ended."""
        if not self.enabled or self.since is None:
            return
        from control import listener_status

        self.since = None
        self._last = 0.0
        try:
            listener_status.clear(self.node, self.tenant_id)
        except Exception as exc:
            log.warning("%s: listener heartbeat not cleared (it expires): %r", self.node, exc)
