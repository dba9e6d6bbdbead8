"""The database side of a node's command executor, shared by both PBX kinds (blocking calls: the
executors run them in a worker thread). Each is one unit of work, effects dispatched after."""

from __future__ import annotations

from control.db import unit_of_work
from control.services import broadcast_sending, commands, dnd, texts


def claim(command_id: int) -> bool:
    """queued -> sending: one UPDATE that commits by itself (the send waits for it)."""
    with unit_of_work(autocommit=True) as session:
        return commands.claim(session, command_id)


def finish(command_id: int, state: str, answer: str) -> None:
    with unit_of_work() as session:
        command = commands.finish(session, command_id, state, answer)
        if command is not None and command.kind in ("message", "broadcast_call"):
            broadcast_sending.on_command_finished(session, command)


def broadcast_result(command_id: int, result: str) -> None:
    """A broadcast call's result as the PBX reports it (answered, busy, no answer, ...)."""
    with unit_of_work() as session:
        broadcast_sending.on_call_result(session, command_id, result)


def abandon_in_flight(node: str) -> list[int]:
    with unit_of_work() as session:
        return commands.abandon_in_flight(session, node)


def receive_text(node: str, sender: str, recipient: str, body: str) -> None:
    with unit_of_work() as session:
        texts.receive(session, node, sender, recipient, body)


def live_state(node: str) -> list[dict]:
    with unit_of_work() as session:
        return dnd.live_state(session, node)
