"""The FreeSWITCH wire captures, split and normalised, for the handler tests."""

from __future__ import annotations

from pathlib import Path

from control.db import unit_of_work
from control.events import CallEvent
from control.services import nodes, queues, tenants, users
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


def capture_tenant(node: str = "fs1", domain: str = "192.0.2.2") -> dict[str, int]:
    """The captures' world as a tenant of `domain`: users 1000 (the caller) and 1001, queue
    support = 7000 with 1001 in it, and the FreeSWITCH node `node`. Ids by extension, plus
    tenant_id and queue_id."""
    with unit_of_work() as s:
        tenant = tenants.create_tenant(s, {"name": f"capture {node}", "domain": domain})
        ids = {
            ext: users.create_user(
                s,
                tenant.id,
                {"name": f"User {ext}", "email": f"u{ext}@{node}.capture.example", "extension": ext},
                None,
            ).id
            for ext in ("1000", "1001")
        }
        queue = queues.create_queue(
            s,
            tenant.id,
            {"name": "support", "extension": "7000", "members": [{"user_id": ids["1001"]}]},
            None,
        )
        nodes.create_node(
            s,
            {
                "name": node,
                "kind": "freeswitch",
                "host": "127.0.0.1",
                "port": 8021,
                "secret": "ClueCon",
                "config_dir": "/etc/freeswitch",
                "tenant_id": tenant.id,
            },
            None,
        )
        return {"tenant_id": tenant.id, "queue_id": queue.id, **ids}
