from __future__ import annotations

from zoneinfo import ZoneInfo

import ami_messages as ami
import pytest

from control.events import (
    AgentActivity,
    AgentAvailability,
    CallDetailRecord,
    CallDirection,
    CallDisposition,
    ChannelAnswered,
    ChannelBridged,
    ChannelCreated,
    ChannelHangup,
    ChannelState,
    DeviceStateSource,
    DeviceStatus,
    DialEnded,
    DialStarted,
    QueueCallPhase,
    RegistrationState,
    event_from_dict,
    event_to_dict,
)
from esl_handlers.asterisk_events import (
    channels_from_core_show_channels,
    device_states_from_device_state_list,
    extension_from_channel,
    normalise_asterisk_event,
    queue_members_from_queue_status,
    registrations_from_contact_list,
)
from esl_handlers.event_errors import MalformedEvent, UnknownEvent

RECEIVED = 1795219999.0


def norm(text: str, **kwargs):
    return normalise_asterisk_event(ami.parse(text), "ast1", RECEIVED, **kwargs)


def test_answered_call() -> None:
    events = [norm(text) for text in ami.ANSWERED_CALL]
    kinds = [type(event).__name__ if event else None for event in events]
    assert kinds == [
        "ChannelCreated",
        "DialStarted",
        "ChannelCreated",
        None,  # Newstate Ringing: device state covers ringing
        "ChannelAnswered",
        "DialEnded",
        "ChannelAnswered",
        "ChannelBridged",
        "ChannelBridged",
        "ChannelHangup",
        "ChannelHangup",
        "CallDetailRecord",
    ]
    caller_created, dial, callee_created = events[0], events[1], events[2]
    assert isinstance(caller_created, ChannelCreated) and isinstance(callee_created, ChannelCreated)
    assert caller_created.call_id == ami.CALLER and callee_created.call_id == ami.CALLEE
    assert {caller_created.linked_id, callee_created.linked_id} == {ami.CALLER}
    assert caller_created.direction is CallDirection.INBOUND
    assert callee_created.direction is CallDirection.OUTBOUND
    assert (caller_created.extension, callee_created.extension) == ("1000", "1001")
    assert (caller_created.caller_number, caller_created.caller_name) == ("1000", "Alice")
    assert caller_created.destination_number == "1001" and caller_created.context == "from-internal"
    assert callee_created.caller_name is None  # <unknown>
    assert caller_created.occurred_at == caller_created.started_at == 1795219369.222066
    assert caller_created.pbx == "asterisk" and caller_created.node == "ast1"

    assert isinstance(dial, DialStarted)
    assert (dial.call_id, dial.dest_call_id, dial.dial_string) == (ami.CALLER, ami.CALLEE, "1001")
    dial_end = events[5]
    assert isinstance(dial_end, DialEnded) and dial_end.status == "answered"

    answered = [e for e in events if isinstance(e, ChannelAnswered)]
    assert [a.call_id for a in answered] == [ami.CALLEE, ami.CALLER]
    assert answered[0].answered_at == 1795219370.242062

    bridges = [e for e in events if isinstance(e, ChannelBridged)]
    assert {b.bridge_id for b in bridges} == {"0b6b5c4e-3d0f-4a43-a3d4-3a9a4b0d6c11"}
    assert [b.call_id for b in bridges] == [ami.CALLER, ami.CALLEE]

    hangups = [e for e in events if isinstance(e, ChannelHangup)]
    assert [(h.call_id, h.hangup_cause, h.hangup_cause_code) for h in hangups] == [
        (ami.CALLEE, "NORMAL_CLEARING", 16),
        (ami.CALLER, "NORMAL_CLEARING", 16),
    ]
    assert hangups[0].ended_at == 1795219372.282069

    cdr = events[-1]
    assert isinstance(cdr, CallDetailRecord)
    assert cdr.call_id == ami.CALLER
    assert (cdr.caller_number, cdr.caller_name, cdr.destination_number) == ("1000", "Alice", "1001")
    assert (cdr.channel_name, cdr.destination_channel_name) == ("PJSIP/1000-00000001", "PJSIP/1001-00000002")
    assert cdr.started_at == 1795219369.0 and cdr.answered_at == 1795219370.0 and cdr.ended_at == 1795219372.0
    assert (cdr.duration, cdr.billsec, cdr.disposition) == (3, 2, CallDisposition.ANSWERED)
    assert cdr.last_application == "Dial" and cdr.account_code is None
    assert cdr.occurred_at == RECEIVED  # cdr_manager events carry no Timestamp here


def test_missed_call() -> None:
    dial_end = norm(ami.DIAL_END_CANCEL)
    hangup = norm(ami.HANGUP_CALLER_CANCEL)
    cdr = norm(ami.CDR_MISSED)

    assert isinstance(dial_end, DialEnded) and dial_end.status == "cancelled"
    assert isinstance(hangup, ChannelHangup) and hangup.hangup_cause == "INTERWORKING"
    assert isinstance(cdr, CallDetailRecord)
    assert cdr.disposition is CallDisposition.NO_ANSWER and cdr.answered_at is None and cdr.billsec == 0


def test_cdr_times_follow_the_configured_zone() -> None:
    cdr = norm(ami.CDR, cdr_timezone=ZoneInfo("Europe/Paris"))
    assert isinstance(cdr, CallDetailRecord)
    assert cdr.started_at == 1795219369.0 - 3600


@pytest.mark.parametrize(
    ("text", "state"),
    [
        (ami.CONTACT_CREATED, RegistrationState.REGISTERED),
        (ami.CONTACT_REACHABLE, RegistrationState.REGISTERED),
        (ami.CONTACT_UNREACHABLE, RegistrationState.UNREACHABLE),
        (ami.CONTACT_REMOVED, RegistrationState.UNREGISTERED),
    ],
)
def test_contact_status(text: str, state: RegistrationState) -> None:
    registration = norm(text)
    assert registration.extension == "1001"
    assert registration.contact == "sip:1001@192.0.2.2:15070"
    assert registration.state is state


@pytest.mark.parametrize(
    ("text", "extension", "state", "source"),
    [
        (ami.DEVICE_STATE_INUSE, "1001", DeviceStatus.IN_USE, DeviceStateSource.DEVICE),
        (ami.DEVICE_STATE_RINGING, "1001", DeviceStatus.RINGING, DeviceStateSource.DEVICE),
        (ami.DEVICE_STATE_QUEUE, "Queue:support_avail", DeviceStatus.IDLE, DeviceStateSource.DEVICE),
        (ami.EXTENSION_STATUS, "1001", DeviceStatus.RINGING, DeviceStateSource.HINT),
        (ami.EXTENSION_REMOVED, "1001", DeviceStatus.UNAVAILABLE, DeviceStateSource.HINT),
    ],
)
def test_device_and_hint_states(
    text: str, extension: str, state: DeviceStatus, source: DeviceStateSource
) -> None:
    device = norm(text)
    assert (device.extension, device.state, device.source) == (extension, state, source)


def test_extension_status_keeps_context_and_hint() -> None:
    hint = norm(ami.EXTENSION_STATUS)
    assert (hint.domain, hint.device) == ("from-internal", "PJSIP/1001")


def test_queue_member_status_and_pause() -> None:
    status = norm(ami.QUEUE_MEMBER_STATUS)
    pause = norm(ami.QUEUE_MEMBER_PAUSE)

    assert (status.agent, status.queue, status.extension) == ("Bob", "support", "1001")
    assert status.activity is AgentActivity.IN_CALL
    assert status.availability is AgentAvailability.AVAILABLE and status.paused is False
    assert (status.calls_taken, status.last_call_at) == (3, 1795219300.0)
    assert pause.paused is True and pause.availability is AgentAvailability.ON_BREAK
    assert pause.paused_reason == "lunch" and pause.activity is AgentActivity.WAITING


def test_agent_events() -> None:
    called, connected, completed = (
        norm(t) for t in (ami.AGENT_CALLED, ami.AGENT_CONNECT, ami.AGENT_COMPLETE)
    )

    assert [e.phase for e in (called, connected, completed)] == [
        QueueCallPhase.OFFERED,
        QueueCallPhase.CONNECTED,
        QueueCallPhase.COMPLETED,
    ]
    for event in (called, connected, completed):
        assert (event.queue, event.call_id, event.agent_call_id) == ("support", ami.CALLER, ami.CALLEE)
        assert (event.agent, event.agent_extension) == ("Bob", "1001")
        assert (event.caller_number, event.caller_name) == ("1000", "Alice")
    assert connected.hold_seconds == 1
    assert (completed.hold_seconds, completed.talk_seconds, completed.cause) == (1, 7, "caller")


def test_event_ids_are_stable_and_distinct() -> None:
    first = norm(ami.HANGUP_CALLEE)
    again = norm(ami.HANGUP_CALLEE)
    later = norm(ami.HANGUP_CALLEE.replace("1795219372.282069", "1795219372.282070"))

    assert first.event_id == again.event_id
    assert first.event_id != later.event_id
    ids = {norm(text).event_id for text in ami.ANSWERED_CALL if norm(text) is not None}
    assert len(ids) == 11


def test_repeats_without_timestamps_get_their_own_ids() -> None:
    """Asterisk's default sends no Timestamp: a device going in use for the second time says
    exactly what it said the first time, and must not be dropped as a duplicate."""
    text = "Event: DeviceStateChange\nPrivilege: call,all\nDevice: PJSIP/1001\nState: INUSE\n"
    first = normalise_asterisk_event(ami.parse(text), "ast1", 1000.0)
    again = normalise_asterisk_event(ami.parse(text), "ast1", 1000.0)
    second = normalise_asterisk_event(ami.parse(text), "ast1", 1060.5)
    assert first.event_id == again.event_id, "the same reading keeps its id (sink retries, spool)"
    assert first.event_id != second.event_id


def test_without_timestamp_the_receive_time_is_used() -> None:
    text = ami.NEWCHANNEL_CALLER.replace("Timestamp: 1795219369.222066\n", "")
    assert norm(text).occurred_at == RECEIVED


def test_raw_headers_are_kept_and_round_trip() -> None:
    for text in ami.ANSWERED_CALL:
        event = norm(text)
        if event is None:
            continue
        assert event.raw["Event"] == ami.parse(text)["Event"]
        assert event_from_dict(event_to_dict(event)) == event


def test_fully_booted_is_left_to_the_listener() -> None:
    assert norm(ami.FULLY_BOOTED) is None


def test_the_webphone_registration_is_its_users() -> None:
    webphone = ami.CONTACT_CREATED.replace("AOR: 1001\n", "AOR: 1001-webphone\n").replace(
        "EndpointName: 1001\n", "EndpointName: 1001-webphone\n"
    )
    registration = norm(webphone)
    assert registration.extension == "1001"
    assert registration.contact == "sip:1001@192.0.2.2:15070"


@pytest.mark.parametrize(
    "text",
    [
        ami.HANGUP_CALLEE.replace(f"Uniqueid: {ami.CALLEE}\n", ""),
        ami.HANGUP_CALLEE.replace("Cause: 16", "Cause: sixteen"),
        ami.NEWCHANNEL_CALLER.replace("Timestamp: 1795219369.222066", "Timestamp: noon"),
        ami.CDR.replace("StartTime: 2026-11-21 00:02:49", "StartTime: yesterday"),
        ami.CONTACT_CREATED.replace("ContactStatus: Created", "ContactStatus: Sleepy"),
        "Event: DeviceStateChange\nDevice: PJSIP/1001\n",
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(MalformedEvent):
        normalise_asterisk_event(ami.parse(text), "ast1", RECEIVED)


def test_message_without_event_name_is_malformed() -> None:
    with pytest.raises(MalformedEvent):
        normalise_asterisk_event({"Privilege": "call,all", "Uniqueid": "1"}, "ast1", RECEIVED)


def test_unknown() -> None:
    with pytest.raises(UnknownEvent):
        norm("Event: VarSet\nPrivilege: dialplan,all\nVariable: FOO\nValue: bar\n")


@pytest.mark.parametrize(
    ("name", "extension"),
    [
        ("PJSIP/1001-0000000a", "1001"),
        ("PJSIP/1001", "1001"),
        ("PJSIP/1001-webphone-0000000b", "1001"),  # the user's webphone is theirs
        ("PJSIP/1001-webphone", "1001"),
        ("Local/1001@from-queue-00000001;1", "1001"),
        ("Local/1001@from-queue/n", "1001"),
        ("Local/1001@switchboard-devices", "1001"),  # a queue member: every device of the user
        ("Local/1001@switchboard-devices-0000002a;2", "1001"),
        ("hint:1001@switchboard-devices", "1001"),  # the member's state interface
        ("hint:", None),
        ("PJSIP/trunk-provider-0000001f", "trunk-provider"),
        ("Queue:support_avail", None),
        ("", None),
    ],
)
def test_extension_from_channel(name: str, extension: str | None) -> None:
    assert extension_from_channel(name) == extension


def _listing(texts: list[str]) -> list:
    response = ami.parse("Response: Success\nActionID: a1\nEventList: start\nMessage: will follow\n")
    complete = ami.parse("Event: ListComplete\nActionID: a1\nEventList: Complete\nListItems: 2\n")
    return [response, *(ami.parse(t + "ActionID: a1\n") for t in texts), complete]


def test_resync_builders() -> None:
    channels = channels_from_core_show_channels(_listing(ami.CORE_SHOW_CHANNELS), 1795219435.0)
    assert [(c.call_id, c.state, c.direction) for c in channels] == [
        (ami.CALLER, ChannelState.ACTIVE, CallDirection.INBOUND),
        (ami.CALLEE, ChannelState.ACTIVE, CallDirection.OUTBOUND),
    ]
    assert channels[0].started_at == 1795219435.0 - 65
    assert channels[0].bridge_id == "0b6b5c4e-3d0f-4a43-a3d4-3a9a4b0d6c11"

    (contact,) = registrations_from_contact_list(_listing(ami.CONTACT_LIST), "ast1", 5.0)
    assert (contact.extension, contact.state, contact.contact) == (
        "1001",
        RegistrationState.REGISTERED,
        "sip:1001@192.0.2.2:15070",
    )
    assert (contact.expires_at, contact.network_ip, contact.network_port) == (
        1795222982.0,
        "192.0.2.2",
        15071,
    )
    assert contact.sip_call_id == "1-23547@192.0.2.2" and contact.occurred_at == 5.0

    devices = device_states_from_device_state_list(_listing(ami.DEVICE_STATE_LIST), "ast1", 5.0)
    assert [(d.extension, d.state) for d in devices] == [
        ("1000", DeviceStatus.IN_USE),
        ("1002", DeviceStatus.UNAVAILABLE),
    ]

    (member,) = queue_members_from_queue_status(_listing(ami.QUEUE_STATUS), "ast1", 5.0)
    assert (member.agent, member.queue, member.extension) == ("Bob", "support", "1001")
    assert member.activity is AgentActivity.WAITING and member.paused is False
    assert member.event_id.startswith("resync:")
