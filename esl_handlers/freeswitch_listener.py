"""Supervised FreeSWITCH inbound ESL connection (gevent).

Runs in its own process; ``esl_handlers.freeswitch_main`` monkey-patches with gevent before
importing this module. Importing it does not patch anything.

greenswitch's ``InboundESL`` does the connection, ``auth`` and command/reply bookkeeping. Its own
event handling is bypassed for ``text/event-plain`` frames: greenswitch would url-decode the whole
body before splitting it into lines (an encoded ``: `` or newline inside a value then reads as a
header), keep only the last of a repeated header, and do that full parse on the socket reader
greenlet. Instead the reader only reads the body bytes and queues them; a worker greenlet
normalises them with the targeted parser and hands events to the sink in a worker thread, so
neither parsing nor a slow sink ever holds up the reader (FreeSWITCH drops a listener that falls
500 events behind).

Per connection: auth, ``event plain <consumed events>`` (+ optional ``filter`` lines), then a
resync (``show channels as json``, ``show registrations as json``, callcenter agents, and the
ends the dialplan's hang-up hook kept in mod_hash) while live events are held back; the sink gets
the snapshot first, then the held events, then the stream. A kept end is pruned once the sink
has it: after the resync for those read then, at its live hang-up for the others.
HEARTBEAT (every 20 s) feeds a watchdog; a silent connection is dropped and re-established with
capped exponential backoff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.queue
import gevent.socket
from gevent.threadpool import ThreadPool
from greenswitch.esl import InboundESL, NotConnectedError

from control.events import CallEvent, ChannelHangup, EventSink, Snapshot
from esl_handlers.backoff import Backoff
from esl_handlers.esl_frames import PlainEvent
from esl_handlers.event_errors import ApiResponseError, MalformedEvent, UnknownEvent
from esl_handlers.freeswitch_events import (
    KEPT_ENDS_COMMAND,
    SUBSCRIBE_COMMAND,
    forget_kept_end_command,
    kept_end_of,
    normalise_freeswitch_event,
    parse_kept_ends,
    parse_queue_agents,
    parse_show_channels,
    parse_show_registrations,
)
from esl_handlers.kept_ends import sink_has_applied
from esl_handlers.listener_config import ListenerConfig
from esl_handlers.listener_heartbeat import ListenerHeartbeat
from esl_handlers.listener_stats import ListenerStats

log = logging.getLogger(__name__)

SinkFactory = Callable[[ListenerConfig], EventSink]

_BATCH = 256


class CommandFailed(RuntimeError):
    """FreeSWITCH answered a command with -ERR, or not in time."""


class _ListenerESL(InboundESL):
    """InboundESL that hands raw event bodies to a callback instead of parsing them."""

    def __init__(
        self,
        config: ListenerConfig,
        on_event_body: Callable[[bytes], None],
        on_frame: Callable[[], None],
    ) -> None:
        super().__init__(config.host, config.port, config.secret, timeout=config.connect_timeout)
        self._on_event_body = on_event_body
        self._on_frame = on_frame
        self.failure: BaseException | None = None

    def handle_event(self, event: Any) -> None:
        try:
            self._on_frame()
            if event.headers.get("Content-Type") == "text/event-plain":
                length = int(event.headers["Content-Length"])
                body = self.sock_file.read(length)
                if len(body) < length:
                    raise ConnectionError("connection closed inside an event body")
                self._on_event_body(body)
            else:
                super().handle_event(event)
        except Exception as exc:  # the reader greenlet must not die with the connection half-open
            self.failure = exc
            self.abort()

    @staticmethod
    def _read_socket(sock: Any, length: int) -> str:
        data = sock.read(length)
        if len(data) < length:  # greenswitch would loop forever on EOF here
            raise ConnectionError("connection closed inside a response body")
        return data.decode("utf-8", "replace")

    def receive_events(self) -> None:
        super().receive_events()
        self._fail_pending(ConnectionError("connection closed"))

    def send_raw(self, wire: bytes) -> Any:
        """A complete command as bytes (``sendevent`` with a body), its reply awaited like send()."""
        if not self.connected:
            raise NotConnectedError()
        reply = gevent.event.AsyncResult()
        self._commands_sent.append(reply)
        self.sock.sendall(wire)
        return reply.get()

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._commands_sent = self._commands_sent, []
        for result in pending:
            if not result.ready():
                result.set_exception(exc)

    def abort(self) -> None:
        self._run = False
        self.connected = False
        sock = getattr(self, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(gevent.socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._fail_pending(ConnectionError("connection aborted"))

    def close(self) -> None:
        self.abort()
        greenlets = [g for g in (self._receive_events_greenlet, self._process_events_greenlet) if g]
        current = gevent.getcurrent()
        gevent.killall([g for g in greenlets if g is not current], timeout=1)


class FreeSwitchListener:
    def __init__(
        self,
        config: ListenerConfig,
        sink: EventSink,
        *,
        stats: ListenerStats | None = None,
        stop: gevent.event.Event | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.stats = stats or ListenerStats()
        self.stop = stop or gevent.event.Event()
        self._queue: gevent.queue.JoinableQueue = gevent.queue.JoinableQueue(maxsize=config.queue_size)
        self._live = gevent.event.Event()
        self._live.set()
        self._pool = ThreadPool(1)
        self._last_frame = time.monotonic()
        self.heartbeat = ListenerHeartbeat(config)
        #: the connection commands are sent over: subscribed and resynchronised, else None
        self.esl: _ListenerESL | None = None
        self.commands: Any = None
        if config.commands:
            from esl_handlers.freeswitch_command_executor import FreeswitchCommandExecutor

            self.commands = FreeswitchCommandExecutor(
                config.node, lambda: self.esl, self.stop, config.command_timeout, pool=self._pool
            )

    # --- reader side (runs on greenswitch's reader greenlet) --------------------------------

    def _on_frame(self) -> None:
        self._last_frame = time.monotonic()

    def _on_event_body(self, body: bytes) -> None:
        if self.commands is not None and self.commands.on_event(body):
            return  # a command's result (BACKGROUND_JOB), not a call event
        self.stats.received += 1
        if self._queue.full():
            self.stats.reader_waits += 1
        self._queue.put(body)

    # --- worker -----------------------------------------------------------------------------

    def _normalise(self, body: bytes) -> CallEvent | None:
        try:
            event = normalise_freeswitch_event(PlainEvent(body), self.config.node)
        except UnknownEvent as exc:
            self.stats.count_rejected("unknown", self.config.node, exc)
            return None
        except MalformedEvent as exc:
            self.stats.count_rejected("malformed", self.config.node, exc)
            return None
        if event is None:
            self.stats.ignored += 1
        return event

    def _submit_all(self, events: list[CallEvent]) -> None:
        for event in events:
            try:
                self.sink.submit(event)
            except Exception:
                self.stats.sink_errors += 1
                log.exception(
                    "%s: sink rejected %s %s", self.config.node, type(event).__name__, event.event_id
                )
            else:
                self.stats.processed += 1

    def _work(self) -> None:
        queue = self._queue
        while True:
            batch = [queue.get()]
            self._live.wait()
            while len(batch) < _BATCH:
                try:
                    batch.append(queue.get_nowait())
                except gevent.queue.Empty:
                    break
            try:
                events = [event for event in map(self._normalise, batch) if event is not None]
                if events:
                    self._pool.apply(self._submit_all, (events,))
                    kept = [e.call_id for e in events if isinstance(e, ChannelHangup) and kept_end_of(e.raw)]
                    if kept and self.esl is not None:
                        gevent.spawn(self._forget_kept_ends, self.esl, kept)
            finally:
                for _ in batch:
                    queue.task_done()

    # --- connection ---------------------------------------------------------------------------

    def _command(self, esl: _ListenerESL, command: str) -> str:
        try:
            with gevent.Timeout(self.config.command_timeout):
                reply = esl.send(command)
        except gevent.Timeout:
            raise CommandFailed(f"no reply to {' '.join(command.split()[:2])!r}") from None
        data = reply.data or ""
        if data.startswith("-ERR"):
            raise CommandFailed(f"{command!r}: {data.strip()}")
        return data

    def _api(self, esl: _ListenerESL, command: str) -> str:
        """An API command's output, an -ERR included (TimeoutError when it does not answer)."""
        with gevent.Timeout(self.config.command_timeout, TimeoutError):
            return str(esl.send(f"api {command}").data or "")

    def _forget_kept_ends(self, esl: _ListenerESL, call_ids: list[str]) -> None:
        """Prune kept ends the sink has had (hash delete of a missing key is a harmless -ERR)."""
        for call_id in call_ids:
            try:
                esl.send(forget_kept_end_command(call_id))
            except (ConnectionError, NotConnectedError, ValueError) as exc:
                log.info("%s: kept end of %s not pruned: %r", self.config.node, call_id, exc)
                return

    def _read_kept_ends(self, esl: _ListenerESL) -> tuple[ChannelHangup, ...] | None:
        """None when FreeSWITCH cannot list them (mod_hash not loaded): that part is left out."""
        try:
            return parse_kept_ends(self._command(esl, KEPT_ENDS_COMMAND), self.config.node)
        except CommandFailed as exc:
            log.warning("%s: kept hang-ups not read, calls that ended unseen end at the resync: %s",
                        self.config.node, exc)  # fmt: skip
            return None

    def _read_snapshot(self, esl: _ListenerESL) -> Snapshot:
        config = self.config
        taken_at = time.time()
        channels = parse_show_channels(self._command(esl, "api show channels as json"))
        registrations = parse_show_registrations(
            self._command(esl, "api show registrations as json"), config.node, taken_at
        )
        members = []
        for queue in config.callcenter_queues:
            reply = self._command(esl, f"api callcenter_config queue list agents {queue}")
            members.extend(parse_queue_agents(reply, queue, config.node, taken_at))
        ended = self._read_kept_ends(esl)
        parts = {"channels", "registrations"} | ({"queue_members"} if config.callcenter_queues else set())
        return Snapshot(
            node=config.node,
            pbx="freeswitch",
            taken_at=taken_at,
            parts=frozenset(parts | ({"ended"} if ended is not None else set())),
            channels=channels,
            registrations=registrations,
            queue_members=tuple(members),
            ended=ended or (),
        )

    def _connect(self) -> _ListenerESL | None:
        config = self.config
        esl = _ListenerESL(config, self._on_event_body, self._on_frame)
        try:
            with gevent.Timeout(config.connect_timeout):
                esl.connect()
        except ValueError:
            self.stats.auth_failures += 1
            log.error("%s: ESL authentication refused by %s:%s", config.node, config.host, config.port)
        except gevent.Timeout:
            log.warning("%s: ESL connect/auth to %s:%s timed out", config.node, config.host, config.port)
        except (OSError, NotConnectedError) as exc:
            log.warning("%s: ESL connect to %s:%s failed: %s", config.node, config.host, config.port, exc)
        else:
            return esl
        esl.close()
        return None

    def _session(self) -> None:
        """One connection, from connect to loss. Returns when it is over."""
        config = self.config
        self._queue.join()  # events of the previous connection reach the sink before the snapshot
        self._live.clear()
        try:
            esl = self._connect()
            if esl is None:
                return
            self.stats.connects += 1
            self._last_frame = time.monotonic()
            log.info("%s: connected to FreeSWITCH %s:%s", config.node, config.host, config.port)
            try:
                self._command(esl, SUBSCRIBE_COMMAND)
                if self.commands is not None:
                    self._command(esl, self.commands.SUBSCRIPTION)
                for header, value in config.esl_filters:
                    self._command(esl, f"filter {header} {value}")
                snapshot = self._read_snapshot(esl)
                self._pool.apply(self.sink.resync, (snapshot,))
                self.stats.resyncs += 1
                log.info("%s: resynced after connect (%s)", config.node, ", ".join(sorted(snapshot.parts)))
                if snapshot.ended and self._pool.apply(sink_has_applied, (self.sink,)):
                    self._forget_kept_ends(esl, [e.call_id for e in snapshot.ended])
            except (CommandFailed, ApiResponseError, ConnectionError, NotConnectedError) as exc:
                self.stats.resync_failures += 1
                log.warning("%s: subscribe/resync failed: %r", config.node, exc)
                esl.close()
                self.stats.disconnects += 1
                return
            self._live.set()
            if self.commands is not None:
                self.commands.restore(lambda command: self._api(esl, command))
            self.esl = esl
            try:
                self.heartbeat.beat()
                self._watch(esl)
            finally:
                self.esl = None
                self.heartbeat.clear()
                if self.commands is not None:
                    self.commands.connection_lost()
            esl.close()
            self.stats.disconnects += 1
        finally:
            self._live.set()

    def _watch(self, esl: _ListenerESL) -> None:
        limit = self.config.watchdog_timeout
        tick = min(0.25, limit / 4)
        while not self.stop.is_set():
            if esl.failure is not None:
                log.warning("%s: ESL stream broken: %s", self.config.node, esl.failure)
                return
            if not esl.connected:
                log.warning("%s: FreeSWITCH closed the connection", self.config.node)
                return
            if time.monotonic() - self._last_frame > limit:
                self.stats.watchdog_timeouts += 1
                log.warning(
                    "%s: nothing (not even HEARTBEAT) for %.1f s, reconnecting", self.config.node, limit
                )
                return
            if self.heartbeat.due():
                self.heartbeat.beat()
            self.stop.wait(tick)

    def run(self) -> ListenerStats:
        """Connect, resync, stream; reconnect with backoff; until ``stop`` is set."""
        config = self.config
        worker = gevent.spawn(self._work)
        executor = gevent.spawn(self.commands.run) if self.commands is not None else None
        reads = None
        if config.commands:  # the node's reads (user diagnosis) come over Redis, like commands
            from esl_handlers.freeswitch_read_responder import answer_reads

            reads = gevent.spawn(
                answer_reads, config.node, lambda: self.esl, self.stop, config.command_timeout
            )
        backoff = Backoff(config.backoff_initial, config.backoff_max)
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                self._session()
                if self.stop.is_set():
                    break
                if time.monotonic() - started >= config.healthy_after:
                    backoff.reset()
                delay = backoff.next_delay()
                log.info("%s: reconnecting in %.2f s", config.node, delay)
                self.stop.wait(delay)
        finally:
            self._live.set()
            with gevent.Timeout(max(config.command_timeout, 1.0), False):
                self._queue.join()
            worker.kill()
            if reads is not None:
                reads.kill()
            if executor is not None:
                executor.join(timeout=max(config.command_timeout, 1.0))
                executor.kill()
            self._pool.kill()
        return self.stats


def run_freeswitch_listener(
    config: ListenerConfig,
    sink_factory: SinkFactory,
    *,
    stop: gevent.event.Event | None = None,
    stats: ListenerStats | None = None,
) -> ListenerStats:
    """Entry point for one FreeSWITCH node; blocks until ``stop`` is set. Call it in a process
    that has run ``gevent.monkey.patch_all()`` first (see ``esl_handlers.freeswitch_main``)."""
    if config.pbx != "freeswitch":
        raise ValueError(f"{config.node} is a {config.pbx} node")
    sink = sink_factory(config)
    return FreeSwitchListener(config, sink, stats=stats, stop=stop).run()
