"""Issue 8 on the real FreeSWITCH: `switchboard listen` against the sandbox, the event socket
reached through a TcpProxy the tests cut. A call that hangs up while nobody listens takes its
end, billsec and cause from what the dialplan's hang-up hook kept in mod_hash; FreeSWITCH
restarted mid-call loses nothing and duplicates nothing.

The model is pbx_world's (1001 Ann answers, 1003 Cat calls; ring groups 600/601, queue 700).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from control import db
from control.models import CallRecord, LiveChannel, RawEvent
from control.services import nodes
from tests.integration.events_tcp_proxy import TcpProxy
from tests.integration.events_world import ListenerCli, read, wait_for
from tests.integration.freeswitch_sandbox import FreeswitchSandbox
from tests.integration.pbx_world import DeployWorld, Model, build_model, sandbox_node
from tests.integration.sipp import Phone, SippSession
from tests.worker.rq_support import deploy_redis

pytestmark = pytest.mark.integration

NODE = "fs-events"


@dataclass
class World:
    sandbox: FreeswitchSandbox
    model: Model
    sipp: SippSession
    esl_proxy: TcpProxy
    listener: ListenerCli
    ann: Phone

    def call_ann(self, hold: float) -> object:
        return self.sipp.start_call(
            "1001", caller="1003", password=self.model.secrets["1003"], hold=hold, timeout=40
        )

    def records(self) -> list[CallRecord]:
        return read(
            lambda s: list(
                s.scalars(
                    select(CallRecord)
                    .where(CallRecord.tenant_id == self.model.tenant_id)
                    .order_by(CallRecord.id)
                )
            )
        )

    def answered_channels(self) -> int:
        return read(
            lambda s: (
                s.scalar(select(func.count()).where(LiveChannel.node == NODE, LiveChannel.answered.is_(True)))
                or 0
            )
        )

    def kept_ends(self) -> list[str]:
        dump = self.sandbox.api("hash_dump db switchboard_ended")
        return [line for line in dump.splitlines() if line.startswith("D/switchboard_ended_")]


@pytest.fixture(scope="module")
def world(
    module_database_url: str, freeswitch_sandbox: FreeswitchSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    if not module_database_url.startswith("postgresql"):
        raise AssertionError(
            "the event pipeline tests run against PostgreSQL (SWITCHBOARD_TEST_DB=postgresql)"
        )
    sandbox = freeswitch_sandbox
    workdir = tmp_path_factory.mktemp("fs-events")
    with contextlib.ExitStack() as stack:
        stack.enter_context(sandbox.exclusive())
        client = stack.enter_context(deploy_redis())
        sandbox.reset()
        stack.callback(sandbox.reset)
        proxy = TcpProxy(sandbox.esl_host, sandbox.esl_port)
        stack.callback(proxy.close)
        model = build_model("fs-events", "events.fs.switchboard.test")
        with db.unit_of_work() as s:
            data = sandbox_node(sandbox, model.tenant_id, NODE) | {"port": proxy.port}
            node_id = nodes.create_node(s, data, None).id
        record = DeployWorld(client, node_id).deploy()
        assert record.result == "success", record.error
        sipp = stack.enter_context(
            SippSession(workdir / "sipp", sip_port=sandbox.sip_internal_port, domain=model.domain)
        )
        ann = sipp.phone("1001", model.secrets["1001"], answer_after=0.5)
        listener = ListenerCli(NODE, workdir / "listener.log", {**os.environ, "PYTHONUNBUFFERED": "1"})
        listener.start()
        stack.callback(listener.stop)
        listener.wait_log("resynced after connect")
        yield World(sandbox, model, sipp, proxy, listener, ann)


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def test_a_hang_up_while_the_listener_is_down_takes_the_pbxs_end_billsec_and_cause(world: World) -> None:
    """Ann answers while the listener listens; the event socket is cut, Cat hangs up, and the
    listener is back only seconds later: the record ends at the BYE with FreeSWITCH's billsec
    and cause, and what FreeSWITCH kept is pruned."""
    before = len(world.records())
    resyncs = world.listener.count("resynced after connect")
    call = world.call_ann(hold=3.0)
    wait_for("the answered call in the live channels", lambda: world.answered_channels() >= 2)
    assert world.esl_proxy.refuse() == 1, "the listener's one ESL connection"
    result = call.wait()
    assert result.answered and result.ended_at is not None and result.answered_at is not None, result
    wait_for("FreeSWITCH to keep the ended channel", world.kept_ends)
    wait_for("the listener to stay away 2.5 s past the BYE", lambda: time.time() > result.ended_at + 2.5, 10)
    world.esl_proxy.accept()
    world.listener.wait_log("resynced after connect", resyncs + 1, timeout=30)
    record = wait_for("the record of the call that ended unseen", lambda: world.records()[before:], 15)[0]
    assert record.missed is False and record.answered_by_user_id == world.model.ids["1001"]
    assert record.ended_at is not None and abs(record.ended_at - _naive(result.ended_at)).total_seconds() < 1
    talked = result.ended_at - result.answered_at
    assert abs(record.billsec - talked) <= 1, (record.billsec, talked)
    assert record.hangup_cause == "NORMAL_CLEARING"
    wait_for("the kept ends pruned", lambda: not world.kept_ends())
    assert (
        read(
            lambda s: s.scalar(select(func.count()).select_from(LiveChannel).where(LiveChannel.node == NODE))
        )
        == 0
    )


def test_freeswitch_restarted_mid_call_loses_nothing_and_duplicates_nothing(world: World) -> None:
    """FreeSWITCH restarts while Ann and Cat talk: the call has one record, ended when FreeSWITCH
    went down, no raw event twice, no live channel left once the listener is back."""
    before = len(world.records())
    connects = world.listener.count("connected to FreeSWITCH")
    call = world.call_ann(hold=30.0)
    wait_for("the answered call in the live channels", lambda: world.answered_channels() >= 2)
    restarted_at = time.time()
    world.sandbox.restart()
    call.wait()
    world.listener.wait_log("connected to FreeSWITCH", connects + 1, timeout=60)
    (record,) = wait_for("the record of the call cut by the restart", lambda: world.records()[before:], 30)
    assert record.ended_at is not None
    # FreeSWITCH hangs its channels up as it shuts down, and says so on the event socket.
    assert abs(record.ended_at - _naive(restarted_at)).total_seconds() < 2, (record.ended_at, restarted_at)
    assert record.hangup_cause == "SYSTEM_SHUTDOWN" and record.missed is False
    wait_for("no live channel left", lambda: world.answered_channels() == 0)
    keys = read(
        lambda s: list(
            s.scalars(
                select(RawEvent.event_id).where(RawEvent.node == NODE, RawEvent.call_key == record.call_key)
            )
        )
    )
    assert len(keys) == len(set(keys))
    assert len(world.records()) == before + 1, "one record, not two"
