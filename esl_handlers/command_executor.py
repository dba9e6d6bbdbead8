"""The command executor of one Asterisk node, inside its listener process (asyncio).

Commands arrive on the node's Redis stream (control/command_channel.py). Each is claimed in the
database (queued -> sending, once) before it is written to the AMI connection the listener
already has, so a replayed stream entry or a second executor never sends it again. Every send
has a timeout; the PBX's answer is recorded on the command. A command is sent and its answer
awaited in a task of its own, so the stream is read on at once: a text awaiting its delivery never
delays the next call; the kinds that change a state (commands.ORDERED_KINDS) still go out one
after the other, in order. A connection lost after the send leaves the command's fate unknown: it
is marked so and reported, never re-sent (the listener's Manager fails such actions instead of
re-sending them, see asterisk_listener).

Inbound texts (the rendered message context raises a UserEvent) are recorded here too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis

from control import automation_jobs, command_channel, live
from control.redis_conn import redis_url
from control.render import names
from control.services import commands
from esl_handlers import asterisk_commands as ami
from esl_handlers import command_records as records
from esl_handlers.command_pacing import Pacer
from esl_handlers.command_values import BadCommand

log = logging.getLogger(__name__)

ManagerSource = Callable[[], Any]


def _decode64(value: str | None) -> str:
    try:
        return base64.b64decode(value or "", validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


class AsteriskCommandExecutor:
    def __init__(
        self,
        node: str,
        manager: ManagerSource,
        stop: asyncio.Event,
        send_timeout: float = commands.SEND_TIMEOUT,
    ) -> None:
        self.node = node
        self.manager = manager
        self.stop = stop
        self.send_timeout = send_timeout
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commands-{node}")
        #: the claims' own thread: a claim never waits behind answers and texts being recorded
        self._claims = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"claims-{node}")
        self._texts: asyncio.Queue = asyncio.Queue()
        #: texts sent, waiting for the dialplan's delivery status, by command id
        self._deliveries: dict[str, asyncio.Future] = {}
        #: when the last paced command of each key went out (broadcasts: per tenant)
        self._pacer = Pacer()
        #: commands being sent, their answers awaited; the last one of the ORDERED_KINDS
        self._sending: set[asyncio.Task] = set()
        self._ordered: asyncio.Task | None = None
        self.sent = 0

    # --- the database, in a thread -------------------------------------------------------------

    async def _in_db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    @staticmethod
    def carries_a_text(message: Any) -> bool:
        """An event of the Local channel that sends a text (the AMI filters drop most of them)."""
        return any(
            str(message.get(header) or "").startswith(ami.OWN_CHANNEL_PREFIXES)
            for header in ("Channel", "DestChannel", "Device")
        )

    # --- inbound texts ---------------------------------------------------------------------------

    def on_user_event(self, message: Any) -> None:
        """From the listener's reader: an inbound text, or a sent text's status (never blocks)."""
        name = message.get("UserEvent")
        if name == names.AST_BROADCAST_EVENT:
            self._texts.put_nowait(
                (None, str(message.get("Command") or ""), str(message.get("Status") or ""))
            )
            return
        if name == names.AST_TEXT_SENT_EVENT:
            waiting = self._deliveries.get(str(message.get("Command") or ""))
            if waiting is not None and not waiting.done():
                waiting.set_result(str(message.get("Status") or ""))
            return
        if name != names.AST_TEXT_EVENT:
            return
        self._texts.put_nowait(
            (
                _decode64(message.get("From64")),
                _decode64(message.get("To64")),
                _decode64(message.get("Body64")),
            )
        )

    async def _record_texts(self) -> None:
        while True:
            sender, recipient, body = await self._texts.get()
            try:
                if sender is None:  # a broadcast call's result: (None, command id, DIALSTATUS)
                    if recipient.isdigit():
                        await self._in_db(records.broadcast_result, int(recipient), body)
                    continue
                await self._in_db(records.receive_text, self.node, sender, recipient, body)
            except Exception:
                log.exception("%s: an inbound text could not be recorded", self.node)

    # --- sending -------------------------------------------------------------------------------

    async def _connection(self) -> Any:
        deadline = time.monotonic() + self.send_timeout
        while time.monotonic() < deadline:
            manager = self.manager()
            if manager is not None and not manager.lost:
                return manager
            await asyncio.sleep(0.05)
        return None

    async def _send(self, manager: Any, action: dict[str, Any], as_list: bool | None = False) -> Any:
        return await asyncio.wait_for(manager.send_action(action, as_list=as_list), self.send_timeout)

    async def _actions(
        self, manager: Any, kind: str, params: dict[str, Any], command_id: int
    ) -> list[dict[str, Any]]:
        if kind not in ("hangup", "transfer"):
            return ami.actions_for(kind, params, command_id)
        listing = await self._send(manager, {"Action": "CoreShowChannels"}, as_list=None)
        channel = ami.channel_of(params["call_id"], listing if isinstance(listing, list) else [listing])
        if channel is None:
            raise LookupError("the call is no longer up")
        if kind == "hangup":
            return [ami.hangup(channel)]
        return [ami.transfer(channel, params["target"])]

    async def hand_over(self, command: dict[str, Any]) -> asyncio.Task | None:
        """Claim the command and start sending it in a task that records the answer; None if it
        was sent already or expired (recorded as failed)."""
        command_id, kind = int(command["id"]), str(command["kind"])
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(self._claims, records.claim, command_id):
            return None
        params = command.get("params") or {}
        await self._pace(params)
        after = self._ordered if kind in commands.ORDERED_KINDS else None
        sending = asyncio.create_task(self._send_and_record(command_id, kind, params, after))
        if kind in commands.ORDERED_KINDS:
            self._ordered = sending
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)
        return sending

    async def _send_and_record(
        self, command_id: int, kind: str, params: dict[str, Any], after: asyncio.Task | None
    ) -> None:
        if after is not None:
            await asyncio.wait({after})
        try:
            state, answer = await self._run(kind, params, command_id)
            await self._in_db(records.finish, command_id, state, answer)
        except Exception:
            log.exception("%s: command %s (%s) failed", self.node, command_id, kind)
            return
        log.info("%s: command %s (%s) %s: %s", self.node, command_id, kind, state, answer)

    async def _pace(self, params: dict[str, Any]) -> None:
        """A paced command (a broadcast's call or text) waits its turn (esl_handlers/command_pacing)."""
        wait = self._pacer.wait_for(params)
        if wait > 0:
            await asyncio.sleep(wait)
        self._pacer.sent(params)

    async def _run(self, kind: str, params: dict[str, Any], command_id: int) -> tuple[str, str]:
        manager = await self._connection()
        if manager is None:
            return "failed", f"not connected to the PBX within {self.send_timeout:.0f} s"
        answers: list[str] = []
        sent = False
        delivery: asyncio.Future | None = None
        if kind == "message":
            delivery = self._deliveries[str(command_id)] = asyncio.get_running_loop().create_future()
        try:
            for action in await self._actions(manager, kind, params, command_id):
                sent = True
                self.sent += 1
                accepted, said = ami.answer_of(await self._send(manager, action))
                answers.append(said)
                if not accepted:
                    return "failed", "; ".join(answers)
            if delivery is not None:
                status = await asyncio.wait_for(delivery, self.send_timeout)
                answers.append(f"MessageSend: {status}")
                if status != "SUCCESS":
                    return "failed", "; ".join(answers)
        except (BadCommand, LookupError) as exc:
            return "failed", str(exc)
        except ConnectionError:
            answers.append("the AMI connection was lost before the answer")
            return ("unknown" if sent else "failed"), "; ".join(answers)
        except TimeoutError:
            answers.append(f"no answer from the PBX within {self.send_timeout:.0f} s")
            return "failed", "; ".join(answers)
        finally:
            self._deliveries.pop(str(command_id), None)
        return "ok", "; ".join(answers)

    async def restore(self, manager: Any) -> None:
        """On every connect: the model's Do Not Disturb and queue pauses, again (a restarted
        Asterisk reloads queues.conf as last deployed; AstDB may be gone with its disk)."""
        try:
            states = await self._in_db(records.live_state, self.node)
            refused = 0
            for params in states:
                for action in ami.dnd(params):
                    accepted, _ = ami.answer_of(await self._send(manager, action))
                    refused += not accepted
        except (ConnectionError, TimeoutError, BadCommand) as exc:
            log.warning("%s: restoring DND and queue pauses failed: %r", self.node, exc)
            return
        log.info(
            "%s: DND and queue pauses restored for %d users (%d refused)", self.node, len(states), refused
        )

    # --- the stream ----------------------------------------------------------------------------

    async def run(self) -> None:
        command_channel.register_command_handlers()
        live.register_publish_handlers()
        automation_jobs.register_automation_handlers()  # an inbound text may start runs
        abandoned = await self._in_db(records.abandon_in_flight, self.node)
        if abandoned:
            log.warning(
                "%s: commands %s were in flight at the last stop: marked unknown", self.node, abandoned
            )
        texts_task = asyncio.create_task(self._record_texts())
        client = aioredis.Redis.from_url(redis_url())
        stream = command_channel.stream(self.node)
        # Entries older than a command may wait are expired anyway: start just before them.
        last = f"{int((time.time() - commands.EXPIRES_AFTER.total_seconds()) * 1000)}-0"
        try:
            while not self.stop.is_set():
                try:
                    batches = await client.xread(
                        {stream: last}, count=100, block=command_channel.READ_BLOCK_MS
                    )
                except (redis.RedisError, OSError) as exc:
                    log.warning("%s: reading commands failed: %r", self.node, exc)
                    await asyncio.sleep(1)
                    continue
                for _, entries in batches or []:
                    for entry_id, fields in entries:
                        last = entry_id
                        try:
                            await self.hand_over(orjson.loads(fields[b"command"]))
                        except Exception:
                            log.exception("%s: command entry %s failed", self.node, entry_id)
        finally:
            if self._sending:  # answers on their way are recorded, within the send timeout
                await asyncio.wait(set(self._sending), timeout=self.send_timeout)
            texts_task.cancel()
            await client.aclose()
            self._claims.shutdown(wait=True)
            self._db.shutdown(wait=True)
