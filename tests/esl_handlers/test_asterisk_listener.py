"""The asyncio AMI listener against the fake AMI server (in-process: asyncio only, no gevent)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import ami_messages as ami
import pytest
from ami_fake_server import FakeAmiServer
from listener_subprocess import ListenerProcess

from control.events import CallEvent, ChannelCreated, ChannelHangup, EventSink, Snapshot
from esl_handlers.asterisk_events import CONSUMED_EVENTS, EVENT_CLASSES, normalise_asterisk_event
from esl_handlers.asterisk_listener import FORGETABLE_ACTIONS, AsteriskListener, run_asterisk_listener
from esl_handlers.listener_config import ListenerConfig
from esl_handlers.listener_stats import ListenerStats


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[CallEvent | Snapshot] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, event: CallEvent) -> None:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            self.records.append(event)

    def resync(self, snapshot: Snapshot) -> None:
        with self._lock:
            self.records.append(snapshot)

    @property
    def events(self) -> list[CallEvent]:
        return [r for r in self.records if not isinstance(r, Snapshot)]

    @property
    def snapshots(self) -> list[Snapshot]:
        return [r for r in self.records if isinstance(r, Snapshot)]


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    fake = FakeAmiServer(
        channels=ami.CORE_SHOW_CHANNELS,
        contacts=ami.CONTACT_LIST,
        device_states=ami.DEVICE_STATE_LIST,
        queue_status=ami.QUEUE_STATUS,
    )
    await fake.start()
    yield fake
    await fake.close()


def make_config(server: FakeAmiServer, **overrides: Any) -> ListenerConfig:
    host, port = server.address
    settings: dict[str, Any] = {
        "node": "ast-test",
        "pbx": "asterisk",
        "host": host,
        "port": port,
        "username": "switchboard",
        "secret": "s3cret",
        "heartbeat_interval": 5.0,
        "pong_timeout": 1.0,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
        "command_timeout": 2.0,
    }
    settings.update(overrides)
    return ListenerConfig(**settings)


class Running:
    def __init__(self, config: ListenerConfig) -> None:
        self.sink = RecordingSink()
        self.stats = ListenerStats()
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            run_asterisk_listener(config, self._factory, stop=self.stop, stats=self.stats)
        )

    def _factory(self, config: ListenerConfig) -> EventSink:
        return self.sink

    async def finish(self) -> ListenerStats:
        self.stop.set()
        return await asyncio.wait_for(self.task, 10)


def expected(texts: list[str]) -> list[str]:
    """The ids the listener must give these events. An event without a Timestamp header (the Cdr)
    takes the time it was read into its id, so of that one only the kind is compared (`ids`)."""
    events = (normalise_asterisk_event(ami.parse(t), "ast-test", 0.0) for t in texts)
    return ids(e for e in events if e is not None)


def ids(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.event_id if "Timestamp" in e.raw else e.event_id.partition(":")[0] for e in events]


async def test_login_filters_resync_then_live_events(server: FakeAmiServer) -> None:
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    for text in ami.ANSWERED_CALL:
        await server.push(text)
    assert not await server.push("Event: VarSet\nPrivilege: dialplan,all\nVariable: X\nValue: 1\n")
    await wait_until(lambda: len(run.sink.events) == 11)
    hangups = sum(isinstance(e, ChannelHangup) for e in run.sink.events)
    await wait_until(lambda: sum(a["Action"] == "DBDel" for a in server.sessions[0].actions) == hangups)
    await asyncio.sleep(0.2)
    stats = await run.finish()

    (session,) = server.sessions
    login = session.actions[0]
    assert (login["Action"], login["Username"], login["Secret"], login["Events"]) == (
        "Login",
        "switchboard",
        "s3cret",
        "off",
    )
    filters = [a["MatchCriteria"] for a in session.actions if a["Action"] == "Filter"]
    assert filters == [f"action(include),name({name})" for name in (*CONSUMED_EVENTS, "FullyBooted")]
    names = [a["Action"] for a in session.actions if a["Action"] not in ("Filter", "Ping", "DBDel")]
    pruned = [a["Key"] for a in session.actions if a["Action"] == "DBDel"]
    assert sorted(pruned) == sorted(e.call_id for e in run.sink.events if isinstance(e, ChannelHangup))
    assert names == [
        "Login",
        "Events",
        "CoreShowChannels",
        "PJSIPShowContacts",
        "DeviceStateList",
        "QueueStatus",
        "DBGetTree",
    ]
    assert session.actions[len(filters) + 1] == {
        "Action": "Events",
        "ActionID": session.actions[len(filters) + 1]["ActionID"],
        "EventMask": EVENT_CLASSES,
    }

    (snapshot,) = run.sink.snapshots
    assert snapshot.parts == {"channels", "registrations", "device_states", "queue_members", "ended"}
    assert [c.call_id for c in snapshot.channels] == [ami.CALLER, ami.CALLEE]
    assert [r.extension for r in snapshot.registrations] == ["1001"]
    assert [d.extension for d in snapshot.device_states] == ["1000", "1002"]
    assert [m.agent for m in snapshot.queue_members] == ["Bob"]
    assert run.sink.records[0] is snapshot
    assert ids(run.sink.events) == expected(ami.ANSWERED_CALL)
    assert run.sink.threads == {"sink-ast-test_0"}
    assert (stats.received, stats.processed, stats.ignored) == (12, 11, 1)
    assert (stats.connects, stats.resyncs, stats.unknown, stats.malformed) == (1, 1, 0, 0)


async def test_events_received_during_resync_reach_the_sink_after_the_snapshot(server: FakeAmiServer) -> None:
    server.delays["queuestatus"] = 0.3
    server.push_before_answer["queuestatus"] = [ami.NEWCHANNEL_CALLER, ami.HANGUP_CALLER]
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.events) == 2)
    await run.finish()

    snapshot, created, hangup = run.sink.records
    assert isinstance(snapshot, Snapshot)
    assert isinstance(created, ChannelCreated) and isinstance(hangup, ChannelHangup)


async def test_fully_booted_later_in_the_session_resyncs_in_stream_order(server: FakeAmiServer) -> None:
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    await server.push(ami.NEWCHANNEL_CALLER)
    await server.push(ami.FULLY_BOOTED)
    await server.push(ami.HANGUP_CALLER)
    await wait_until(lambda: len(run.sink.records) == 4)
    stats = await run.finish()

    assert [type(r).__name__ for r in run.sink.records] == [
        "Snapshot",
        "ChannelCreated",
        "Snapshot",
        "ChannelHangup",
    ]
    assert stats.resyncs == 2


async def test_fully_booted_at_login_and_the_connect_resync_make_one_snapshot(server: FakeAmiServer) -> None:
    server.fully_booted_always = True
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    await server.push(ami.NEWCHANNEL_CALLER)
    await wait_until(lambda: len(run.sink.events) == 1)
    stats = await run.finish()

    assert stats.resyncs == 1
    assert [a["Action"] for a in server.sessions[0].actions].count("CoreShowChannels") == 1


async def test_reconnect_after_a_drop_resyncs_and_loses_nothing(server: FakeAmiServer) -> None:
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    await server.push(ami.NEWCHANNEL_CALLER)
    await server.push(ami.NEWCHANNEL_CALLEE)
    await server.drop()
    await wait_until(lambda: len(run.sink.snapshots) == 2)
    await server.push(ami.HANGUP_CALLEE)
    await server.push(ami.HANGUP_CALLER)
    await wait_until(lambda: len(run.sink.events) == 4)
    stats = await run.finish()

    assert len(server.sessions) == 2
    texts = [ami.NEWCHANNEL_CALLER, ami.NEWCHANNEL_CALLEE, ami.HANGUP_CALLEE, ami.HANGUP_CALLER]
    assert [e.event_id for e in run.sink.events] == expected(texts)
    assert [type(r).__name__ for r in run.sink.records] == [
        "Snapshot",
        "ChannelCreated",
        "ChannelCreated",
        "Snapshot",
        "ChannelHangup",
        "ChannelHangup",
    ]
    assert (stats.connects, stats.disconnects, stats.resyncs) == (2, 2, 2)
    assert server.sessions[1].actions[0]["Action"] == "Login"


async def test_unanswered_ping_drops_and_reestablishes_the_connection(server: FakeAmiServer) -> None:
    server.answer_pings = False
    run = Running(make_config(server, heartbeat_interval=0.1, pong_timeout=0.2))
    await wait_until(lambda: len(server.sessions) >= 2 and len(run.sink.snapshots) >= 2)
    server.answer_pings = True
    stats = await run.finish()

    assert stats.watchdog_timeouts >= 1
    assert any(a["Action"] == "Ping" for a in server.sessions[0].actions)


async def test_refused_login_is_retried_with_backoff(server: FakeAmiServer) -> None:
    run = Running(make_config(server, secret="wrong"))
    await wait_until(lambda: len(server.sessions) >= 3)
    stats = await run.finish()

    assert stats.auth_failures >= 3 and stats.connects == 0
    assert run.sink.records == []


async def test_unfiltered_server_unknown_and_malformed_events_are_counted(server: FakeAmiServer) -> None:
    server.accept_filters = False
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    assert await server.push("Event: VarSet\nPrivilege: dialplan,all\nVariable: X\nValue: 1\n")
    assert await server.push(ami.HANGUP_CALLER.replace(f"Uniqueid: {ami.CALLER}\n", ""))
    await server.push(ami.NEWCHANNEL_CALLER)
    await wait_until(lambda: len(run.sink.events) == 1)
    stats = await run.finish()

    assert (stats.unknown, stats.malformed, stats.processed) == (1, 1, 1)
    assert [a["Action"] for a in server.sessions[0].actions].count("Filter") == 1  # gave up after a refusal


async def test_no_contacts_is_an_empty_part_not_a_failed_resync(server: FakeAmiServer) -> None:
    server.listings["contacts"] = []
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    stats = await run.finish()

    (snapshot,) = run.sink.snapshots
    assert "registrations" in snapshot.parts and snapshot.registrations == ()
    assert stats.resync_failures == 0


async def test_originate_is_never_resent_after_a_reconnect(server: FakeAmiServer) -> None:
    assert "originate" in FORGETABLE_ACTIONS
    listener = AsteriskListener(make_config(server), RecordingSink())
    manager = listener._new_manager(asyncio.Event())
    assert set(manager.forgetable_actions) == set(FORGETABLE_ACTIONS)


async def test_entry_point_process_streams_json_lines_and_stops_on_sigterm(server: FakeAmiServer) -> None:
    config = make_config(server).to_mapping()
    with ListenerProcess(config) as listener:
        await listener.wait_for_async(lambda p: len(p.snapshots) == 1)
        for text in (ami.NEWCHANNEL_CALLER, ami.HANGUP_CALLER):
            await server.push(text)
        await listener.wait_for_async(lambda p: len(p.events) == 2)
        stats = await listener.stop_async()

    assert [e["event_id"] for e in listener.events] == expected([ami.NEWCHANNEL_CALLER, ami.HANGUP_CALLER])
    assert listener.events[1]["hangup_cause"] == "NORMAL_CLEARING"
    assert listener.snapshots[0]["parts"] == [
        "channels",
        "device_states",
        "ended",
        "queue_members",
        "registrations",
    ]
    assert stats["processed"] == 2 and stats["connects"] == 1
    assert not any("s3cret" in line for line in listener.stderr_lines)


async def test_the_ends_asterisk_kept_are_in_the_snapshot_then_pruned(server: FakeAmiServer) -> None:
    """The endpoints' hang-up handler kept the caller's end in AstDB while nobody listened: the
    resync reads it as the hang-up it stands for and prunes it once the sink has it."""
    server.astdb[("switchboard_ended", ami.CALLER)] = (
        "1795219369.222066,1795219370.242062,1795219372.282069,2,16,,700"
    )
    server.astdb[("switchboard_ended", "odd")] = "not,a,kept,end"
    server.astdb[("elsewhere", ami.CALLEE)] = "1795219369.1,0.000000,1795219372.2,0,16"
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    await wait_until(lambda: ("switchboard_ended", ami.CALLER) not in server.astdb)
    await run.finish()
    (snapshot,) = run.sink.snapshots
    (ended,) = snapshot.ended
    assert (ended.call_id, ended.event_id, ended.pbx) == (ami.CALLER, f"ended:{ami.CALLER}", "asterisk")
    assert (ended.started_at, ended.answered_at, ended.ended_at) == (
        1795219369.222066,
        1795219370.242062,
        1795219372.282069,
    )
    assert (ended.billsec, ended.duration, ended.hangup_cause, ended.hangup_cause_code) == (
        2,
        3,
        "NORMAL_CLEARING",
        16,
    )
    assert (ended.ring_group, ended.queue) == (None, "700")
    assert set(server.astdb) == {("switchboard_ended", "odd"), ("elsewhere", ami.CALLEE)}


async def test_a_hang_up_seen_live_prunes_what_asterisk_kept_of_it(server: FakeAmiServer) -> None:
    run = Running(make_config(server))
    await wait_until(lambda: len(run.sink.snapshots) == 1)
    server.astdb[("switchboard_ended", ami.CALLER)] = "1795219369.2,0.000000,1795219372.29,0,16,,"
    await server.push(ami.NEWCHANNEL_CALLER)
    await server.push(ami.HANGUP_CALLER)
    await wait_until(lambda: ("switchboard_ended", ami.CALLER) not in server.astdb)
    await run.finish()
    deletes = [a for a in server.sessions[0].actions if a["Action"] == "DBDel"]
    assert [(a["Family"], a["Key"]) for a in deletes] == [("switchboard_ended", ami.CALLER)]
