from __future__ import annotations

import io
import random

import orjson
import pytest

from control.events import CallDirection, ChannelCreated, Snapshot
from esl_handlers.backoff import Backoff
from esl_handlers.jsonl_sink import JsonLinesSink
from esl_handlers.listener_config import ListenerConfig
from esl_handlers.listener_process import ENTRY_POINTS, load_sink_factory
from esl_handlers.listener_stats import ListenerStats


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(0.5, 30.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    steps = [0.5, 1, 2, 4, 8, 16, 30, 30, 30, 30]

    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_backoff_jitter_spreads_listeners() -> None:
    delays = {round(Backoff(1, 30).next_delay(), 6) for _ in range(50)}
    assert len(delays) > 40


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(5, 1)


def _config(**overrides: object) -> ListenerConfig:
    values: dict = {
        "node": "fs1",
        "pbx": "freeswitch",
        "host": "127.0.0.1",
        "port": 8021,
        "secret": "ClueCon",
    }
    values.update(overrides)
    return ListenerConfig(**values)


def test_config_round_trips_and_hides_the_secret() -> None:
    config = _config(
        callcenter_queues=["support@default"], esl_filters=[["Event-Subclass", "callcenter::info"]]
    )

    assert "ClueCon" not in repr(config)
    assert ListenerConfig.from_mapping(orjson.loads(orjson.dumps(config.to_mapping()))) == config
    assert config.callcenter_queues == ("support@default",)
    assert config.watchdog_timeout == 60.0


@pytest.mark.parametrize(
    "overrides",
    [
        {"pbx": "yate"},
        {"node": ""},
        {"secret": "ClueCon\n\napi shutdown"},
        {"username": "ami\r\nAction: Originate"},
        {"callcenter_queues": ["support@default\n\napi fsctl shutdown"]},
        {"callcenter_queues": ["support default"]},
        {"esl_filters": [["Event-Name", "CHANNEL_CREATE\nfilter"]]},
    ],
)
def test_config_refuses_values_that_would_inject_commands(overrides: dict) -> None:
    with pytest.raises(ValueError):
        _config(**overrides)


def test_config_refuses_unknown_settings() -> None:
    with pytest.raises(ValueError, match="colour"):
        ListenerConfig.from_mapping({**_config().to_mapping(), "colour": "blue"})


def test_jsonl_sink_writes_one_object_per_line() -> None:
    stream = io.BytesIO()
    sink = JsonLinesSink(stream)
    event = ChannelCreated(
        node="fs1",
        pbx="freeswitch",
        event_id="c:1",
        occurred_at=1.5,
        call_id="u1",
        direction=CallDirection.INBOUND,
        raw={"Event-Name": "CHANNEL_CREATE"},
    )
    sink.submit(event)
    sink.resync(Snapshot(node="fs1", pbx="freeswitch", taken_at=2.0, parts=frozenset({"channels"})))

    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["type"] == "ChannelCreated" and first["direction"] == "inbound"
    assert first["raw"] == {"Event-Name": "CHANNEL_CREATE"}
    assert second == {
        "type": "Snapshot",
        "node": "fs1",
        "pbx": "freeswitch",
        "taken_at": 2.0,
        "parts": ["channels"],
        "channels": [],
        "registrations": [],
        "device_states": [],
        "queue_members": [],
        "ended": [],
    }


def test_sink_factory_spec_is_module_colon_callable() -> None:
    assert load_sink_factory("esl_handlers.jsonl_sink:stdout_sink").__name__ == "stdout_sink"
    with pytest.raises(ValueError):
        load_sink_factory("esl_handlers.jsonl_sink")
    assert set(ENTRY_POINTS) == {"freeswitch", "asterisk"}


def test_stats_log_the_first_rejections_then_every_thousandth(caplog: pytest.LogCaptureFixture) -> None:
    stats = ListenerStats()
    for number in range(2000):
        stats.count_rejected("malformed", "fs1", f"event {number}")

    assert stats.malformed == 2000
    assert len(caplog.records) == 20 + 2
