"""The normalised call-event model both PBX kinds map into.

Everything downstream of esl_handlers/ (call history, presence, queue boards) consumes only these
types, never FreeSWITCH or Asterisk headers. Pure data: no IO, no PBX libraries.

Every event carries the node it came from, the PBX kind, a stable ``event_id`` (unique per node,
the same when the same PBX event is seen twice, so sinks can be idempotent), the PBX's own time
of the event (``occurred_at``, epoch seconds) and ``raw``: the original headers, so raw events can
be kept and call records re-derived later. ``raw`` takes no part in equality or hashing.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

PbxKind = Literal["freeswitch", "asterisk"]
RawHeaders = Mapping[str, "str | list[str]"]


class CallDirection(StrEnum):
    """Direction of one channel as the PBX sees it (inbound = the PBX received it)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ChannelState(StrEnum):
    DOWN = "down"
    RINGING = "ringing"
    EARLY = "early"
    ACTIVE = "active"
    HELD = "held"
    HANGUP = "hangup"


class RegistrationState(StrEnum):
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"
    EXPIRED = "expired"
    UNREACHABLE = "unreachable"


class DeviceStatus(StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    IN_USE = "in_use"
    BUSY = "busy"
    ON_HOLD = "on_hold"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


class DeviceStateSource(StrEnum):
    """What the state describes: a channel's presence, a device, or a dialplan hint."""

    PRESENCE = "presence"
    DEVICE = "device"
    HINT = "hint"


class AgentAvailability(StrEnum):
    AVAILABLE = "available"
    ON_BREAK = "on_break"
    LOGGED_OUT = "logged_out"
    UNKNOWN = "unknown"


class AgentActivity(StrEnum):
    IDLE = "idle"
    WAITING = "waiting"
    RINGING = "ringing"
    IN_CALL = "in_call"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


class QueueCallPhase(StrEnum):
    JOINED = "joined"
    OFFERED = "offered"
    CONNECTED = "connected"
    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"
    LEFT = "left"


class CallDisposition(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CONGESTION = "congestion"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxEvent:
    """Fields every normalised event carries."""

    node: str
    pbx: PbxKind
    event_id: str
    occurred_at: float
    raw: RawHeaders = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(PbxEvent):
    call_id: str
    linked_id: str | None = None
    direction: CallDirection | None = None
    channel_name: str | None = None
    extension: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    destination_number: str | None = None
    context: str | None = None
    started_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelAnswered(PbxEvent):
    call_id: str
    linked_id: str | None = None
    direction: CallDirection | None = None
    channel_name: str | None = None
    extension: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    destination_number: str | None = None
    answered_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelBridged(PbxEvent):
    call_id: str
    other_call_id: str | None = None
    linked_id: str | None = None
    bridge_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangup(PbxEvent):
    """A channel ended. Times and billsec are present where the PBX reports them (FreeSWITCH)."""

    call_id: str
    linked_id: str | None = None
    other_call_id: str | None = None
    direction: CallDirection | None = None
    channel_name: str | None = None
    extension: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    destination_number: str | None = None
    context: str | None = None
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    duration: int | None = None
    billsec: int | None = None
    hangup_cause: str | None = None
    hangup_cause_code: int | None = None
    #: The ring group and the queue (their extensions) the rendered dialplan marked the channel
    #: with on entering them (FreeSWITCH's sb_ring_group / sb_queue); None: it entered none, or
    #: the PBX does not report it (Asterisk: its `context` and `destination_number` at hang-up).
    ring_group: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialStarted(PbxEvent):
    call_id: str | None
    dest_call_id: str
    linked_id: str | None = None
    dest_channel_name: str | None = None
    dial_string: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEnded(PbxEvent):
    call_id: str | None
    dest_call_id: str
    linked_id: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDetailRecord(PbxEvent):
    """A PBX-computed CDR (Asterisk cdr_manager); one per CDR the PBX writes."""

    call_id: str
    linked_id: str | None = None
    channel_name: str | None = None
    destination_channel_name: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    destination_number: str | None = None
    context: str | None = None
    last_application: str | None = None
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    duration: int | None = None
    billsec: int | None = None
    disposition: CallDisposition = CallDisposition.UNKNOWN
    account_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration(PbxEvent):
    extension: str
    domain: str | None = None
    state: RegistrationState = RegistrationState.REGISTERED
    contact: str | None = None
    expires_at: float | None = None
    user_agent: str | None = None
    network_ip: str | None = None
    network_port: int | None = None
    sip_call_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceState(PbxEvent):
    extension: str
    state: DeviceStatus
    source: DeviceStateSource
    domain: str | None = None
    device: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMemberState(PbxEvent):
    """An agent's availability (logged in, paused) and/or activity (ringing, in a call).

    ``None`` means "not reported by this event", not "unknown".
    """

    agent: str
    queue: str | None = None
    extension: str | None = None
    availability: AgentAvailability | None = None
    activity: AgentActivity | None = None
    paused: bool | None = None
    paused_reason: str | None = None
    calls_taken: int | None = None
    last_call_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallEvent(PbxEvent):
    """A step of one caller's path through a queue; ``call_id`` is the caller's channel."""

    queue: str
    phase: QueueCallPhase
    call_id: str | None = None
    agent: str | None = None
    agent_extension: str | None = None
    agent_call_id: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    cause: str | None = None
    hold_seconds: int | None = None
    talk_seconds: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCallersWaiting(PbxEvent):
    queue: str
    count: int


CallEvent = (
    ChannelCreated
    | ChannelAnswered
    | ChannelBridged
    | ChannelHangup
    | DialStarted
    | DialEnded
    | CallDetailRecord
    | Registration
    | DeviceState
    | QueueMemberState
    | QueueCallEvent
    | QueueCallersWaiting
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveChannel:
    """One live channel as reported by a resync (not an event: it has no time of its own)."""

    call_id: str
    linked_id: str | None = None
    direction: CallDirection | None = None
    channel_name: str | None = None
    extension: str | None = None
    state: ChannelState = ChannelState.ACTIVE
    caller_number: str | None = None
    caller_name: str | None = None
    destination_number: str | None = None
    context: str | None = None
    started_at: float | None = None
    bridge_id: str | None = None


SNAPSHOT_PARTS = frozenset({"channels", "registrations", "device_states", "queue_members", "ended"})
#: Where the rendered dialplan makes the PBX keep each channel's end, billsec and hang-up cause
#: (FreeSWITCH: the mod_hash realm; Asterisk: the AstDB family), keyed by the channel's id, for
#: the listener to read at resync: neither PBX replays the events a listener missed.
ENDED_STORE = "switchboard_ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Live state read from a PBX on (re)connect. Only the parts named in ``parts`` were read,
    so a sink must replace exactly those and leave the others alone."""

    node: str
    pbx: PbxKind
    taken_at: float
    parts: frozenset[str]
    channels: tuple[ActiveChannel, ...] = ()
    registrations: tuple[Registration, ...] = ()
    device_states: tuple[DeviceState, ...] = ()
    queue_members: tuple[QueueMemberState, ...] = ()
    #: Hang-ups the PBX kept (ENDED_STORE): their times and cause are the PBX's own.
    ended: tuple[ChannelHangup, ...] = ()

    def __post_init__(self) -> None:
        unknown = self.parts - SNAPSHOT_PARTS
        if unknown:
            raise ValueError(f"unknown snapshot parts: {sorted(unknown)}")


@runtime_checkable
class EventSink(Protocol):
    """Where listeners hand normalised events.

    Listeners call a sink from one thread at a time and in PBX order: for each connection first
    ``resync`` with the snapshot, then ``submit`` for every live event, including events that
    arrived while the snapshot was being read. Events may repeat across reconnects: use
    ``(node, event_id)`` to stay idempotent.
    """

    def submit(self, event: CallEvent) -> None: ...

    def resync(self, snapshot: Snapshot) -> None: ...


EVENT_TYPES: dict[str, type[PbxEvent]] = {
    cls.__name__: cls
    for cls in (
        ChannelCreated,
        ChannelAnswered,
        ChannelBridged,
        ChannelHangup,
        DialStarted,
        DialEnded,
        CallDetailRecord,
        Registration,
        DeviceState,
        QueueMemberState,
        QueueCallEvent,
        QueueCallersWaiting,
    )
}


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:  # most fields, so checked first
        return value
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _record_to_dict(value)
    return value


def _raw_dict(raw: Any) -> dict[str, Any]:
    """The raw headers as a plain dict; a lazily parsed header mapping (FreeSWITCH's PlainEvent)
    offers ``to_dict()``, much cheaper than a lookup per header."""
    if isinstance(raw, dict):
        return dict(raw)
    to_dict = getattr(raw, "to_dict", None)
    return to_dict() if callable(to_dict) else dict(raw)


def _record_to_dict(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        out[f.name] = _raw_dict(value) if f.name == "raw" else _plain(value)
    return out


def event_to_dict(event: PbxEvent) -> dict[str, Any]:
    """A JSON-ready dict of the event, ``raw`` included, with its type under ``"type"``."""
    return {"type": type(event).__name__, **_record_to_dict(event)}


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    return {"type": "Snapshot", **_record_to_dict(snapshot)}


def _converters(cls: type) -> dict[str, type[StrEnum]]:
    hints = typing.get_type_hints(cls)
    found: dict[str, type[StrEnum]] = {}
    for name, hint in hints.items():
        for candidate in typing.get_args(hint) or (hint,):
            if isinstance(candidate, type) and issubclass(candidate, StrEnum):
                found[name] = candidate
    return found


_ENUM_FIELDS = {name: _converters(cls) for name, cls in EVENT_TYPES.items()}


def event_from_dict(data: Mapping[str, Any]) -> CallEvent:
    """Inverse of :func:`event_to_dict` (for stored raw events and replays)."""
    values = dict(data)
    type_name = values.pop("type")
    cls = EVENT_TYPES[type_name]
    for name, enum in _ENUM_FIELDS[type_name].items():
        if values.get(name) is not None:
            values[name] = enum(values[name])
    return typing.cast(CallEvent, cls(**values))


def snapshot_from_dict(data: Mapping[str, Any]) -> Snapshot:
    """Inverse of :func:`snapshot_to_dict`."""

    def events(rows: list[Mapping[str, Any]], cls: type[PbxEvent]) -> tuple[Any, ...]:
        return tuple(event_from_dict({"type": cls.__name__, **row}) for row in rows)

    channels = []
    for row in data.get("channels", []):
        values = dict(row)
        if values.get("direction") is not None:
            values["direction"] = CallDirection(values["direction"])
        values["state"] = ChannelState(values.get("state") or ChannelState.ACTIVE)
        channels.append(ActiveChannel(**values))
    return Snapshot(
        node=data["node"],
        pbx=data["pbx"],
        taken_at=data["taken_at"],
        parts=frozenset(data["parts"]),
        channels=tuple(channels),
        registrations=events(data.get("registrations", []), Registration),
        device_states=events(data.get("device_states", []), DeviceState),
        queue_members=events(data.get("queue_members", []), QueueMemberState),
        ended=events(data.get("ended", []), ChannelHangup),
    )
