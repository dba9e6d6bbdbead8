"""The hand-over from the API to a node's executor: a command put on the node's stream wakes the
executor's blocking XREAD at once (it is never picked up at the next poll of the stream), is
claimed once in the database and sent once, and its answer is recorded; the same entry replayed
is not sent again. A command awaiting its answer holds up no call, and state changes keep their
order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from control import command_channel, db, effects
from control.models import Command, PbxNode
from control.redis_conn import redis_client
from control.services import click_to_call, commands, tenants, users
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


def _recorded(user_id: int, node: str, kind: str) -> dict[str, Any]:
    """A command of `kind` recorded and committed, as its stream entry carries it."""
    with db.unit_of_work() as s:
        user = s.get(users.User, user_id)  # type: ignore[attr-defined]
        node_row = s.scalar(select(PbxNode).where(PbxNode.name == node))
        command = commands.record(
            s, node=node_row, kind=kind, actor=user, user=user, target="1001", params={"n": kind}
        )
        return {"id": command.id, "kind": kind, "params": {}}


async def test_a_slow_answer_holds_up_no_call_and_state_changes_keep_their_order(
    world: tuple[str, int],
) -> None:
    """The PBX answers the first DND change late: an originate behind it goes out meanwhile, the
    second DND change only once the first has its answer; each is sent once and recorded."""
    node, user_id = world
    executor = AsteriskCommandExecutor(node, lambda: FakeManager(), asyncio.Event(), send_timeout=5.0)
    started: list[int] = []
    gates: dict[int, asyncio.Event] = {}

    async def run(kind: str, params: dict[str, Any], command_id: int) -> tuple[str, str]:
        started.append(command_id)
        await gates[command_id].wait()
        return "ok", f"{kind} done"

    executor._run = run  # type: ignore[method-assign]
    first, call, second = [
        await asyncio.to_thread(_recorded, user_id, node, kind) for kind in ("dnd", "originate", "dnd")
    ]
    for command in (first, call, second):
        gates[command["id"]] = asyncio.Event()
    sending = [await executor.hand_over(command) for command in (first, call, second)]
    await _until("the call sent while the first DND change awaits its answer", lambda: len(started) == 2)
    assert started == [first["id"], call["id"]], "the second DND change waits for the first"
    gates[call["id"]].set()
    gates[second["id"]].set()
    await _until("the call's answer recorded", lambda: _state(call["id"]) == "ok")
    assert started == [first["id"], call["id"]] and _state(second["id"]) == "sending"
    gates[first["id"]].set()
    await asyncio.wait_for(asyncio.gather(*(task for task in sending if task is not None)), HANDOVER)
    assert started == [first["id"], call["id"], second["id"]]
    assert [_state(c["id"]) for c in (first, call, second)] == ["ok", "ok", "ok"]
    assert await executor.hand_over(first) is None, "claimed already: never sent again"
