"""Supervised Asterisk AMI connection (asyncio, panoramisk).

Runs in its own process under ``asyncio.run`` (``esl_handlers.asterisk_main``); the panoramisk
``Manager`` is built inside the running loop, one per connection.

panoramisk reconnects by itself and re-sends pending actions after FullyBooted; here the
listener owns reconnection instead (capped exponential backoff, a resync on every connect), so the
Manager's own reconnect is switched off and ``originate`` is forgetable in any case.

The reader (panoramisk's ``data_received``) only puts messages on an asyncio queue; if the queue
reaches ``queue_size`` the transport stops reading until the consumer catches up, so nothing is
dropped. The consumer task normalises and calls the sink in a worker thread (sinks may block).
Resyncs are queued as markers in the same stream: events before a marker reach the sink before the
snapshot, events received while the snapshot is read reach it after. A resync runs on every
connect and on every FullyBooted. A Ping that gets no answer within ``pong_timeout`` drops the
connection.

The resync also reads what the dialplan's hang-up handler kept in AstDB of each channel that
ended (family control.events.ENDED_STORE): a call that ended while nobody listened takes its end,
billsec and cause from there. A kept end is pruned (DBDel) once the sink has it: after the resync
for those read then, at its live Hangup for the others.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from panoramisk import Manager
from panoramisk.message import Message

from control.events import CallEvent, ChannelHangup, EventSink, Snapshot
from esl_handlers.asterisk_events import (
    CONSUMED_EVENTS,
    EVENT_CLASSES,
    KEPT_ENDS_ACTION,
    channels_from_core_show_channels,
    device_states_from_device_state_list,
    forget_kept_end_action,
    kept_ends_from_db_tree,
    normalise_asterisk_event,
    queue_members_from_queue_status,
    registrations_from_contact_list,
)
from esl_handlers.backoff import Backoff
from esl_handlers.event_errors import MalformedEvent, UnknownEvent
from esl_handlers.kept_ends import sink_has_applied
from esl_handlers.listener_config import ListenerConfig
from esl_handlers.listener_heartbeat import ListenerHeartbeat
from esl_handlers.listener_stats import ListenerStats

log = logging.getLogger(__name__)

SinkFactory = Callable[[ListenerConfig], EventSink]

_BATCH = 256
_NEVER = 10**9  # seconds: parks panoramisk's own pinger and reconnect timer
_CONSUMED = frozenset(CONSUMED_EVENTS)
#: Actions never re-sent on a new connection (an originate must not ring twice).
FORGETABLE_ACTIONS = ("ping", "login", "originate")
#: Events the command executor consumes (inbound texts), beside the call events.
COMMAND_EVENTS = ("UserEvent",)
_NOTHING_FOUND = re.compile(r"^No \w+( \w+)? found", re.IGNORECASE)

#: Resync actions and the snapshot part each one fills.
RESYNC_ACTIONS = (
    ("CoreShowChannels", "channels"),
    ("PJSIPShowContacts", "registrations"),
    ("DeviceStateList", "device_states"),
    ("QueueStatus", "queue_members"),
)


class _SupervisedManager(Manager):
    """panoramisk Manager that reports a lost connection instead of reconnecting."""

    def __init__(self, on_lost: Callable[[Any], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost
        self.lost = False
        #: answers still awaited: a lost connection fails them (panoramisk drops a forgetable
        #: action's future unresolved, so an originate in flight would wait for ever)
        self._in_flight: set[asyncio.Future] = set()
        #: events switched on (after the filters); a resync before that could miss changes
        self.subscribed = False

    def connection_made(self, f: asyncio.Future) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # the awaiting listener sees the failure and decides when to retry
        super().connection_made(f)

    def login(self, future: asyncio.Future) -> bool:
        # A login answer lost with the connection (a PBX restarting) is a failed connect, which
        # the awaiting listener retries: not an error for panoramisk's callback to raise.
        if future.cancelled() or future.exception() is not None:
            self.authenticated_future = None
            return False
        return bool(super().login(future))

    def send_action(self, action: Any, as_list: Any = None, **kwargs: Any) -> asyncio.Future:
        future: asyncio.Future = super().send_action(action, as_list=as_list, **kwargs)
        if not future.done():
            self._in_flight.add(future)
            future.add_done_callback(self._in_flight.discard)
        return future

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        self.lost = True
        for future in list(self._in_flight):
            if not future.done():
                future.set_exception(ConnectionError("AMI connection lost before the answer"))
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        # Actions panoramisk would re-send after a reconnect: fail them now, nobody re-sends here.
        while self.awaiting_actions:
            action = self.awaiting_actions.popleft()
            if not action.future.done():
                action.future.set_exception(ConnectionError("AMI connection lost"))
        self._on_lost(exc)


@dataclass(frozen=True, slots=True)
class _Resync:
    manager: _SupervisedManager
    reason: str


class AsteriskListener:
    def __init__(
        self,
        config: ListenerConfig,
        sink: EventSink,
        *,
        stats: ListenerStats | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.stats = stats or ListenerStats()
        self.stop = stop or asyncio.Event()
        self._zone = ZoneInfo(config.cdr_timezone)
        self._queue: asyncio.Queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sink-{config.node}")
        self._paused_transport: Any = None
        self._fresh_snapshot_of: _SupervisedManager | None = None
        self._last_received = 0.0
        #: the connection commands are sent over: logged in and subscribed, else None
        self.manager: _SupervisedManager | None = None
        self._tasks: set[asyncio.Task] = set()
        self.heartbeat = ListenerHeartbeat(config)
        self.commands: Any = None
        if config.commands:
            from esl_handlers.command_executor import AsteriskCommandExecutor

            self.commands = AsteriskCommandExecutor(
                config.node, lambda: self.manager, self.stop, config.command_timeout
            )

    def _restore(self, manager: _SupervisedManager) -> None:
        """The model's DND and queue pauses, put back on the PBX (in a task: never blocks)."""
        if self.commands is None:
            return
        restoring = asyncio.create_task(self.commands.restore(manager))
        self._tasks.add(restoring)
        restoring.add_done_callback(self._tasks.discard)

    # --- reader side (called from panoramisk's data_received) -------------------------------

    def _on_message(self, manager: _SupervisedManager, message: Message) -> None:
        name = message.get("Event")
        if name == "FullyBooted":
            if manager.subscribed:  # before that, the resync queued on subscribing covers it
                self._queue.put_nowait(_Resync(manager, "FullyBooted"))
                # a connect while Asterisk was still booting restored DND before app_queue was
                # there to take the pauses: once booted, again
                self._restore(manager)
            return
        if name == "UserEvent" and self.commands is not None:
            self.commands.on_user_event(message)
            return
        if self.commands is not None and self.commands.carries_a_text(message):
            return  # the Local channel that sends a text is no call
        if name not in _CONSUMED:
            self.stats.count_rejected("unknown", self.config.node, name)
            return
        self.stats.received += 1
        # Strictly increasing: without AMI timestamps the reception time tells repeats of
        # identical content apart (see asterisk_events._event_id), even within one read.
        received_at = max(time.time(), self._last_received + 1e-6)
        self._last_received = received_at
        self._queue.put_nowait((received_at, message))
        if self._queue.qsize() >= self.config.queue_size and self._paused_transport is None:
            transport = getattr(manager.protocol, "transport", None)
            if transport is not None:
                transport.pause_reading()
                self._paused_transport = transport
                self.stats.reader_waits += 1

    # --- consumer -----------------------------------------------------------------------------

    def _normalise(self, received_at: float, message: Message) -> CallEvent | None:
        try:
            event = normalise_asterisk_event(message, self.config.node, received_at, self._zone)
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

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            items = [await queue.get()]
            while len(items) < _BATCH and not queue.empty():
                items.append(queue.get_nowait())
            try:
                events: list[CallEvent] = []
                for item in items:
                    if isinstance(item, _Resync):
                        if events:
                            await self._deliver(loop, events)
                            events = []
                        await self._resync(item)
                    else:
                        event = self._normalise(*item)
                        if event is not None:
                            events.append(event)
                if events:
                    await self._deliver(loop, events)
                if self._paused_transport is not None and queue.qsize() <= self.config.queue_size // 2:
                    self._paused_transport.resume_reading()
                    self._paused_transport = None
            finally:
                for _ in items:
                    queue.task_done()

    async def _deliver(self, loop: asyncio.AbstractEventLoop, events: list[CallEvent]) -> None:
        self._fresh_snapshot_of = None
        await loop.run_in_executor(self._executor, self._submit_all, events)
        # A PJSIP channel's end was kept by its endpoint's hang-up handler: seen live, it is pruned.
        kept = [
            e.call_id
            for e in events
            if isinstance(e, ChannelHangup) and (e.channel_name or "").startswith("PJSIP/")
        ]
        manager = self.manager
        if kept and manager is not None and not manager.lost:
            asyncio.ensure_future(self._forget_kept_ends(manager, kept))

    async def _forget_kept_ends(self, manager: _SupervisedManager, call_ids: list[str]) -> None:
        """DBDel each (a key already gone is a harmless error)."""
        for call_id in call_ids:
            try:
                await asyncio.wait_for(
                    manager.send_action(forget_kept_end_action(call_id)), self.config.command_timeout
                )
            except (TimeoutError, ConnectionError, ValueError) as exc:
                log.info("%s: kept end of %s not pruned: %r", self.config.node, call_id, exc)
                return

    # --- resync -------------------------------------------------------------------------------

    async def _action_list(
        self, manager: _SupervisedManager, action: str | dict[str, str]
    ) -> list[Message] | None:
        """An EventList action's messages; ``None`` if Asterisk refused it (module not loaded,
        no permission). "No ... found" errors are empty lists, not failures."""
        fields = {"Action": action} if isinstance(action, str) else action
        result = await asyncio.wait_for(manager.send_action(fields), self.config.command_timeout)
        messages = result if isinstance(result, list) else [result]
        first = messages[0]
        if first.get("Response") in ("Success", "Follows"):
            return messages
        reason = first.get("Message") or ""
        if _NOTHING_FOUND.match(reason):
            return []
        log.warning(
            "%s: %s failed (%s); that part is left out of the resync", self.config.node, action, reason
        )
        return None

    async def _resync(self, marker: _Resync) -> None:
        manager = marker.manager
        if manager.lost or self._fresh_snapshot_of is manager:
            return
        config = self.config
        taken_at = time.time()
        parts: dict[str, Any] = {}
        try:
            for action, part in RESYNC_ACTIONS:
                messages = await self._action_list(manager, action)
                if messages is None:
                    continue
                if part == "channels":
                    parts[part] = channels_from_core_show_channels(messages, taken_at)
                elif part == "registrations":
                    parts[part] = registrations_from_contact_list(messages, config.node, taken_at)
                elif part == "device_states":
                    parts[part] = device_states_from_device_state_list(messages, config.node, taken_at)
                else:
                    parts[part] = queue_members_from_queue_status(messages, config.node, taken_at)
            kept = await self._action_list(manager, KEPT_ENDS_ACTION)
            if kept is not None:
                parts["ended"] = kept_ends_from_db_tree(kept, config.node)
        except (TimeoutError, MalformedEvent, ConnectionError) as exc:
            self.stats.resync_failures += 1
            log.warning("%s: resync (%s) failed: %r", config.node, marker.reason, exc)
            return
        snapshot = Snapshot(
            node=config.node, pbx="asterisk", taken_at=taken_at, parts=frozenset(parts), **parts
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.sink.resync, snapshot)
        self.stats.resyncs += 1
        if snapshot.ended and await loop.run_in_executor(self._executor, sink_has_applied, self.sink):
            await self._forget_kept_ends(manager, [e.call_id for e in snapshot.ended])
        self._fresh_snapshot_of = manager
        log.info("%s: resynced after %s (%s)", config.node, marker.reason, ", ".join(sorted(parts)))

    # --- connection ---------------------------------------------------------------------------

    def _new_manager(self, lost: asyncio.Event) -> _SupervisedManager:
        config = self.config
        manager = _SupervisedManager(
            lambda exc: lost.set(),
            loop=asyncio.get_running_loop(),
            host=config.host,
            port=config.port,
            username=config.username,
            secret=config.secret,
            events="off",
            ping_delay=_NEVER,
            ping_interval=_NEVER,
            reconnect_timeout=_NEVER,
            forgetable_actions=FORGETABLE_ACTIONS,
        )
        manager.register_event("*", self._on_message)
        return manager

    async def _login(self, manager: _SupervisedManager) -> bool:
        config = self.config
        try:
            await asyncio.wait_for(manager.connect(), config.connect_timeout)
            response = await asyncio.wait_for(
                asyncio.shield(manager.authenticated_future), config.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            log.warning("%s: AMI connect to %s:%s failed: %r", config.node, config.host, config.port, exc)
            return False
        if not response.success:
            self.stats.auth_failures += 1
            log.error("%s: AMI login refused for user %r", config.node, config.username)
            return False
        return True

    async def _subscribe(self, manager: _SupervisedManager) -> None:
        """Include filters for exactly the consumed events, then switch events on.

        The login asked for no events at all: adding filters one by one while events flow would
        let a consumed event through unfiltered or, once the first include filter exists, drop
        one whose filter is not there yet.
        """
        config = self.config
        for name in (*CONSUMED_EVENTS, "FullyBooted", *(COMMAND_EVENTS if self.commands else ())):
            action = {
                "Action": "Filter",
                "Operation": "Add",
                "MatchCriteria": f"action(include),name({name})",
            }
            response = await asyncio.wait_for(manager.send_action(action), config.command_timeout)
            if not response.success:
                log.warning(
                    "%s: AMI Filter refused (%s); events unfiltered", config.node, response.get("Message")
                )
                break
        if self.commands is not None:
            from esl_handlers.asterisk_commands import EXCLUDE_FILTERS

            for criteria in EXCLUDE_FILTERS:
                action = {"Action": "Filter", "Operation": "Add", "MatchCriteria": criteria}
                await asyncio.wait_for(manager.send_action(action), config.command_timeout)
        mask = EVENT_CLASSES + (",user" if self.commands else "")
        action = {"Action": "Events", "EventMask": mask}
        response = await asyncio.wait_for(manager.send_action(action), config.command_timeout)
        if not response.success:
            raise ConnectionError(f"AMI refused to send events: {response.get('Message')}")

    async def _ping(self, manager: _SupervisedManager) -> bool:
        try:
            response = await asyncio.wait_for(
                manager.send_action({"Action": "Ping"}), self.config.pong_timeout
            )
        except TimeoutError:
            return False
        return bool(response.success)

    async def _session(self) -> None:
        config = self.config
        lost = asyncio.Event()
        manager = self._new_manager(lost)
        try:
            if not await self._login(manager):
                return
            self.stats.connects += 1
            log.info("%s: connected to Asterisk %s:%s", config.node, config.host, config.port)
            try:
                await self._subscribe(manager)
            except (TimeoutError, ConnectionError) as exc:
                log.warning("%s: subscribing to events failed: %r", config.node, exc)
                return
            manager.subscribed = True
            self.manager = manager
            self._queue.put_nowait(_Resync(manager, "connect"))
            self._restore(manager)
            beating = asyncio.create_task(self._beat(manager)) if self.heartbeat.enabled else None
            try:
                await self._watch(manager, lost)
            finally:
                if beating is not None:
                    beating.cancel()
            self.stats.disconnects += 1
        finally:
            self.manager = None
            manager.lost = True
            manager.close()
            if self.heartbeat.since is not None:
                await self._off_loop(self.heartbeat.clear)

    async def _off_loop(self, call: Callable[[], None]) -> None:
        """A blocking heartbeat write in a thread, given up after the command timeout."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, call), self.config.command_timeout)
        except TimeoutError:
            log.warning("%s: listener heartbeat write timed out", self.config.node)

    async def _beat(self, manager: _SupervisedManager) -> None:
        """Renew the node's "listener connected" key while this connection is up."""
        while not manager.lost:
            await self._off_loop(self.heartbeat.beat)
            await asyncio.sleep(self.heartbeat.interval)

    async def _watch(self, manager: _SupervisedManager, lost: asyncio.Event) -> None:
        config = self.config
        stop_wait = asyncio.ensure_future(self.stop.wait())
        lost_wait = asyncio.ensure_future(lost.wait())
        try:
            while True:
                done, _ = await asyncio.wait(
                    {stop_wait, lost_wait},
                    timeout=config.heartbeat_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stop_wait in done:
                    return
                if lost_wait in done:
                    log.warning("%s: Asterisk closed the connection", config.node)
                    return
                if not await self._ping(manager):
                    self.stats.watchdog_timeouts += 1
                    log.warning("%s: no Pong within %.1f s, reconnecting", config.node, config.pong_timeout)
                    return
        finally:
            stop_wait.cancel()
            lost_wait.cancel()

    async def run(self) -> ListenerStats:
        """Connect, resync, stream; reconnect with backoff; until ``stop`` is set."""
        config = self.config
        consumer = asyncio.create_task(self._consume())
        executor = asyncio.create_task(self.commands.run()) if self.commands is not None else None
        reads = None
        if config.commands:  # the node's reads (user diagnosis) come over Redis, like commands
            from esl_handlers.asterisk_read_responder import answer_reads

            reads = asyncio.create_task(
                answer_reads(config.node, lambda: self.manager, self.stop, config.command_timeout)
            )
        backoff = Backoff(config.backoff_initial, config.backoff_max)
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                await self._session()
                if self.stop.is_set():
                    break
                if time.monotonic() - started >= config.healthy_after:
                    backoff.reset()
                delay = backoff.next_delay()
                log.info("%s: reconnecting in %.2f s", config.node, delay)
                try:
                    await asyncio.wait_for(self.stop.wait(), delay)
                except TimeoutError:
                    pass
        finally:
            try:
                await asyncio.wait_for(self._queue.join(), max(config.command_timeout, 1.0))
            except TimeoutError:
                log.warning("%s: %d events not delivered at shutdown", config.node, self._queue.qsize())
            consumer.cancel()
            if reads is not None:
                reads.cancel()
            if executor is not None:
                await asyncio.wait({executor}, timeout=max(config.command_timeout, 1.0))
                executor.cancel()
            self._executor.shutdown(wait=True)
        return self.stats


async def run_asterisk_listener(
    config: ListenerConfig,
    sink_factory: SinkFactory,
    *,
    stop: asyncio.Event | None = None,
    stats: ListenerStats | None = None,
) -> ListenerStats:
    """Entry point for one Asterisk node; runs until ``stop`` is set. Call it inside a running
    event loop (``asyncio.run``) in a process that does not use gevent."""
    if config.pbx != "asterisk":
        raise ValueError(f"{config.node} is a {config.pbx} node")
    sink = sink_factory(config)
    return await AsteriskListener(config, sink, stats=stats, stop=stop).run()
