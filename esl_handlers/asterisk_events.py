"""Asterisk AMI messages -> control.events, and resync listings -> snapshot parts.

Header names follow the Asterisk 22 AMI documentation (Newchannel, Newstate, DialBegin, DialEnd,
BridgeEnter, Hangup, Cdr, ContactStatus, DeviceStateChange, ExtensionStatus, QueueMemberStatus,
QueueMemberPause, AgentCalled, AgentConnect, AgentComplete; CoreShowChannel, ContactList,
QueueMember for the resync actions). Input is any mapping of header -> value (a panoramisk
``Message`` is case-insensitive; a repeated header arrives as a list).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from control.events import (
    ENDED_STORE,
    ActiveChannel,
    AgentActivity,
    AgentAvailability,
    CallDetailRecord,
    CallDirection,
    CallDisposition,
    CallEvent,
    ChannelAnswered,
    ChannelBridged,
    ChannelCreated,
    ChannelHangup,
    ChannelState,
    DeviceState,
    DeviceStateSource,
    DeviceStatus,
    DialEnded,
    DialStarted,
    QueueCallEvent,
    QueueCallPhase,
    QueueMemberState,
    Registration,
    RegistrationState,
)
from control.render.names import device_owner
from esl_handlers.event_errors import MalformedEvent, UnknownEvent

Message = Mapping[str, Any]
PBX = "asterisk"
UTC = ZoneInfo("UTC")

#: AMI event classes the login asks for (``Events:``), and the events that are consumed.
EVENT_CLASSES = "call,cdr,system,agent"
CONSUMED_EVENTS = (
    "Newchannel",
    "Newstate",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "Hangup",
    "Cdr",
    "ContactStatus",
    "DeviceStateChange",
    "ExtensionStatus",
    "QueueMemberStatus",
    "QueueMemberPause",
    "AgentCalled",
    "AgentConnect",
    "AgentComplete",
)
#: Known events the model does not map (FullyBooted triggers a resync in the listener instead).
IGNORED_EVENTS = frozenset({"FullyBooted"})

#: Q.850 cause code -> the name FreeSWITCH uses for it, so hang-up causes read the same for both.
Q850_CAUSES = {
    0: "NONE",
    1: "UNALLOCATED_NUMBER",
    2: "NO_ROUTE_TRANSIT_NET",
    3: "NO_ROUTE_DESTINATION",
    6: "CHANNEL_UNACCEPTABLE",
    7: "CALL_AWARDED_DELIVERED",
    16: "NORMAL_CLEARING",
    17: "USER_BUSY",
    18: "NO_USER_RESPONSE",
    19: "NO_ANSWER",
    20: "SUBSCRIBER_ABSENT",
    21: "CALL_REJECTED",
    22: "NUMBER_CHANGED",
    23: "REDIRECTION_TO_NEW_DESTINATION",
    25: "EXCHANGE_ROUTING_ERROR",
    27: "DESTINATION_OUT_OF_ORDER",
    28: "INVALID_NUMBER_FORMAT",
    29: "FACILITY_REJECTED",
    30: "RESPONSE_TO_STATUS_ENQUIRY",
    31: "NORMAL_UNSPECIFIED",
    34: "NORMAL_CIRCUIT_CONGESTION",
    38: "NETWORK_OUT_OF_ORDER",
    41: "NORMAL_TEMPORARY_FAILURE",
    42: "SWITCH_CONGESTION",
    43: "ACCESS_INFO_DISCARDED",
    44: "REQUESTED_CHAN_UNAVAIL",
    50: "FACILITY_NOT_SUBSCRIBED",
    52: "OUTGOING_CALL_BARRED",
    54: "INCOMING_CALL_BARRED",
    57: "BEARERCAPABILITY_NOTAUTH",
    58: "BEARERCAPABILITY_NOTAVAIL",
    63: "SERVICE_UNAVAILABLE",
    65: "BEARERCAPABILITY_NOTIMPL",
    66: "CHAN_NOT_IMPLEMENTED",
    69: "FACILITY_NOT_IMPLEMENTED",
    79: "SERVICE_NOT_IMPLEMENTED",
    81: "INVALID_CALL_REFERENCE",
    88: "INCOMPATIBLE_DESTINATION",
    95: "INVALID_MSG_UNSPECIFIED",
    96: "MANDATORY_IE_MISSING",
    97: "MESSAGE_TYPE_NONEXIST",
    98: "WRONG_MESSAGE",
    99: "IE_NONEXIST",
    100: "INVALID_IE_CONTENTS",
    101: "WRONG_CALL_STATE",
    102: "RECOVERY_ON_TIMER_EXPIRE",
    103: "MANDATORY_IE_LENGTH_ERROR",
    111: "PROTOCOL_ERROR",
    127: "INTERWORKING",
}

_DIAL_STATUSES = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "cancelled",
    "CONGESTION": "congestion",
    "CHANUNAVAIL": "unavailable",
    "DONTCALL": "rejected",
    "TORTURE": "rejected",
    "INVALIDARGS": "failed",
}
_DISPOSITIONS = {
    "ANSWERED": CallDisposition.ANSWERED,
    "NO ANSWER": CallDisposition.NO_ANSWER,
    "BUSY": CallDisposition.BUSY,
    "FAILED": CallDisposition.FAILED,
    "CONGESTION": CallDisposition.CONGESTION,
}
_CONTACT_STATES = {
    "Created": RegistrationState.REGISTERED,
    "Updated": RegistrationState.REGISTERED,
    "Reachable": RegistrationState.REGISTERED,
    "Unknown": RegistrationState.REGISTERED,
    "NonQualified": RegistrationState.REGISTERED,
    "Unqualified": RegistrationState.REGISTERED,
    "Unreachable": RegistrationState.UNREACHABLE,
    "Removed": RegistrationState.UNREGISTERED,
}
#: DeviceStateChange ``State`` (ast_devstate_str names).
_DEVICE_STATES = {
    "UNKNOWN": DeviceStatus.UNKNOWN,
    "NOT_INUSE": DeviceStatus.IDLE,
    "INUSE": DeviceStatus.IN_USE,
    "BUSY": DeviceStatus.BUSY,
    "INVALID": DeviceStatus.UNAVAILABLE,
    "UNAVAILABLE": DeviceStatus.UNAVAILABLE,
    "RINGING": DeviceStatus.RINGING,
    "RINGINUSE": DeviceStatus.RINGING,
    "ONHOLD": DeviceStatus.ON_HOLD,
}
#: ExtensionStatus ``Status`` (hint state; -1/-2: hint or extension removed).
_HINT_STATES = {
    -2: DeviceStatus.UNAVAILABLE,
    -1: DeviceStatus.UNAVAILABLE,
    0: DeviceStatus.IDLE,
    1: DeviceStatus.IN_USE,
    2: DeviceStatus.BUSY,
    4: DeviceStatus.UNAVAILABLE,
    8: DeviceStatus.RINGING,
    9: DeviceStatus.RINGING,
    16: DeviceStatus.ON_HOLD,
    17: DeviceStatus.ON_HOLD,
}
#: Queue member ``Status``: the numeric AST_DEVICE_* state of the member's device.
_MEMBER_ACTIVITY = {
    0: AgentActivity.UNKNOWN,
    1: AgentActivity.WAITING,
    2: AgentActivity.IN_CALL,
    3: AgentActivity.IN_CALL,
    4: AgentActivity.UNAVAILABLE,
    5: AgentActivity.UNAVAILABLE,
    6: AgentActivity.RINGING,
    7: AgentActivity.RINGING,
    8: AgentActivity.IN_CALL,
}
_CHANNEL_STATES = {
    "Down": ChannelState.DOWN,
    "Rsrvd": ChannelState.DOWN,
    "OffHook": ChannelState.DOWN,
    "Dialing": ChannelState.RINGING,
    "Ring": ChannelState.RINGING,
    "Ringing": ChannelState.RINGING,
    "Up": ChannelState.ACTIVE,
    "Busy": ChannelState.HANGUP,
    "Dialing Offhook": ChannelState.RINGING,
    "Pre-ring": ChannelState.RINGING,
}

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-fA-F]{8}(;[12])?$")


def _str(message: Message, name: str) -> str | None:
    """A header value; ``None`` for absent, empty or Asterisk's ``<unknown>``."""
    value = message.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "" or value == "<unknown>":
        return None
    return str(value)


def _required(message: Message, name: str) -> str:
    value = _str(message, name)
    if value is None:
        raise MalformedEvent(f"{message.get('Event')}: missing {name}")
    return value


def _int(message: Message, name: str) -> int | None:
    value = _str(message, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedEvent(f"{message.get('Event')}: {name} is not an integer: {value!r}") from None


def _epoch(message: Message, name: str) -> float | None:
    value = _int(message, name)
    return float(value) if value else None


def extension_from_channel(name: str | None) -> str | None:
    """``PJSIP/1001-0000000a`` -> ``1001``; ``Local/1001@from-queue/n`` -> ``1001``; the user's
    webphone ``PJSIP/1001-webphone-0000000b`` -> ``1001``; a queue member's state interface,
    the user's hint ``hint:1001@switchboard-devices`` -> ``1001``."""
    if name and name.startswith("hint:"):
        return name[len("hint:") :].partition("@")[0] or None
    if not name or "/" not in name:
        return None
    rest = _CHANNEL_SUFFIX.sub("", name.partition("/")[2])
    rest = device_owner(rest.partition("@")[0].partition("/")[0])
    return rest or None


def _direction(message: Message) -> CallDirection | None:
    """AMI does not say; the channel that started a call is its own Linkedid (inbound to the PBX),
    channels the PBX dialled out carry the Linkedid of that first channel (outbound)."""
    uniqueid, linkedid = _str(message, "Uniqueid"), _str(message, "Linkedid")
    if not uniqueid or not linkedid:
        return None
    return CallDirection.INBOUND if uniqueid == linkedid else CallDirection.OUTBOUND


def _event_id(message: Message, received_at: float) -> str:
    """Content hash: AMI events have no id of their own (SequenceNumber only with manager debug).
    Identical content recurs (a device going in_use for the second call of the day), so something
    must tell repeats apart: ``Timestamp`` (timestampevents=yes), else the time the listener read
    the event (Asterisk's default has no timestamps). Asterisk never sends an event twice, so the
    id only has to stay the same through the sink's retries and spool, which carry it along.
    Header order counts, as Asterisk always writes an event's headers in the same order."""
    digest = hashlib.blake2b(digest_size=12)
    if _str(message, "Timestamp") is None:
        digest.update(f"received\x00{received_at!r}\x01".encode())
    for name, value in message.items():
        # Empty headers are skipped: panoramisk drops a trailing one (it strips each message).
        if value == "" or name.lower() == "actionid":
            continue
        digest.update(f"{name}\x00{value}\x01".encode())
    return f"{_str(message, 'Event') or 'event'}:{digest.hexdigest()}"


def _raw(message: Message) -> dict[str, str | list[str]]:
    return {str(name): value if isinstance(value, list) else str(value) for name, value in message.items()}


class _Envelope:
    __slots__ = ("node", "occurred_at", "received_at", "message")

    def __init__(self, message: Message, node: str, received_at: float) -> None:
        self.received_at = received_at
        stamp = _str(message, "Timestamp")
        if stamp is not None:
            try:
                received_at = float(stamp)
            except ValueError:
                raise MalformedEvent(f"bad Timestamp {stamp!r}") from None
        self.node = node
        self.occurred_at = received_at
        self.message = message

    def fields(self) -> dict:
        return {
            "node": self.node,
            "pbx": PBX,
            "event_id": _event_id(self.message, self.received_at),
            "occurred_at": self.occurred_at,
            "raw": _raw(self.message),
        }


def _channel(message: Message) -> dict:
    channel = _str(message, "Channel")
    return {
        "call_id": _required(message, "Uniqueid"),
        "linked_id": _str(message, "Linkedid"),
        "direction": _direction(message),
        "channel_name": channel,
        "extension": extension_from_channel(channel),
        "caller_number": _str(message, "CallerIDNum"),
        "caller_name": _str(message, "CallerIDName"),
        "destination_number": _str(message, "Exten"),
    }


def _on_newchannel(message: Message, env: _Envelope) -> ChannelCreated:
    return ChannelCreated(
        **env.fields(), **_channel(message), context=_str(message, "Context"), started_at=env.occurred_at
    )


def _on_newstate(message: Message, env: _Envelope) -> ChannelAnswered | None:
    if _str(message, "ChannelStateDesc") != "Up" and _str(message, "ChannelState") != "6":
        return None
    return ChannelAnswered(**env.fields(), **_channel(message), answered_at=env.occurred_at)


def _on_dial_begin(message: Message, env: _Envelope) -> DialStarted:
    return DialStarted(
        **env.fields(),
        call_id=_str(message, "Uniqueid"),
        dest_call_id=_required(message, "DestUniqueid"),
        linked_id=_str(message, "DestLinkedid") or _str(message, "Linkedid"),
        dest_channel_name=_str(message, "DestChannel"),
        dial_string=_str(message, "DialString"),
    )


def _on_dial_end(message: Message, env: _Envelope) -> DialEnded:
    status = _str(message, "DialStatus")
    return DialEnded(
        **env.fields(),
        call_id=_str(message, "Uniqueid"),
        dest_call_id=_required(message, "DestUniqueid"),
        linked_id=_str(message, "DestLinkedid") or _str(message, "Linkedid"),
        status=_DIAL_STATUSES.get(status, status.lower()) if status else None,
    )


def _on_bridge_enter(message: Message, env: _Envelope) -> ChannelBridged:
    return ChannelBridged(
        **env.fields(),
        call_id=_required(message, "Uniqueid"),
        linked_id=_str(message, "Linkedid"),
        bridge_id=_str(message, "BridgeUniqueid"),
    )


def hangup_cause_name(code: int | None, text: str | None) -> str | None:
    if code is not None and code in Q850_CAUSES:
        return Q850_CAUSES[code]
    if text:
        return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper() or None
    return None if code is None else f"CAUSE_{code}"


def _on_hangup(message: Message, env: _Envelope) -> ChannelHangup:
    code = _int(message, "Cause")
    return ChannelHangup(
        **env.fields(),
        **_channel(message),
        context=_str(message, "Context"),
        ended_at=env.occurred_at,
        hangup_cause=hangup_cause_name(code, _str(message, "Cause-txt")),
        hangup_cause_code=code,
    )


def _caller_name(caller_id: str | None) -> str | None:
    """``"Alice" <1000>`` -> ``Alice``."""
    if not caller_id:
        return None
    if caller_id.startswith('"') and '"' in caller_id[1:]:
        return caller_id[1:].partition('"')[0] or None
    name = caller_id.partition("<")[0].strip()
    return name or None


def _cdr_time(message: Message, name: str, zone: tzinfo) -> float | None:
    value = _str(message, name)
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).timestamp()
    except ValueError:
        raise MalformedEvent(f"Cdr: {name} is not a time: {value!r}") from None


def _on_cdr(message: Message, env: _Envelope, zone: tzinfo) -> CallDetailRecord:
    disposition = _str(message, "Disposition") or ""
    return CallDetailRecord(
        **env.fields(),
        call_id=_required(message, "UniqueID"),
        linked_id=_str(message, "LinkedID"),
        channel_name=_str(message, "Channel"),
        destination_channel_name=_str(message, "DestinationChannel"),
        caller_number=_str(message, "Source"),
        caller_name=_caller_name(_str(message, "CallerID")),
        destination_number=_str(message, "Destination"),
        context=_str(message, "DestinationContext"),
        last_application=_str(message, "LastApplication"),
        started_at=_cdr_time(message, "StartTime", zone),
        answered_at=_cdr_time(message, "AnswerTime", zone),
        ended_at=_cdr_time(message, "EndTime", zone),
        duration=_int(message, "Duration"),
        billsec=_int(message, "BillableSeconds"),
        disposition=_DISPOSITIONS.get(disposition.upper(), CallDisposition.UNKNOWN),
        account_code=_str(message, "AccountCode"),
    )


def _on_contact_status(message: Message, env: _Envelope) -> Registration:
    status = _required(message, "ContactStatus")
    state = _CONTACT_STATES.get(status)
    if state is None:
        raise MalformedEvent(f"ContactStatus: unknown status {status!r}")
    return Registration(
        **env.fields(),
        extension=device_owner(_str(message, "AOR") or _required(message, "EndpointName")),
        state=state,
        contact=_str(message, "URI"),
    )


def _on_device_state_change(message: Message, env: _Envelope) -> DeviceState:
    device = _required(message, "Device")
    state = _required(message, "State")
    return DeviceState(
        **env.fields(),
        extension=extension_from_channel(device) or device,
        state=_DEVICE_STATES.get(state, DeviceStatus.UNKNOWN),
        source=DeviceStateSource.DEVICE,
        device=device,
    )


def _on_extension_status(message: Message, env: _Envelope) -> DeviceState:
    status = _int(message, "Status")
    if status is None:
        raise MalformedEvent("ExtensionStatus: missing Status")
    return DeviceState(
        **env.fields(),
        extension=_required(message, "Exten"),
        domain=_str(message, "Context"),
        state=_HINT_STATES.get(status, DeviceStatus.UNKNOWN),
        source=DeviceStateSource.HINT,
        device=_str(message, "Hint"),
    )


def _member_state(message: Message, agent_key: str, interface_key: str, **envelope: Any) -> QueueMemberState:
    interface = _str(message, interface_key)
    agent = _str(message, agent_key) or interface
    if not agent:
        raise MalformedEvent(f"{message.get('Event')}: missing {agent_key}")
    paused = _str(message, "Paused")
    is_paused = None if paused is None else paused == "1"
    status = _int(message, "Status")
    return QueueMemberState(
        **envelope,
        agent=agent,
        queue=_required(message, "Queue"),
        extension=extension_from_channel(_str(message, "StateInterface") or interface),
        availability=None
        if is_paused is None
        else (AgentAvailability.ON_BREAK if is_paused else AgentAvailability.AVAILABLE),
        activity=None if status is None else _MEMBER_ACTIVITY.get(status, AgentActivity.UNKNOWN),
        paused=is_paused,
        paused_reason=_str(message, "PausedReason"),
        calls_taken=_int(message, "CallsTaken"),
        last_call_at=_epoch(message, "LastCall"),
    )


def _on_queue_member(message: Message, env: _Envelope) -> QueueMemberState:
    return _member_state(message, "MemberName", "Interface", **env.fields())


def _queue_call(message: Message, env: _Envelope, phase: QueueCallPhase, **extra: Any) -> QueueCallEvent:
    interface = _str(message, "Interface")
    return QueueCallEvent(
        **env.fields(),
        queue=_required(message, "Queue"),
        phase=phase,
        call_id=_str(message, "Uniqueid"),
        agent=_str(message, "MemberName") or interface,
        agent_extension=extension_from_channel(interface),
        agent_call_id=_str(message, "DestUniqueid"),
        caller_number=_str(message, "CallerIDNum"),
        caller_name=_str(message, "CallerIDName"),
        **extra,
    )


def _on_agent_called(message: Message, env: _Envelope) -> QueueCallEvent:
    return _queue_call(message, env, QueueCallPhase.OFFERED)


def _on_agent_connect(message: Message, env: _Envelope) -> QueueCallEvent:
    return _queue_call(message, env, QueueCallPhase.CONNECTED, hold_seconds=_int(message, "HoldTime"))


def _on_agent_complete(message: Message, env: _Envelope) -> QueueCallEvent:
    return _queue_call(
        message,
        env,
        QueueCallPhase.COMPLETED,
        cause=_str(message, "Reason"),
        hold_seconds=_int(message, "HoldTime"),
        talk_seconds=_int(message, "TalkTime"),
    )


Handler = Callable[[Message, _Envelope], "CallEvent | None"]

_HANDLERS: dict[str, Handler] = {
    "Newchannel": _on_newchannel,
    "Newstate": _on_newstate,
    "DialBegin": _on_dial_begin,
    "DialEnd": _on_dial_end,
    "BridgeEnter": _on_bridge_enter,
    "Hangup": _on_hangup,
    "ContactStatus": _on_contact_status,
    "DeviceStateChange": _on_device_state_change,
    "ExtensionStatus": _on_extension_status,
    "QueueMemberStatus": _on_queue_member,
    "QueueMemberPause": _on_queue_member,
    "AgentCalled": _on_agent_called,
    "AgentConnect": _on_agent_connect,
    "AgentComplete": _on_agent_complete,
}


def normalise_asterisk_event(
    message: Message, node: str, received_at: float, cdr_timezone: tzinfo = UTC
) -> CallEvent | None:
    """One AMI event -> a normalised event, or ``None`` for a known event the model does not
    need. ``received_at`` stands in for the time when the event has no ``Timestamp`` header;
    ``cdr_timezone`` is the zone cdr_manager writes StartTime/AnswerTime/EndTime in."""
    name = _str(message, "Event")
    if name is None:
        raise MalformedEvent("missing Event")
    if name == "Cdr":
        return _on_cdr(message, _Envelope(message, node, received_at), cdr_timezone)
    handler = _HANDLERS.get(name)
    if handler is None:
        if name in IGNORED_EVENTS:
            return None
        raise UnknownEvent(name)
    return handler(message, _Envelope(message, node, received_at))


# --- resync listings -------------------------------------------------------------------------


def _events_named(messages: Iterable[Message], name: str) -> list[Message]:
    return [message for message in messages if _str(message, "Event") == name]


def _hms(value: str | None) -> int | None:
    if not value:
        return None
    try:
        hours, minutes, seconds = (int(part) for part in value.split(":"))
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


def channels_from_core_show_channels(
    messages: Iterable[Message], taken_at: float
) -> tuple[ActiveChannel, ...]:
    """CoreShowChannels' CoreShowChannel events -> live channels."""
    channels = []
    for message in _events_named(messages, "CoreShowChannel"):
        channel = _channel(message)
        age = _hms(_str(message, "Duration"))
        channels.append(
            ActiveChannel(
                **channel,
                context=_str(message, "Context"),
                state=_CHANNEL_STATES.get(_str(message, "ChannelStateDesc") or "", ChannelState.DOWN),
                started_at=taken_at - age if age is not None else None,
                bridge_id=_str(message, "BridgeId"),
            )
        )
    return tuple(channels)


def _resync_envelope(node: str, taken_at: float, key: str, message: Message) -> dict:
    return {
        "node": node,
        "pbx": PBX,
        "event_id": f"resync:{taken_at:.6f}:{key}",
        "occurred_at": taken_at,
        "raw": _raw(message),
    }


def registrations_from_contact_list(
    messages: Iterable[Message], node: str, taken_at: float
) -> tuple[Registration, ...]:
    """PJSIPShowContacts' ContactList events -> registrations (ObjectName is ``aor;@hash``)."""
    registrations = []
    for message in _events_named(messages, "ContactList"):
        object_name = _required(message, "ObjectName")
        aor = object_name.partition(";@")[0]
        status = _str(message, "Status") or "Unknown"
        registrations.append(
            Registration(
                **_resync_envelope(node, taken_at, f"contact:{object_name}", message),
                extension=device_owner(_str(message, "Endpoint") or aor),
                state=_CONTACT_STATES.get(status, RegistrationState.REGISTERED),
                contact=_str(message, "Uri"),
                expires_at=_epoch(message, "ExpirationTime"),
                user_agent=_str(message, "UserAgent"),
                network_ip=_str(message, "ViaAddr"),
                network_port=_int(message, "ViaPort"),
                sip_call_id=_str(message, "CallId"),
            )
        )
    return tuple(registrations)


def device_states_from_device_state_list(
    messages: Iterable[Message], node: str, taken_at: float
) -> tuple[DeviceState, ...]:
    """DeviceStateList's DeviceStateChange events -> device states."""
    states = []
    for message in _events_named(messages, "DeviceStateChange"):
        device = _required(message, "Device")
        state = _required(message, "State")
        states.append(
            DeviceState(
                **_resync_envelope(node, taken_at, f"device:{device}", message),
                extension=extension_from_channel(device) or device,
                state=_DEVICE_STATES.get(state, DeviceStatus.UNKNOWN),
                source=DeviceStateSource.DEVICE,
                device=device,
            )
        )
    return tuple(states)


def queue_members_from_queue_status(
    messages: Iterable[Message], node: str, taken_at: float
) -> tuple[QueueMemberState, ...]:
    """QueueStatus' QueueMember events (which say ``Name``/``Location`` where the member events
    say ``MemberName``/``Interface``) -> queue member states."""
    members = []
    for message in _events_named(messages, "QueueMember"):
        name_key = "Name" if _str(message, "Name") else "MemberName"
        location_key = "Location" if _str(message, "Location") else "Interface"
        key = (
            f"queue-member:{_str(message, 'Queue')}:{_str(message, location_key) or _str(message, name_key)}"
        )
        members.append(
            _member_state(message, name_key, location_key, **_resync_envelope(node, taken_at, key, message))
        )
    return tuple(members)


#: The AstDB family the hang-up handler writes; DBGetTree lists it at resync.
KEPT_ENDS_ACTION = {"Action": "DBGetTree", "Family": ENDED_STORE}
_CHANNEL_ID = r"[A-Za-z0-9_.-]+"  # an Uniqueid (with the system name, if one is set)
_KEPT_KEY = re.compile(r"/" + re.escape(ENDED_STORE) + r"/(" + _CHANNEL_ID + ")")
_KEPT_VALUE = re.compile(r"([0-9.]*),([0-9.]*),([0-9.]+),([0-9]*),([0-9]*),([0-9]*),([0-9]*)")


def forget_kept_end_action(call_id: str) -> dict[str, str]:
    """The action that prunes one kept end (a channel's Uniqueid)."""
    if not re.fullmatch(_CHANNEL_ID, call_id):
        raise ValueError(f"not a channel id: {call_id!r}")
    return {"Action": "DBDel", "Family": ENDED_STORE, "Key": call_id}


def _kept_time(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def kept_ends_from_db_tree(messages: list[Message], node: str) -> tuple[ChannelHangup, ...]:
    """``DBGetTree Family: switchboard_ended``: what the hang-up handler kept of each channel
    (``start,answer,end,billsec,cause,ring group,queue``: CDR times, the end read at hang-up,
    Q.850 code, SB_RING_GROUP and SB_QUEUE), as the
    hang-ups they stand for. Entries of another shape are skipped."""
    ended = []
    for message in messages:
        if message.get("Event") != "DBGetTreeResponse":
            continue
        key = _KEPT_KEY.fullmatch(str(message.get("Key") or ""))
        value = _KEPT_VALUE.fullmatch(str(message.get("Val") or ""))
        if key is None or value is None:
            continue
        ended_at = _kept_time(value.group(3))
        if ended_at is None:
            continue
        started_at, answered_at = _kept_time(value.group(1)), _kept_time(value.group(2))
        code = int(value.group(5)) if value.group(5) else None
        call_id = key.group(1)
        ended.append(
            ChannelHangup(
                node=node,
                pbx="asterisk",
                event_id=f"ended:{call_id}",
                occurred_at=ended_at,
                raw={"Key": str(message.get("Key")), "Val": str(message.get("Val"))},
                call_id=call_id,
                started_at=started_at,
                answered_at=answered_at,
                ended_at=ended_at,
                duration=int(ended_at) - int(started_at) if started_at else None,
                billsec=int(value.group(4)) if value.group(4) else None,
                hangup_cause=hangup_cause_name(code, None),
                hangup_cause_code=code,
                ring_group=value.group(6) or None,
                queue=value.group(7) or None,
            )
        )
    return tuple(ended)
