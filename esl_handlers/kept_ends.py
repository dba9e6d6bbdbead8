"""When what the PBX kept of ended channels (control.events.ENDED_STORE) may be pruned."""

from __future__ import annotations

from control.events import EventSink

#: How long a listener waits for its sink before pruning; past it the kept ends stay for the
#: next resync (applying them twice changes nothing: their event ids are per channel).
DRAIN_TIMEOUT = 30.0


def sink_has_applied(sink: EventSink, timeout: float = DRAIN_TIMEOUT) -> bool:
    """Whether what the sink was given is applied (or durably spooled): only then may what the
    PBX kept for it be pruned. A sink that cannot say is taken at its word."""
    drain = getattr(sink, "drain", None)
    return bool(drain(timeout)) if callable(drain) else True
