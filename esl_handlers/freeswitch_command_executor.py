"""The command executor of one FreeSWITCH node, inside its listener process (gevent).

The same contract as the Asterisk executor (esl_handlers/command_executor.py): commands from the
node's Redis stream, claimed once in the database before they are written to the listener's ESL
connection, every send with a timeout, the answer recorded. Waiting commands go out as ``bgapi``
with a Job-UUID; their result is the BACKGROUND_JOB event of that Job-UUID, which the listener
hands here instead of to the normaliser. A text's delivery is the MESSAGE event that carries its
command id; a MESSAGE from the trunk is an inbound text, recorded here. A connection lost after the
send leaves the command's fate unknown: it is marked so, never re-sent.

The claim runs in a thread of its own, never behind the listener's event processing (each OS
thread of the listener has its own Redis client: control/redis_conn.one_client_per_os_thread). A command
is sent and its result awaited in a greenlet of its own: an originate ringing for 30 s never
delays the next command; the kinds that change a state (commands.ORDERED_KINDS) still go out one
after the other, in order.

A broadcast call is handed over once FreeSWITCH takes its bgapi originate (a paced command: at
least its `pace` seconds after the last one of its tenant). Its result is the CHANNEL_HANGUP_COMPLETE
of the call, which names the command in a channel variable (answered, or the hang-up cause), or,
when no channel was ever made (no such gateway), the failed originate job's cause; the call event
itself still goes on to the normaliser, as the trunk leg of an Asterisk broadcast call does.

On every connect (`restore`) the node is given the model's Do Not Disturb and queue state again:
mod_hash is gone after a restart, and mod_callcenter comes back as last deployed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.queue
import orjson
import redis
from gevent.threadpool import ThreadPool

from control import automation_jobs, command_channel, live
from control.redis_conn import redis_url
from control.services import commands
from esl_handlers import command_records as records
from esl_handlers import freeswitch_commands as fs
from esl_handlers.command_pacing import Pacer
from esl_handlers.command_values import BadCommand

log = logging.getLogger(__name__)

_JOB_MARK = b"Event-Name: BACKGROUND_JOB"
_HANGUP_MARK = b"Event-Name: CHANNEL_HANGUP_COMPLETE"
_BROADCAST_MARK = f"variable_{fs.BROADCAST_COMMAND_VARIABLE}: ".encode()
_TEXT_MARKS = (b"Event-Name: MESSAGE", b"Event-Subclass: SMS%3A%3ASEND_MESSAGE")
#: what the listener subscribes to on its connection for the executor: job results, texts from
#: the trunk, and the sent texts mod_sms hands back with their delivery
SUBSCRIPTION = f"event plain BACKGROUND_JOB MESSAGE CUSTOM {fs.TEXT_SENT_SUBCLASS}"


class FreeswitchCommandExecutor:
    SUBSCRIPTION = SUBSCRIPTION

    def __init__(
        self,
        node: str,
        connection: Callable[[], Any],
        stop: gevent.event.Event,
        send_timeout: float = commands.SEND_TIMEOUT,
        pool: ThreadPool | None = None,
    ) -> None:
        self.node = node
        self.connection = connection
        self.stop = stop
        self.send_timeout = send_timeout
        self._jobs: dict[str, gevent.event.AsyncResult] = {}
        #: texts sent, waiting for their delivery event, by command id
        self._deliveries: dict[str, gevent.event.AsyncResult] = {}
        self._texts: gevent.queue.Queue = gevent.queue.Queue()
        #: broadcast calls' originate jobs (by Job-UUID): their command ids
        self._broadcast_jobs: dict[str, int] = {}
        #: broadcast calls' results to record: (command id, result)
        self._call_results: gevent.queue.Queue = gevent.queue.Queue()
        #: when the last paced command of each key went out (broadcasts: per tenant)
        self._pacer = Pacer()
        #: the thread the database and Redis work runs in: the listener's own (`pool`), so one
        #: OS thread uses the process's Redis connections (a gevent socket belongs to its thread)
        self._pool = pool or ThreadPool(1)
        self._own_pool = pool is None
        #: the claims' thread: database only, so a claim never waits behind the listener's events
        self._claims = ThreadPool(1)
        #: commands being sent, their results awaited; the last one of the ORDERED_KINDS
        self._sending: set[gevent.Greenlet] = set()
        self._ordered: gevent.Greenlet | None = None

    # --- from the listener's reader ---------------------------------------------------------------

    def on_event(self, body: bytes) -> bool:
        """True if the event was a command's result or a text (then it is not a call event)."""
        if any(mark in body for mark in _TEXT_MARKS):
            return self._on_text(body)
        if _HANGUP_MARK in body and _BROADCAST_MARK in body:
            ended = fs.broadcast_hangup(body)
            if ended is not None:
                self._call_results.put((ended.command_id, ended.result))
            return False  # the call event goes on to the normaliser
        if _JOB_MARK not in body:
            return False
        job = fs.background_job(body)
        if job is None:
            return False
        command_id = self._broadcast_jobs.pop(job[0], None)
        if command_id is not None:
            cause = fs.job_failure(job[1])
            if cause is not None:  # the call's hang-up, if it had a channel, says the same
                self._call_results.put((command_id, cause))
            return True
        waiting = self._jobs.get(job[0])
        if waiting is not None and not waiting.ready():
            waiting.set(job[1])
        return True

    def _on_text(self, body: bytes) -> bool:
        text = fs.text_event(body)
        if text is None:
            return False
        if text.command is not None:
            waiting = self._deliveries.get(text.command)
            if text.delivered is not None and waiting is not None and not waiting.ready():
                waiting.set(text.delivered)
        elif text.inbound:
            self._texts.put((text.sender, text.recipient, text.body))
        return True

    def _record_texts(self) -> None:
        while True:
            sender, recipient, body = self._texts.get()
            try:
                self._pool.apply(records.receive_text, (self.node, sender, recipient, body))
            except Exception:
                log.exception("%s: an inbound text could not be recorded", self.node)

    def _record_call_results(self) -> None:
        while True:
            command_id, result = self._call_results.get()
            try:
                self._pool.apply(records.broadcast_result, (command_id, result))
            except Exception:
                log.exception("%s: a broadcast call's result could not be recorded", self.node)

    def connection_lost(self) -> None:
        self._broadcast_jobs.clear()
        for waiting in [*self._jobs.values(), *self._deliveries.values()]:
            if not waiting.ready():
                waiting.set_exception(ConnectionError("ESL connection lost before the result"))

    # --- sending --------------------------------------------------------------------------------

    def _wait_connection(self) -> Any:
        deadline = time.monotonic() + self.send_timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            esl = self.connection()
            if esl is not None and esl.connected:
                return esl
            gevent.sleep(0.05)
        return None

    def _hand_over(self, esl: Any, command: fs.EslCommand, command_id: int) -> str:
        """A broadcast call's originate, without waiting for its job: FreeSWITCH took it."""
        assert command.job_uuid is not None
        self._broadcast_jobs[command.job_uuid] = command_id
        with gevent.Timeout(self.send_timeout, TimeoutError):
            reply = esl.send_raw(command.wire)
        said = str(reply.headers.get("Reply-Text") or reply.data or "")
        if not fs.accepted(said.strip()):
            self._broadcast_jobs.pop(command.job_uuid, None)
        return said

    def _send(self, esl: Any, command: fs.EslCommand) -> str:
        waiting = None
        if command.job_uuid:
            waiting = self._jobs[command.job_uuid] = gevent.event.AsyncResult()
        try:
            with gevent.Timeout(self.send_timeout, TimeoutError):
                reply = esl.send_raw(command.wire)
                said = str(reply.headers.get("Reply-Text") or reply.data or "")
                if waiting is None or said.startswith("-ERR"):
                    return said
                return str(waiting.get())
        finally:
            if command.job_uuid:
                self._jobs.pop(command.job_uuid, None)

    def _run(self, kind: str, params: dict[str, Any], command_id: int = 0) -> tuple[str, str]:
        esl = self._wait_connection()
        if esl is None:
            return "failed", f"not connected to the PBX within {self.send_timeout:.0f} s"
        answers: list[str] = []
        sent = False
        delivery = None
        if kind == "message":
            delivery = self._deliveries[str(command_id)] = gevent.event.AsyncResult()
        try:
            for command in fs.commands_for(kind, params, command_id):
                sent = True
                if kind == "broadcast_call":
                    said = self._hand_over(esl, command, command_id).strip()
                else:
                    said = self._send(esl, command).strip()
                answers.append(said)
                if not fs.accepted(said):
                    return "failed", "; ".join(answers)
            if delivery is not None:
                with gevent.Timeout(self.send_timeout, TimeoutError):
                    delivered = delivery.get()
                answers.append("delivered" if delivered else "delivery failed")
                if not delivered:
                    return "failed", "; ".join(answers)
        except BadCommand as exc:
            return "failed", str(exc)
        except TimeoutError:  # before OSError, its base class
            answers.append(f"no answer from the PBX within {self.send_timeout:.0f} s")
            return "failed", "; ".join(answers)
        except (ConnectionError, OSError):
            answers.append("the ESL connection was lost before the answer")
            return ("unknown" if sent else "failed"), "; ".join(answers)
        finally:
            self._deliveries.pop(str(command_id), None)
        return "ok", "; ".join(answers)

    def restore(self, api: Callable[[str], str]) -> None:
        """On every connect, from the listener's session: the model's Do Not Disturb and queue
        state, sent with `api` (a synchronous API command over the new connection)."""
        try:
            states = self._pool.apply(records.live_state, (self.node,))
            refused = 0
            for params in states:
                for command in fs.dnd_commands(params):
                    refused += not fs.accepted(api(command).strip())
        except (ConnectionError, OSError, BadCommand, RuntimeError) as exc:
            log.warning("%s: restoring DND and queue state failed: %r", self.node, exc)
            return
        log.info(
            "%s: DND and queue pauses restored for %d users (%d refused)", self.node, len(states), refused
        )

    def hand_over(self, command: dict[str, Any]) -> gevent.Greenlet | None:
        """Claim the command and start sending it in a greenlet that records the result; None if
        it was sent already or expired (recorded as failed)."""
        command_id, kind = int(command["id"]), str(command["kind"])
        if not self._claims.apply(records.claim, (command_id,)):
            return None
        params = command.get("params") or {}
        self._pace(params)  # here, one command after the other: each takes its own slot
        after = self._ordered if kind in commands.ORDERED_KINDS else None
        sending = gevent.spawn(self._send_and_record, command_id, kind, params, after)
        if kind in commands.ORDERED_KINDS:
            self._ordered = sending
        self._sending.add(sending)
        sending.link(self._sending.discard)
        return sending

    def _send_and_record(
        self, command_id: int, kind: str, params: dict[str, Any], after: gevent.Greenlet | None
    ) -> None:
        if after is not None:
            after.join()
        try:
            state, answer = self._run(kind, params, command_id)
            self._pool.apply(records.finish, (command_id, state, answer))
        except Exception:
            log.exception("%s: command %s (%s) failed", self.node, command_id, kind)
            return
        log.info("%s: command %s (%s) %s: %s", self.node, command_id, kind, state, answer)

    def _pace(self, params: dict[str, Any]) -> None:
        """A paced command (a broadcast's call or text) waits its turn (esl_handlers/command_pacing)."""
        wait = self._pacer.wait_for(params)
        if wait > 0:
            gevent.sleep(wait)
        self._pacer.sent(params)

    # --- the stream -----------------------------------------------------------------------------

    def run(self) -> None:
        command_channel.register_command_handlers()
        live.register_publish_handlers()
        automation_jobs.register_automation_handlers()  # an inbound text may start runs
        abandoned = self._pool.apply(records.abandon_in_flight, (self.node,))
        if abandoned:
            log.warning(
                "%s: commands %s were in flight at the last stop: marked unknown", self.node, abandoned
            )
        texts = gevent.spawn(self._record_texts)
        results = gevent.spawn(self._record_call_results)
        client = redis.Redis.from_url(redis_url())
        stream = command_channel.stream(self.node)
        last = f"{int((time.time() - commands.EXPIRES_AFTER.total_seconds()) * 1000)}-0"
        try:
            while not self.stop.is_set():
                try:
                    batches = client.xread({stream: last}, count=100, block=command_channel.READ_BLOCK_MS)
                except (redis.RedisError, OSError) as exc:
                    log.warning("%s: reading commands failed: %r", self.node, exc)
                    self.stop.wait(1)
                    continue
                for _, entries in batches or []:
                    for entry_id, fields in entries:
                        last = entry_id
                        try:
                            self.hand_over(orjson.loads(fields[b"command"]))
                        except Exception:
                            log.exception("%s: command entry %s failed", self.node, entry_id)
        finally:
            # results on their way are recorded, within the send timeout
            gevent.joinall(list(self._sending), timeout=self.send_timeout)
            texts.kill()
            results.kill()
            client.close()
            self._claims.kill()
            if self._own_pool:
                self._pool.kill()
