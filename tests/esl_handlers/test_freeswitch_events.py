from __future__ import annotations

import orjson
import pytest
from wire_captures import EVENT_CAPTURES, api_body, normalised, plain_events

from control.events import (
    AgentActivity,
    AgentAvailability,
    CallDirection,
    ChannelAnswered,
    ChannelBridged,
    ChannelCreated,
    ChannelHangup,
    ChannelState,
    DeviceState,
    DeviceStatus,
    QueueCallersWaiting,
    QueueCallEvent,
    QueueCallPhase,
    QueueMemberState,
    Registration,
    RegistrationState,
    event_from_dict,
    event_to_dict,
)
from esl_handlers.esl_frames import PlainEvent
from esl_handlers.event_errors import ApiResponseError, MalformedEvent, UnknownEvent
from esl_handlers.freeswitch_events import (
    SUBSCRIBE_COMMAND,
    normalise_freeswitch_event,
    parse_queue_agents,
    parse_show_channels,
    parse_show_registrations,
)

A_LEG = "32302580-d2fe-4a9e-b80a-82a23e4cf917"
B_LEG = "457055a7-6c2d-498d-926b-660fa91788df"


def of_type(events: list, cls: type) -> list:
    return [event for event in events if isinstance(event, cls)]


def test_subscription_asks_for_exactly_the_consumed_events() -> None:
    assert SUBSCRIBE_COMMAND == (
        "event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE PRESENCE_IN "
        "HEARTBEAT CUSTOM sofia::register sofia::unregister sofia::expire callcenter::info"
    )


def test_answered_call() -> None:
    events = normalised("events-call-answered.txt")

    creates = of_type(events, ChannelCreated)
    answers = of_type(events, ChannelAnswered)
    bridges = of_type(events, ChannelBridged)
    hangups = of_type(events, ChannelHangup)
    assert [e.call_id for e in creates] == [A_LEG, B_LEG]
    assert [e.call_id for e in answers] == [B_LEG, A_LEG]
    assert len(bridges) == 1
    assert (bridges[0].call_id, bridges[0].other_call_id) == (A_LEG, B_LEG)
    assert [e.call_id for e in hangups] == [A_LEG, B_LEG]

    a_create, b_create = creates
    assert a_create.direction is CallDirection.INBOUND and b_create.direction is CallDirection.OUTBOUND
    assert (a_create.extension, b_create.extension) == ("1000", "1001")
    assert (a_create.caller_number, a_create.caller_name, a_create.destination_number) == (
        "1000",
        "Alice",
        "1001",
    )
    assert a_create.context == "default"
    assert a_create.channel_name == "sofia/internal/1000@192.0.2.2:5060"
    assert b_create.channel_name == "sofia/internal/1001@192.0.2.2:15070"
    assert {e.linked_id for e in [*creates, *answers, *bridges, *hangups]} == {A_LEG}

    for hangup in hangups:
        assert hangup.hangup_cause == "NORMAL_CLEARING"
        assert hangup.hangup_cause_code == 16
        assert hangup.started_at == 1795219369.222066
        assert hangup.answered_at == 1795219370.242062
        assert hangup.ended_at == 1795219372.282069
        assert (hangup.duration, hangup.billsec) == (3, 2)
        assert hangup.caller_number == "1000" and hangup.destination_number == "1001"
    a_hangup, b_hangup = hangups
    assert (a_hangup.other_call_id, b_hangup.other_call_id) == (B_LEG, A_LEG)
    assert a_hangup.occurred_at == 1795219372.282069

    ringing = [(e.extension, e.state) for e in of_type(events, DeviceState)]
    assert ringing == [
        ("1000", DeviceStatus.RINGING),
        ("1001", DeviceStatus.RINGING),
        ("1001", DeviceStatus.IN_USE),
        ("1000", DeviceStatus.IN_USE),
        ("1001", DeviceStatus.IDLE),
        ("1000", DeviceStatus.IDLE),
    ]


def test_missed_call_is_cancelled_without_answer() -> None:
    events = normalised("events-call-missed.txt")

    assert not of_type(events, ChannelAnswered)
    assert not of_type(events, ChannelBridged)
    hangups = of_type(events, ChannelHangup)
    assert len(hangups) == 2
    caller = "716355af-408b-4d65-8e98-70d30bb6918c"
    for hangup in hangups:
        assert hangup.hangup_cause == "ORIGINATOR_CANCEL"
        assert hangup.answered_at is None
        assert hangup.billsec == 0
        assert hangup.duration == 3
        assert hangup.linked_id == caller
    assert [len(of_type(events, ChannelCreated)), len(of_type(events, DeviceState))] == [2, 4]


def test_echo_call_and_heartbeat() -> None:
    raw = plain_events("events-call-echo.txt")
    heartbeat = next(event for event in raw if event["Event-Name"] == "HEARTBEAT")
    assert normalise_freeswitch_event(heartbeat, "fs1") is None

    events = normalised("events-call-echo.txt")
    assert [type(e).__name__ for e in events] == [
        "ChannelCreated",
        "DeviceState",
        "ChannelAnswered",
        "DeviceState",
        "DeviceState",
        "ChannelHangup",
    ]
    (hangup,) = of_type(events, ChannelHangup)
    assert hangup.destination_number == "9196"
    assert (hangup.hangup_cause, hangup.billsec, hangup.duration) == ("NORMAL_CLEARING", 2, 2)


@pytest.mark.parametrize("name", sorted(EVENT_CAPTURES))
def test_duration_and_billsec_match_freeswitchs_own_variables(name: str) -> None:
    checked = 0
    for event in plain_events(name):
        if event["Event-Name"] != "CHANNEL_HANGUP_COMPLETE":
            continue
        hangup = normalise_freeswitch_event(event, "fs1")
        assert isinstance(hangup, ChannelHangup)
        assert hangup.duration == int(event["variable_duration"])
        assert hangup.billsec == int(event["variable_billsec"])
        assert hangup.started_at == int(event["variable_start_uepoch"]) / 1e6
        assert hangup.ended_at == int(event["variable_end_uepoch"]) / 1e6
        checked += 1
    if name != "events-register.txt":
        assert checked


def test_registration_lifecycle() -> None:
    events = normalised("events-register.txt")

    registrations = of_type(events, Registration)
    assert [r.state for r in registrations] == [
        RegistrationState.REGISTERED,
        RegistrationState.UNREGISTERED,
        RegistrationState.REGISTERED,
        RegistrationState.EXPIRED,
    ]
    first, unregister, second, expire = registrations
    assert (first.extension, first.domain) == ("1000", "192.0.2.2")
    assert first.contact == "sip:1000@192.0.2.2:15061"
    assert first.expires_at == pytest.approx(first.occurred_at + 60)
    assert second.expires_at == pytest.approx(second.occurred_at + 10)
    assert unregister.expires_at is None
    assert expire.expires_at == 1795219278.0  # absolute epoch in sofia::expire, not a duration
    assert first.user_agent == "sipp-wire-capture"
    assert (first.network_ip, first.network_port) == ("192.0.2.2", 15061)
    assert first.sip_call_id == "1-23412@192.0.2.2" and second.sip_call_id == "1-23437@192.0.2.2"

    presence = of_type(events, DeviceState)
    assert [(p.extension, p.state, p.call_id) for p in presence] == [
        ("1000", DeviceStatus.UNAVAILABLE, None),
        ("1000", DeviceStatus.UNAVAILABLE, None),
    ]
    assert len(events) == 6  # six HEARTBEATs normalise to nothing


def test_callcenter_actions_map_to_queue_events() -> None:
    events = normalised("events-callcenter.txt")
    member = "63372d3c-ece4-47f0-b273-a72b424021c0"
    agent_leg = "97e1ea97-8cc1-4a93-b376-eb85a8798f40"

    calls = of_type(events, QueueCallEvent)
    assert [c.phase for c in calls] == [
        QueueCallPhase.JOINED,
        QueueCallPhase.OFFERED,
        QueueCallPhase.CONNECTED,
        QueueCallPhase.COMPLETED,
        QueueCallPhase.LEFT,
    ]
    assert {c.queue for c in calls} == {"support@default"}
    assert {c.call_id for c in calls} == {member}
    joined, offered, connected, completed, left = calls
    assert (joined.caller_number, joined.caller_name, joined.agent) == ("1000", "Alice", None)
    assert (offered.agent, offered.agent_extension) == ("1001@default", "1001")
    assert (connected.agent_call_id, connected.hold_seconds) == (agent_leg, 1)
    assert (completed.talk_seconds, completed.cause) == (7, "SUCCESS")
    assert left.cause == "Terminated"

    assert [w.count for w in of_type(events, QueueCallersWaiting)] == [1, 1]

    states = of_type(events, QueueMemberState)
    assert [(s.agent, s.extension) for s in states] == [("1001@default", "1001")] * 4
    assert [s.activity for s in states[:3]] == [
        AgentActivity.RINGING,
        AgentActivity.IN_CALL,
        AgentActivity.WAITING,
    ]
    assert states[3].availability is AgentAvailability.LOGGED_OUT
    assert states[3].activity is None and states[3].paused is False

    agent_create = next(e for e in of_type(events, ChannelCreated) if e.call_id == agent_leg)
    assert agent_create.linked_id == member  # the agent leg belongs to the member's call
    assert agent_create.extension == "1001"


def test_event_ids_are_core_uuid_and_sequence_and_unique() -> None:
    ids = []
    for name in EVENT_CAPTURES:
        for raw in plain_events(name):
            event = normalise_freeswitch_event(raw, "fs1")
            if event is not None:
                assert event.event_id == f"{raw['Core-UUID']}:{raw['Event-Sequence']}"
                assert event.node == "fs1" and event.pbx == "freeswitch"
                ids.append(event.event_id)
    assert len(ids) == len(set(ids))


def test_plain_mapping_and_lazy_body_normalise_alike() -> None:
    for raw in plain_events("events-callcenter.txt"):
        from_body = normalise_freeswitch_event(raw, "fs1")
        from_dict = normalise_freeswitch_event(dict(raw), "fs1")
        assert from_body == from_dict


def test_raw_headers_are_kept_and_events_round_trip_through_json() -> None:
    for name in EVENT_CAPTURES:
        for event in normalised(name):
            data = orjson.loads(orjson.dumps(event_to_dict(event)))
            assert event_from_dict(data) == event
            assert data["raw"]["Event-Sequence"] == event.event_id.rpartition(":")[2]
    (hangup, *_) = of_type(normalised("events-call-answered.txt"), ChannelHangup)
    assert hangup.raw["variable_billsec"] == "2"
    assert hangup.raw["variable_sip_call_id"] == "1-23754@192.0.2.2"


def _body(lines: list[str]) -> PlainEvent:
    return PlainEvent(("\n".join(lines) + "\n\n").encode())


BASE = ["Core-UUID: c0re", "Event-Sequence: 7", "Event-Date-Timestamp: 1795219369222066"]


@pytest.mark.parametrize(
    "lines",
    [
        ["Core-UUID: c0re"],
        ["Event-Name: CHANNEL_CREATE", *BASE],
        ["Event-Name: CHANNEL_CREATE", "Unique-ID: u1", "Core-UUID: c0re"],
        ["Event-Name: CHANNEL_ANSWER", "Unique-ID: u1", "Event-Date-Timestamp: soon"],
        ["Event-Name: CHANNEL_HANGUP_COMPLETE", "Unique-ID: u1", *BASE, "Caller-Channel-Created-Time: x"],
        ["Event-Subclass: sofia%3A%3Aregister", "Event-Name: CUSTOM", *BASE],
        ["Event-Subclass: callcenter%3A%3Ainfo", "Event-Name: CUSTOM", "CC-Action: members-count", *BASE],
    ],
)
def test_malformed_events_raise(lines: list[str]) -> None:
    with pytest.raises(MalformedEvent):
        normalise_freeswitch_event(_body(lines), "fs1")


@pytest.mark.parametrize(
    "lines",
    [
        ["Event-Name: DTMF", *BASE],
        ["Event-Subclass: conference%3A%3Amaintenance", "Event-Name: CUSTOM", *BASE],
        ["Event-Subclass: callcenter%3A%3Ainfo", "Event-Name: CUSTOM", "CC-Action: agent-dance", *BASE],
    ],
)
def test_unknown_events_raise(lines: list[str]) -> None:
    with pytest.raises(UnknownEvent):
        normalise_freeswitch_event(_body(lines), "fs1")


def test_ignored_events_return_none() -> None:
    unbridge = next(
        e for e in plain_events("events-call-answered.txt") if e["Event-Name"] == "CHANNEL_UNBRIDGE"
    )
    queue_presence = next(e for e in plain_events("events-callcenter.txt") if e.get("proto") == "callcenter")

    assert normalise_freeswitch_event(unbridge, "fs1") is None
    assert normalise_freeswitch_event(queue_presence, "fs1") is None


def test_show_channels_during_the_answered_call() -> None:
    channels = parse_show_channels(api_body("api-show-channels-json.txt"))

    assert [c.call_id for c in channels] == [A_LEG, B_LEG]
    caller, callee = channels
    assert {c.linked_id for c in channels} == {A_LEG}
    assert (caller.direction, callee.direction) == (CallDirection.INBOUND, CallDirection.OUTBOUND)
    assert (caller.extension, callee.extension) == ("1000", "1001")
    assert {c.state for c in channels} == {ChannelState.ACTIVE}
    assert (caller.caller_number, caller.caller_name, caller.destination_number) == ("1000", "Alice", "1001")
    assert caller.started_at == 1795219369.0
    assert callee.channel_name == "sofia/internal/1001@192.0.2.2:15070"


def test_show_channels_empty_reply_has_its_own_format() -> None:
    text = api_body("api-show-channels-json-empty.txt")
    assert text == '{"row_count": 0}\n'
    assert parse_show_channels(text) == ()


def test_show_registrations() -> None:
    registrations = parse_show_registrations(api_body("api-show-registrations-json.txt"), "fs1", 1795219400.0)

    assert [(r.extension, r.domain, r.state) for r in registrations] == [
        ("1000", "192.0.2.2", RegistrationState.REGISTERED),
        ("1001", "192.0.2.2", RegistrationState.REGISTERED),
    ]
    second = registrations[1]
    assert second.contact == "sip:1001@192.0.2.2:15070"
    assert second.network_port == 15071  # registered from another port than its contact
    assert second.expires_at == 1795222982.0
    assert second.occurred_at == 1795219400.0
    assert len({r.event_id for r in registrations}) == 2


@pytest.mark.parametrize(
    ("name", "activity", "calls", "last_call"),
    [
        ("api-callcenter-queue-list-agents.txt", AgentActivity.WAITING, 0, None),
        ("api-callcenter-queue-list-agents-incall.txt", AgentActivity.IN_CALL, 1, None),
        ("api-callcenter-queue-list-agents-after.txt", AgentActivity.WAITING, 1, 1795219445.0),
    ],
)
def test_callcenter_agent_table(
    name: str, activity: AgentActivity, calls: int, last_call: float | None
) -> None:
    (agent,) = parse_queue_agents(api_body(name), "support@default", "fs1", 1.0)

    assert (agent.agent, agent.extension, agent.queue) == ("1001@default", "1001", "support@default")
    assert agent.availability is AgentAvailability.AVAILABLE
    assert agent.activity is activity
    assert agent.calls_taken == calls
    assert agent.last_call_at == last_call


@pytest.mark.parametrize(
    "text", ["-ERR show Command not found!\n", '{"rows": []}', "[1, 2]", '{"row_count": 1, "rows": [3]}']
)
def test_bad_listings_raise(text: str) -> None:
    with pytest.raises(ApiResponseError):
        parse_show_channels(text)


def test_bad_agent_table_raises() -> None:
    with pytest.raises(ApiResponseError):
        parse_queue_agents("-ERR Invalid queue\n", "nope", "fs1", 1.0)


def test_a_queue_without_tiers_lists_no_agent() -> None:
    """mod_callcenter answers a bare +OK (no header line) for a queue no agent has a tier in:
    every member paused, as after Do Not Disturb; a resync must not fail on it."""
    assert parse_queue_agents("+OK\n", "700@default", "fs1", 1.0) == ()


def test_agent_max_no_answer_puts_the_agent_on_break() -> None:
    """mod_callcenter's own event when an agent let max-no-answer offers ring out: the captured
    agent-status-change frame with the action mod_callcenter fires then (CC-Agent and CC-Action)."""
    status_change = next(
        e for e in plain_events("events-callcenter.txt") if e.get("CC-Action") == "agent-status-change"
    )
    body = status_change.body.replace(b"CC-Action: agent-status-change", b"CC-Action: agent-max-no-answer")
    body = b"".join(
        line + b"\n" for line in body.split(b"\n") if line and not line.startswith(b"CC-Agent-Status")
    )
    event = normalise_freeswitch_event(PlainEvent(body + b"\n"), "fs1")
    assert isinstance(event, QueueMemberState)
    assert (event.agent, event.extension) == (
        status_change["CC-Agent"],
        status_change["CC-Agent"].split("@")[0],
    )
    assert (event.availability, event.paused, event.paused_reason) == (
        AgentAvailability.ON_BREAK,
        True,
        "max-no-answer",
    )


def test_a_hang_up_carries_the_ring_group_and_queue_the_dialplan_marked() -> None:
    """dialplan default/group.xml and queue.xml set sb_ring_group / sb_queue on the caller's
    channel; its CHANNEL_HANGUP_COMPLETE carries them as variable_ headers."""
    hangup = next(
        e for e in plain_events("events-call-answered.txt") if e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE"
    )
    marked = hangup.body.replace(
        b"\nvariable_hangup_cause: ",
        b"\nvariable_sb_ring_group: 600\nvariable_sb_queue: 700\nvariable_hangup_cause: ",
        1,
    )
    event = normalise_freeswitch_event(PlainEvent(marked), "fs1")
    assert isinstance(event, ChannelHangup) and (event.ring_group, event.queue) == ("600", "700")
    plain = normalise_freeswitch_event(hangup, "fs1")
    assert isinstance(plain, ChannelHangup) and (plain.ring_group, plain.queue) == (None, None)


def test_a_carriers_leg_is_not_the_user_it_rang() -> None:
    """A bridge to user/1001 sets variable_dialed_user on the caller's leg too. A carrier's leg
    has no presence id or user name of its own: it stays without an extension (else a call to a
    line is taken for a call the rung user made), while the leg FreeSWITCH originated to 1001 is
    1001's even with its presence id gone."""
    own = (b"Channel-Presence-ID: ", b"variable_presence_id: ", b"variable_user_name: ")

    def anonymous(event: PlainEvent) -> PlainEvent:
        kept = [line for line in event.body.split(b"\n") if not line.startswith(own)]
        return PlainEvent(b"\n".join(kept))

    legs = {
        e["Call-Direction"]: e
        for e in plain_events("events-call-answered.txt")
        if e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE"
    }
    caller = normalise_freeswitch_event(anonymous(legs["inbound"]), "fs1")
    callee = normalise_freeswitch_event(anonymous(legs["outbound"]), "fs1")
    assert legs["inbound"]["variable_dialed_user"] == "1001"
    assert isinstance(caller, ChannelHangup) and caller.extension is None
    assert isinstance(callee, ChannelHangup) and callee.extension == "1001"
    assert normalise_freeswitch_event(legs["inbound"], "fs1").extension == "1000"


def test_the_webphones_registration_and_presence_are_its_persons() -> None:
    """The webphone registers as `<ext>-webphone` (names.webphone_user): its registration and
    registration presence are the person's, like the desk phone's."""
    register = _body(
        [
            "Event-Subclass: sofia%3A%3Aregister",
            "Event-Name: CUSTOM",
            *BASE,
            "username: 1001-webphone",
            "realm: events.example",
            "contact: %22Ann%22 <sip:n4j92lsi@d59a5l8fuktg.invalid;transport=ws>",
            "expires: 600",
        ]
    )
    registration = normalise_freeswitch_event(register, "fs1")
    assert isinstance(registration, Registration)
    assert (registration.extension, registration.domain) == ("1001", "events.example")
    presence = normalise_freeswitch_event(
        _body(
            [
                "Event-Name: PRESENCE_IN",
                *BASE,
                "proto: sip",
                "from: 1001-webphone%40events.example",
                "status: Unregistered",
            ]
        ),
        "fs1",
    )
    assert isinstance(presence, DeviceState)
    assert (presence.extension, presence.state) == ("1001", DeviceStatus.UNAVAILABLE)
