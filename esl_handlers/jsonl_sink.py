"""An EventSink that writes one JSON object per line (for `switchboard listen --stdout`, replays
and the listener tests)."""

from __future__ import annotations

import sys
from typing import BinaryIO

import orjson

from control.events import CallEvent, Snapshot, event_to_dict, snapshot_to_dict
from esl_handlers.listener_config import ListenerConfig


class JsonLinesSink:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def submit(self, event: CallEvent) -> None:
        self._write(event_to_dict(event))

    def resync(self, snapshot: Snapshot) -> None:
        self._write(snapshot_to_dict(snapshot))

    def _write(self, record: dict) -> None:
        self._stream.write(orjson.dumps(record, default=str) + b"\n")
        self._stream.flush()


def stdout_sink(config: ListenerConfig) -> JsonLinesSink:
    """Sink factory for the listener entry points: JSON lines on stdout."""
    return JsonLinesSink(sys.stdout.buffer)
