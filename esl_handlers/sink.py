"""The database sink: normalised events into raw events, presence, call records and activity.

Listeners call `submit`/`resync` in PBX order; the sink queues them and a worker thread
applies them in batches, one transaction per batch, so the socket reader never waits on the
database. When the database is unavailable, events go to a durable spool file (append +
fsync) and are applied, in order, as soon as it answers again.
"""

from __future__ import annotations

import logging
import os
import queue
from pathlib import Path

import orjson
from sqlalchemy.exc import DBAPIError, OperationalError

from control import automation_jobs, effects, live
from control.db import new_session
from control.events import (
    CallEvent,
    Snapshot,
    event_from_dict,
    event_to_dict,
    snapshot_from_dict,
    snapshot_to_dict,
)
from control.services.call_events import EventApplier, UnknownNode
from esl_handlers.listener_config import ListenerConfig

log = logging.getLogger(__name__)


def _native(module: str, name: str):  # type: ignore[no-untyped-def]
    """The unpatched object even in the gevent-patched FreeSWITCH listener process.

    The sink's worker does blocking database I/O: it must be a real OS thread, or it
    would stall the gevent hub and with it the event-socket reader.
    """
    from gevent import monkey

    return monkey.get_original(module, name)


_start_thread = _native("_thread", "start_new_thread")
_SimpleQueue = _native("queue", "SimpleQueue")
_sleep = _native("time", "sleep")
_monotonic = _native("time", "monotonic")

Item = CallEvent | Snapshot
MAX_BATCH = 1000


def _encode(item: Item) -> bytes:
    return orjson.dumps(snapshot_to_dict(item) if isinstance(item, Snapshot) else event_to_dict(item))


def _decode(line: bytes) -> Item:
    data = orjson.loads(line)
    if data["type"] == "Snapshot":
        return snapshot_from_dict(data)
    return event_from_dict(data)


class Stats:
    def __init__(self) -> None:
        self.applied = 0
        self.duplicates = 0
        self.spooled = 0
        self.unknown_node = 0
        self.failed = 0


class DatabaseSink:
    """An EventSink that writes through control's services (see control.events.EventSink)."""

    def __init__(self, spool_dir: Path, *, retry_seconds: float = 1.0, publish: bool = True) -> None:
        self.spool_dir = spool_dir
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool_path = spool_dir / "events.spool"
        self.retry_seconds = retry_seconds
        self.stats = Stats()
        self._queue = _SimpleQueue()
        self._submitted = 0
        self._done = 0
        self._stopped = False
        if publish:
            live.register_publish_handlers()
            automation_jobs.register_automation_handlers()  # a call that ended may start runs
        _start_thread(self._run, ())

    # EventSink protocol -------------------------------------------------------------
    def submit(self, event: CallEvent) -> None:
        self._submitted += 1
        self._queue.put(event)

    def resync(self, snapshot: Snapshot) -> None:
        self._submitted += 1
        self._queue.put(snapshot)

    # Control --------------------------------------------------------------------------
    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is applied (or spooled); True if so."""
        target = self._submitted
        deadline = _monotonic() + timeout
        while _monotonic() < deadline:
            if self._done >= target and not self._spool_pending():
                return True
            _sleep(0.005)
        return False

    def close(self) -> None:
        self._queue.put(None)
        deadline = _monotonic() + 10
        while not self._stopped and _monotonic() < deadline:
            _sleep(0.01)

    # Worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._stopped = True

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch: list[Item] = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._handle(batch)
            except Exception:
                self.stats.failed += len(batch)
                log.exception("a batch of %d events could not be applied", len(batch))
            self._done += len(batch)
            if stop:
                return

    def _handle(self, batch: list[Item]) -> None:
        if self._spool_pending() and not self._replay_spool():
            self._spool(batch)
            return
        try:
            self._apply(batch)
        except (OperationalError, DBAPIError) as exc:
            if not _is_unavailable(exc):
                raise
            log.warning("database unavailable (%s): spooling %d events", type(exc).__name__, len(batch))
            self._spool(batch)
            self._wait_for_database()

    def _apply(self, batch: list[Item]) -> None:
        """Apply a batch in one transaction, grouped per node in order."""
        session = new_session()
        try:
            appliers: dict[str, EventApplier] = {}
            run: list[CallEvent] = []
            run_node: str | None = None
            for item in batch + [None]:  # type: ignore[list-item]
                node = item.node if item is not None else None
                if run and (item is None or isinstance(item, Snapshot) or node != run_node):
                    self._apply_run(session, appliers, run_node or "", run)
                    run = []
                if item is None:
                    break
                if isinstance(item, Snapshot):
                    applier = self._applier(session, appliers, item.node)
                    if applier is not None:
                        applier.resync(item)
                else:
                    run.append(item)
                    run_node = item.node
            session.commit()
        except BaseException:
            session.rollback()
            effects.discard(session)
            session.close()
            raise
        session.close()
        effects.dispatch(session)

    def _apply_run(self, session, appliers: dict[str, EventApplier], node: str, run: list[CallEvent]) -> None:  # type: ignore[no-untyped-def]
        applier = self._applier(session, appliers, node)
        if applier is None:
            return
        fresh = applier.apply_all(run)
        self.stats.applied += fresh
        self.stats.duplicates += len(run) - fresh

    def _applier(self, session, appliers: dict[str, EventApplier], node: str) -> EventApplier | None:  # type: ignore[no-untyped-def]
        if node not in appliers:
            try:
                appliers[node] = EventApplier(session, node)
            except UnknownNode:
                self.stats.unknown_node += 1
                log.warning("event from unknown node %r skipped", node)
                return None
        return appliers[node]

    # Spool ------------------------------------------------------------------------------
    def _spool_pending(self) -> bool:
        return self.spool_path.exists() and self.spool_path.stat().st_size > 0

    def _spool(self, batch: list[Item]) -> None:
        with open(self.spool_path, "ab") as handle:
            for item in batch:
                handle.write(_encode(item) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.stats.spooled += len(batch)

    def _replay_spool(self) -> bool:
        """Apply the spool in order; True when it is empty afterwards."""
        replaying = self.spool_path.with_suffix(".replaying")
        if not replaying.exists():
            os.replace(self.spool_path, replaying)
        items = [_decode(line) for line in replaying.read_bytes().splitlines() if line.strip()]
        try:
            for start in range(0, len(items), MAX_BATCH):
                self._apply(items[start : start + MAX_BATCH])
        except (OperationalError, DBAPIError) as exc:
            if not _is_unavailable(exc):
                raise
            # Put the unreplayed spool back in front of anything spooled meanwhile.
            newer = self.spool_path.read_bytes() if self.spool_path.exists() else b""
            with open(self.spool_path, "wb") as handle:
                handle.write(replaying.read_bytes() + newer)
                handle.flush()
                os.fsync(handle.fileno())
            replaying.unlink()
            return False
        replaying.unlink()
        log.info("spool replayed: %d events", len(items))
        return not self._spool_pending()

    def _wait_for_database(self) -> None:
        """Keep spooling new events until the spool replays, so order is kept."""
        while True:
            _sleep(self.retry_seconds)
            pending: list[Item] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                pending.append(item)
            if pending:
                self._spool(pending)
                self._done += len(pending)
            if self._replay_spool():
                return


def _is_unavailable(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError) or bool(getattr(exc, "connection_invalidated", False))


def database_sink(config: ListenerConfig) -> DatabaseSink:
    """The sink factory `switchboard listen` hands to each listener process (one spool per node)."""
    from control.config import settings

    return DatabaseSink(settings().data_dir / "spool" / config.node)
