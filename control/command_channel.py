"""The way commands travel to the live PBX: one Redis stream per node, read by the executor in
that node's listener process (which owns the AMI/ESL connection).

After the commit, `CommandQueued` effects are appended to their node's stream; `CommandFinished`
effects are published on the tenant's live channel for the browser. The stream is only the
hand-over: the command's state of record is its row (see control/services/commands.py), and an
entry whose command is no longer queued is never sent again.
"""

from __future__ import annotations

import time

from control import effects
from control.live import publish_all
from control.redis_conn import redis_client

#: entries kept per node stream (a trimmed entry is long expired anyway)
STREAM_LENGTH = 10_000
#: How long an executor's XREAD blocks (ms): a new entry wakes it at once, this only bounds how
#: long it takes to notice a stop. Never poll the stream with sleeps in between: a command would
#: wait for the next poll.
READ_BLOCK_MS = 500


def stream(node: str) -> str:
    return f"switchboard:commands:{node}"


def _hand_over(items: list[effects.CommandQueued]) -> None:
    pipe = redis_client().pipeline(transaction=False)
    for item in sorted(items, key=lambda i: i.command_id):
        pipe.xadd(
            stream(item.node),
            {"id": str(item.command_id), "command": item.payload},
            maxlen=STREAM_LENGTH,
            approximate=True,
        )
    pipe.execute()


def _publish_finished(items: list[effects.CommandFinished]) -> None:
    publish_all(
        [
            (
                item.tenant_id,
                {
                    "type": "command",
                    "command_id": item.command_id,
                    "kind": item.kind,
                    "user_id": item.user_id,
                    "state": item.state,
                    "answer": item.answer,
                    "at": time.time(),
                },
            )
            for item in items
        ]
    )


def register_command_handlers() -> None:
    """Call once in each process that records or finishes commands (web, listener, worker)."""
    from control.broadcast_jobs import register_broadcast_handlers

    effects.register(effects.CommandQueued, _hand_over)
    effects.register(effects.CommandFinished, _publish_finished)
    register_broadcast_handlers()  # a finished command may be a broadcast recipient's result
