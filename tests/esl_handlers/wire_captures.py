"""The FreeSWITCH wire captures, split and normalised, for the handler tests."""

from __future__ import annotations

from pathlib import Path

from control.events import CallEvent
from esl_handlers.esl_frames import PlainEvent, split_frames
from esl_handlers.freeswitch_events import normalise_freeswitch_event

WIRE = Path(__file__).resolve().parent.parent / "fixtures" / "freeswitch-wire"

EVENT_CAPTURES = {
    "events-register.txt": 12,
    "events-call-answered.txt": 14,
    "events-call-missed.txt": 8,
    "events-call-echo.txt": 7,
    "events-callcenter.txt": 28,
}


def capture(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def api_body(name: str) -> str:
    (frame,) = split_frames(capture(name))
    return frame.body.decode()


def plain_events(name: str) -> list[PlainEvent]:
    return [PlainEvent(frame.body) for frame in split_frames(capture(name))]


def normalised(name: str, node: str = "fs1") -> list[CallEvent]:
    events = (normalise_freeswitch_event(event, node) for event in plain_events(name))
    return [event for event in events if event is not None]
