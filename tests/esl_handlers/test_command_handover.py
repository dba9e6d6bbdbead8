"""The hand-over from the API to a node's executor: a command put on the node's stream wakes the
executor's blocking XREAD at once (it is never picked up at the next poll of the stream), is
claimed once in the database and sent once, and its answer is recorded; the same entry replayed
is not sent again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from control import command_channel, db, effects
from control.models import Command
from control.redis_conn import redis_client
from control.services import click_to_call, tenants, users
from esl_handlers.command_executor import AsteriskCommandExecutor
from tests.command_nodes import add_node

#: Long enough that a reader polling the stream, or a block that never woke, would miss HANDOVER.
BLOCK_MS = 60_000
HANDOVER = 5.0


class FakeManager:
    """The listener's AMI connection, as the executor sees it."""

    lost = False

    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    async def send_action(self, action: dict[str, Any], as_list: bool | None = False) -> dict[str, str]:
        self.sent.append((time.monotonic(), action))
        self.arrived.set()
        return {"Response": "Success", "Message": "Originate successfully queued"}


@pytest.fixture()
def world(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    node = f"handover-{time.time_ns()}"
    with db.unit_of_work() as s:
        tenant = tenants.create_tenant(s, {"name": "handover", "domain": "handover.switchboard.test"})
        user = users.create_user(
            s, tenant.id, {"name": "Ann", "email": "ann@handover.example", "extension": "1001"}, None
        )
        tenant_id, user_id = tenant.id, user.id
    add_node(tenant_id, node, user_id)
    redis_client().delete(command_channel.stream(node))
    monkeypatch.setattr(command_channel, "READ_BLOCK_MS", BLOCK_MS)
    try:
        yield node, user_id
    finally:
        redis_client().delete(command_channel.stream(node))
        effects.clear_handlers()


def _originate(user_id: int) -> int:
    """The API's unit of work: the command row, the commit, then the entry on the stream."""
    with db.unit_of_work() as s:
        me = s.get(users.User, user_id)  # type: ignore[attr-defined]
        return click_to_call.originate(s, me, {"target": "+14155550123"}).id


def _blocked_readers() -> int:
    return sum(
        1
        for client in redis_client().client_list()
        if client.get("cmd") == "xread" and "b" in client["flags"]
    )


async def _until(what: str, probe: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _state(command_id: int) -> str:
    with db.unit_of_work() as s:
        command = s.get(Command, command_id)
        assert command is not None
        return command.state


async def test_a_command_wakes_the_blocked_reader_and_is_sent_once(world: tuple[str, int]) -> None:
    node, user_id = world
    manager = FakeManager()
    stop = asyncio.Event()
    executor = AsteriskCommandExecutor(node, lambda: manager, stop, send_timeout=5.0)
    readers = _blocked_readers()
    task = asyncio.create_task(executor.run())
    try:
        await _until("the executor blocked on its stream", lambda: _blocked_readers() > readers)
        committed = time.monotonic()
        command_id = await asyncio.to_thread(_originate, user_id)
        await asyncio.wait_for(manager.arrived.wait(), HANDOVER)
        ((at, action),) = manager.sent
        assert at - committed < HANDOVER and action["Action"] == "Originate"
        assert action["Exten"] == "+14155550123" and action["Channel"] == "Local/1001@switchboard-devices"
        await _until("the answer recorded", lambda: _state(command_id) == "ok")

        # the same entry again (a replay after a restart): claimed already, never re-sent; the
        # next command, behind it on the stream, shows it was read
        ((_, fields),) = redis_client().xrange(command_channel.stream(node))
        assert orjson.loads(fields[b"command"])["id"] == command_id
        redis_client().xadd(
            command_channel.stream(node), {"id": str(command_id), "command": fields[b"command"]}
        )
        manager.arrived.clear()
        following = await asyncio.to_thread(_originate, user_id)
        await asyncio.wait_for(manager.arrived.wait(), HANDOVER)
        await _until("the next answer recorded", lambda: _state(following) == "ok")
        assert len(manager.sent) == 2 and _state(command_id) == "ok"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
