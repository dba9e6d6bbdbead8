"""The broadcast sender between its steps: it waits for the next slot or for a change made
elsewhere, so a pause (or a cancel) stops it as soon as it is committed and a result frees a line
for the next call at once, however long its idle look-again is. Real Redis (pub/sub) and the real
database; the sender runs in a thread of this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from control import broadcast_jobs, db, effects
from control.models import BroadcastRecipient, Command
from control.services import (
    broadcast_sending,
    broadcasts,
    commands,
    contacts,
    lines,
    nodes,
    numbers,
    tags,
    tenants,
)
from tests.worker.rq_support import deploy_redis
from worker.broadcasts import send_slice

#: Without a wake-up the sender would look again only this long after its last look.
SLOW_LOOK = 5.0


@pytest.fixture()
def broadcast_id(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(broadcast_sending, "IDLE_WAIT", SLOW_LOOK)
    with deploy_redis():
        broadcast_jobs.register_broadcast_handlers()
        try:
            with db.unit_of_work() as s:
                tenant = tenants.create_tenant(
                    s, {"name": "wake", "domain": "wake.example", "trunk_host": "127.0.0.1"}
                )
                tenant.broadcast_max_concurrent = 1
                number = numbers.create_number(s, tenant.id, {"number": "+12125550188"}, None)
                line = lines.create_line(
                    s,
                    tenant.id,
                    {"name": "Sales", "destination_kind": "hangup", "number_ids": [number.id]},
                    None,
                )
                nodes.create_node(
                    s,
                    {
                        "name": "wake-node",
                        "kind": "freeswitch",
                        "host": "127.0.0.1",
                        "port": 8021,
                        "secret": "ClueCon",
                        "config_dir": "/tmp/wake-node",
                        "tenant_id": tenant.id,
                    },
                    None,
                )
                tag = tags.create_tag(s, tenant.id, {"name": "All"}, None)
                for index in range(3):
                    contacts.create_contact(
                        s,
                        tenant.id,
                        {
                            "first_name": f"P{index}",
                            "numbers": [{"number": f"+1415555{index:04d}"}],
                            "tag_ids": [tag.id],
                        },
                        None,
                    )
                broadcast = broadcasts.create_broadcast(
                    s,
                    tenant.id,
                    {
                        "name": "Wake",
                        "kind": "text",
                        "message": "hi",
                        "line_id": line.id,
                        "tag_ids": [tag.id],
                    },
                    None,
                )
                broadcast_sending.act(s, tenant.id, broadcast.id, "start", None)
                yield_id = broadcast.id
            yield yield_id
        finally:
            effects.clear_handlers()


def _sending(broadcast_id: int) -> list[int]:
    with db.unit_of_work() as s:
        return list(
            s.scalars(
                select(BroadcastRecipient.command_id).where(
                    BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "sending"
                )
            )
        )


def _wait(what: str, probe, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def idle(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Set while the sender is in its long idle wait (nothing to send until something changes)."""
    waiting = threading.Event()
    original = broadcast_jobs.Changes.wait

    def wait(self: broadcast_jobs.Changes, seconds: float) -> bool:
        if seconds >= SLOW_LOOK:
            waiting.set()
        try:
            return original(self, seconds)
        finally:
            waiting.clear()

    monkeypatch.setattr(broadcast_jobs.Changes, "wait", wait)
    return waiting


def _sender(broadcast_id: int) -> tuple[threading.Thread, list[bool]]:
    ended: list[bool] = []
    thread = threading.Thread(target=lambda: ended.append(send_slice(broadcast_id, 30.0)), daemon=True)
    thread.start()
    return thread, ended


def _deliver(command_id: int) -> None:
    with db.unit_of_work() as s:
        command = commands.finish(s, command_id, "ok", "delivered")
        assert command is not None
        broadcast_sending.on_command_finished(s, command)


def test_a_result_frees_the_line_for_the_next_text_at_once(broadcast_id: int, idle: threading.Event) -> None:
    thread, ended = _sender(broadcast_id)
    (first,) = _wait("the first text", lambda: _sending(broadcast_id))
    # One at a time (max concurrent 1): the sender waits; the delivery wakes it.
    assert idle.wait(10), "the sender never waited for a free line"
    delivered = time.monotonic()
    _deliver(first)
    (second,) = _wait("the second text", lambda: _sending(broadcast_id))
    assert time.monotonic() - delivered < 1.0, "the sender waited for its idle look, not the result"
    _deliver(second)
    (third,) = _wait("the third text", lambda: _sending(broadcast_id))
    _deliver(third)
    thread.join(timeout=5)
    assert ended == [False], "the sender ends with the broadcast done"


def test_a_pause_stops_the_waiting_sender_as_soon_as_it_is_committed(
    broadcast_id: int, idle: threading.Event
) -> None:
    thread, ended = _sender(broadcast_id)
    _wait("the first text", lambda: _sending(broadcast_id))
    assert idle.wait(10), "the sender never waited for a free line"
    with db.unit_of_work() as s:
        tenant_id = s.scalar(select(Command.tenant_id).order_by(Command.id.desc()).limit(1))
        broadcast_sending.act(s, tenant_id, broadcast_id, "pause", None)
    paused = time.monotonic()
    thread.join(timeout=SLOW_LOOK + 5)
    assert ended == [False] and time.monotonic() - paused < 1.0, "the pause waited for the idle look"
