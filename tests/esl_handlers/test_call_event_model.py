"""control.events: the PBX-independent model (pure data, no IO)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import orjson
import pytest
from listener_subprocess import REPO
from wire_captures import api_body

from control.events import (
    EVENT_TYPES,
    ActiveChannel,
    ChannelHangup,
    ChannelState,
    EventSink,
    Registration,
    RegistrationState,
    Snapshot,
    event_from_dict,
    event_to_dict,
    snapshot_from_dict,
    snapshot_to_dict,
)
from esl_handlers.freeswitch_events import parse_queue_agents, parse_show_channels, parse_show_registrations


def test_every_event_is_a_frozen_slotted_dataclass_with_the_envelope() -> None:
    for cls in EVENT_TYPES.values():
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen
        assert "__slots__" in cls.__dict__
        names = [f.name for f in dataclasses.fields(cls)]
        assert names[:5] == ["node", "pbx", "event_id", "occurred_at", "raw"]


def test_raw_is_not_part_of_equality_or_hash() -> None:
    common = {"node": "n", "pbx": "asterisk", "event_id": "e", "occurred_at": 1.0, "call_id": "c"}
    first = ChannelHangup(**common, raw={"Cause": "16"})
    second = ChannelHangup(**common, raw={"Cause": "17"})

    assert first == second and hash(first) == hash(second)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.call_id = "other"  # type: ignore[misc]


def test_snapshot_round_trip_and_part_names() -> None:
    snapshot = Snapshot(
        node="fs1",
        pbx="freeswitch",
        taken_at=1795219400.0,
        parts=frozenset({"channels", "registrations", "queue_members"}),
        channels=parse_show_channels(api_body("api-show-channels-json.txt")),
        registrations=parse_show_registrations(
            api_body("api-show-registrations-json.txt"), "fs1", 1795219400.0
        ),
        queue_members=parse_queue_agents(
            api_body("api-callcenter-queue-list-agents.txt"), "support@default", "fs1", 1795219400.0
        ),
    )
    data = orjson.loads(orjson.dumps(snapshot_to_dict(snapshot)))

    assert snapshot_from_dict(data) == snapshot
    assert data["channels"][0]["state"] == "active"
    with pytest.raises(ValueError):
        Snapshot(node="n", pbx="asterisk", taken_at=1.0, parts=frozenset({"calls"}))


def test_event_from_dict_restores_enums() -> None:
    registration = Registration(
        node="n",
        pbx="asterisk",
        event_id="e",
        occurred_at=1.0,
        extension="1001",
        state=RegistrationState.EXPIRED,
    )
    restored = event_from_dict(orjson.loads(orjson.dumps(event_to_dict(registration))))

    assert restored == registration
    assert restored.state is RegistrationState.EXPIRED  # type: ignore[union-attr]
    assert ActiveChannel(call_id="x").state is ChannelState.ACTIVE


def test_sinks_satisfy_the_protocol_structurally() -> None:
    class Sink:
        def submit(self, event: object) -> None: ...

        def resync(self, snapshot: object) -> None: ...

    assert isinstance(Sink(), EventSink)
    assert not isinstance(object(), EventSink)


def test_the_model_imports_no_io_or_concurrency_libraries() -> None:
    code = (
        "import sys, control.events;"
        "loaded = {'socket', 'gevent', 'asyncio', 'threading', 'flask', 'greenswitch', 'panoramisk'} & set(sys.modules);"
        "print(sorted(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stderr
