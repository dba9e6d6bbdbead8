"""FreeSWITCH event-plain headers -> control.events, and the resync listings -> snapshot parts.

Pure functions over a header mapping: pass a :class:`~esl_handlers.esl_frames.PlainEvent` (only
the headers a handler asks for are located and url-decoded) or any ``Mapping[str, str]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from control.events import (
    ENDED_STORE,
    ActiveChannel,
    AgentActivity,
    AgentAvailability,
    CallDirection,
    CallEvent,
    ChannelAnswered,
    ChannelBridged,
    ChannelCreated,
    ChannelHangup,
    ChannelState,
    DeviceState,
    DeviceStateSource,
    DeviceStatus,
    QueueCallersWaiting,
    QueueCallEvent,
    QueueCallPhase,
    QueueMemberState,
    Registration,
    RegistrationState,
)
from control.render.names import device_owner
from esl_handlers.event_errors import ApiResponseError, MalformedEvent, UnknownEvent

Headers = Mapping[str, str]

#: Event names and CUSTOM subclasses the normaliser consumes (plus HEARTBEAT for the watchdog).
SUBSCRIBED_EVENTS = (
    "CHANNEL_CREATE",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_HANGUP_COMPLETE",
    "PRESENCE_IN",
    "HEARTBEAT",
    "CUSTOM",
    "sofia::register",
    "sofia::unregister",
    "sofia::expire",
    "callcenter::info",
)
SUBSCRIBE_COMMAND = "event plain " + " ".join(SUBSCRIBED_EVENTS)

#: Known events that carry nothing for the model (HEARTBEAT feeds the watchdog only).
IGNORED_EVENTS = frozenset({"HEARTBEAT", "CHANNEL_UNBRIDGE"})

PBX = "freeswitch"


def _required(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if not value:
        raise MalformedEvent(f"missing {name}")
    return value


def _int(headers: Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedEvent(f"{name} is not an integer: {value!r}") from None


def _micros(headers: Headers, *names: str) -> float | None:
    """First non-zero microsecond timestamp among ``names``, as epoch seconds."""
    for name in names:
        value = _int(headers, name)
        if value:
            return value / 1_000_000
    return None


def _seconds(headers: Headers, name: str) -> float | None:
    value = _int(headers, name)
    return float(value) if value else None


def _first(headers: Headers, *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


def _local_part(address: str | None) -> str | None:
    if not address:
        return None
    return address.partition("@")[0] or None


def _domain_part(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.partition("@")[2] or None


def _direction(value: str | None) -> CallDirection | None:
    if value == "inbound":
        return CallDirection.INBOUND
    if value == "outbound":
        return CallDirection.OUTBOUND
    return None


def _contact_uri(contact: str | None) -> str | None:
    """``"Alice" <sip:1000@host:port>`` or ``sofia/internal/sip:1000@host`` -> the SIP URI."""
    if not contact:
        return None
    if "<" in contact:
        inner = contact.partition("<")[2].partition(">")[0]
        return inner or None
    for scheme in ("sips:", "sip:"):
        at = contact.find(scheme)
        if at >= 0:
            return contact[at:]
    return contact


class _Base:
    """The envelope fields, read once per event."""

    __slots__ = ("node", "event_id", "occurred_at", "raw")

    def __init__(self, headers: Headers, node: str, name: str) -> None:
        timestamp = _int(headers, "Event-Date-Timestamp")
        if not timestamp:
            raise MalformedEvent(f"{name}: missing Event-Date-Timestamp")
        self.node = node
        self.occurred_at = timestamp / 1_000_000
        core = headers.get("Core-UUID")
        sequence = headers.get("Event-Sequence")
        if core and sequence:
            self.event_id = f"{core}:{sequence}"
        else:
            self.event_id = f"{headers.get('Unique-ID') or '-'}:{name}:{timestamp}"
        self.raw = headers

    def fields(self) -> dict:
        return {
            "node": self.node,
            "pbx": PBX,
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
            "raw": self.raw,
        }


def _linked_id(headers: Headers, call_id: str, direction: str | None) -> str:
    """The a-leg of the call. On an outbound leg FreeSWITCH rewrites Channel-Call-UUID to the
    leg's own uuid once it is bridged, so the originating leg (or the callcenter member leg) is
    asked for first there; inbound legs are their own a-leg."""
    if direction == "outbound":
        linked = _first(
            headers,
            "variable_originating_leg_uuid",
            "variable_cc_member_session_uuid",
            "Channel-Call-UUID",
            "variable_call_uuid",
        )
    else:
        linked = _first(headers, "Channel-Call-UUID", "variable_call_uuid")
    return linked or call_id


def _extension(headers: Headers, direction: str | None) -> str | None:
    """The channel's own user. A bridge to user/<ext> sets `dialed_user` on both legs: on a leg
    FreeSWITCH originated (outbound) it is that leg's user, on the caller's leg it is the callee
    (a carrier's call to a line would otherwise look like a call made by the user it rang)."""
    names = ["Channel-Presence-ID", "variable_presence_id", "variable_dialed_user", "variable_user_name"]
    if direction != "outbound":
        names.remove("variable_dialed_user")
    local = _local_part(_first(headers, *names))
    return device_owner(local) if local else local


def _channel_common(headers: Headers, call_id: str) -> dict:
    direction = headers.get("Call-Direction")
    return {
        "call_id": call_id,
        "linked_id": _linked_id(headers, call_id, direction),
        "direction": _direction(direction),
        "channel_name": headers.get("Channel-Name"),
        "extension": _extension(headers, direction),
        "caller_number": headers.get("Caller-Caller-ID-Number"),
        "caller_name": headers.get("Caller-Caller-ID-Name"),
        "destination_number": headers.get("Caller-Destination-Number"),
    }


def _on_channel_create(headers: Headers, base: _Base) -> ChannelCreated:
    call_id = _required(headers, "Unique-ID")
    return ChannelCreated(
        **base.fields(),
        **_channel_common(headers, call_id),
        context=headers.get("Caller-Context"),
        started_at=_micros(headers, "Caller-Channel-Created-Time") or base.occurred_at,
    )


def _on_channel_answer(headers: Headers, base: _Base) -> ChannelAnswered:
    call_id = _required(headers, "Unique-ID")
    return ChannelAnswered(
        **base.fields(),
        **_channel_common(headers, call_id),
        answered_at=_micros(headers, "Caller-Channel-Answered-Time") or base.occurred_at,
    )


def _on_channel_bridge(headers: Headers, base: _Base) -> ChannelBridged:
    call_id = _first(headers, "Bridge-A-Unique-ID", "Unique-ID")
    if not call_id:
        raise MalformedEvent("CHANNEL_BRIDGE: missing Bridge-A-Unique-ID")
    return ChannelBridged(
        **base.fields(),
        call_id=call_id,
        other_call_id=_first(headers, "Bridge-B-Unique-ID", "Other-Leg-Unique-ID"),
        linked_id=_linked_id(headers, call_id, headers.get("Call-Direction")),
    )


def _on_channel_hangup_complete(headers: Headers, base: _Base) -> ChannelHangup:
    """Times come from the Caller-Channel-*-Time headers near the top of the body; duration and
    billsec are computed the way FreeSWITCH computes variable_duration / variable_billsec (whole
    epoch seconds), which spares scanning the long variable_ section for them."""
    call_id = _required(headers, "Unique-ID")
    started = _int(headers, "Caller-Channel-Created-Time") or _int(headers, "variable_start_uepoch")
    answered = _int(headers, "Caller-Channel-Answered-Time") or _int(headers, "variable_answer_uepoch")
    ended = _int(headers, "Caller-Channel-Hangup-Time") or _int(headers, "variable_end_uepoch")
    end_second = ended // 1_000_000 if ended else int(base.occurred_at)
    return ChannelHangup(
        **base.fields(),
        **_channel_common(headers, call_id),
        other_call_id=headers.get("Other-Leg-Unique-ID"),
        context=headers.get("Caller-Context"),
        started_at=started / 1_000_000 if started else None,
        answered_at=answered / 1_000_000 if answered else None,
        ended_at=ended / 1_000_000 if ended else base.occurred_at,
        duration=end_second - started // 1_000_000 if started else None,
        billsec=end_second - answered // 1_000_000 if answered else 0,
        hangup_cause=_first(headers, "Hangup-Cause", "variable_hangup_cause"),
        hangup_cause_code=_int(headers, "variable_hangup_cause_q850"),
        ring_group=headers.get("variable_sb_ring_group") or None,
        queue=headers.get("variable_sb_queue") or None,
    )


_CALL_INFO_STATES = {
    "alerting": DeviceStatus.RINGING,
    "progressing": DeviceStatus.RINGING,
    "early": DeviceStatus.RINGING,
    "ringing": DeviceStatus.RINGING,
    "active": DeviceStatus.IN_USE,
    "confirmed": DeviceStatus.IN_USE,
    "answered": DeviceStatus.IN_USE,
    "held": DeviceStatus.ON_HOLD,
    "idle": DeviceStatus.IDLE,
    "terminated": DeviceStatus.IDLE,
}
_ANSWER_STATES = {
    "ringing": DeviceStatus.RINGING,
    "early": DeviceStatus.RINGING,
    "answered": DeviceStatus.IN_USE,
    "hangup": DeviceStatus.IDLE,
}


def _on_presence_in(headers: Headers, base: _Base) -> DeviceState | None:
    """Channel presence (``proto: any`` with a Unique-ID) and registration presence
    (``proto: sip``, Unregistered). Queue presence (``proto: callcenter``) is not a device."""
    proto = headers.get("proto")
    address = headers.get("from")
    if proto == "callcenter" or not address:
        return None
    call_id = headers.get("Unique-ID")
    if call_id:
        info = headers.get("presence-call-info-state")
        state = _CALL_INFO_STATES.get(info or "") or _ANSWER_STATES.get(headers.get("Answer-State") or "")
        if state is None:
            return None
    elif proto == "sip":
        status = headers.get("status") or ""
        if status.startswith("Unregistered"):
            state = DeviceStatus.UNAVAILABLE
        elif status.startswith("Registered"):
            state = DeviceStatus.IDLE
        else:
            return None
    else:
        return None
    extension = _local_part(address)
    if not extension:
        raise MalformedEvent(f"PRESENCE_IN: unreadable from {address!r}")
    extension = device_owner(extension)
    return DeviceState(
        **base.fields(),
        extension=extension,
        domain=_domain_part(address),
        state=state,
        source=DeviceStateSource.PRESENCE,
        call_id=call_id,
    )


def _registration(headers: Headers, base: _Base, state: RegistrationState, expires_at: float | None):
    extension = _first(headers, "username", "from-user", "user")
    if not extension:
        raise MalformedEvent("sofia registration event without username")
    return Registration(
        **base.fields(),
        extension=device_owner(extension),
        domain=_first(headers, "realm", "from-host", "host"),
        state=state,
        contact=_contact_uri(headers.get("contact")),
        expires_at=expires_at,
        user_agent=headers.get("user-agent"),
        network_ip=headers.get("network-ip"),
        network_port=_int(headers, "network-port"),
        sip_call_id=headers.get("call-id"),
    )


def _on_sofia_register(headers: Headers, base: _Base) -> Registration:
    expires = _int(headers, "expires")
    expires_at = base.occurred_at + expires if expires else None
    return _registration(headers, base, RegistrationState.REGISTERED, expires_at)


def _on_sofia_unregister(headers: Headers, base: _Base) -> Registration:
    return _registration(headers, base, RegistrationState.UNREGISTERED, None)


def _on_sofia_expire(headers: Headers, base: _Base) -> Registration:
    # Here ``expires`` is the absolute epoch the registration ran out, not a duration.
    return _registration(headers, base, RegistrationState.EXPIRED, _seconds(headers, "expires"))


AGENT_STATES = {
    "Waiting": AgentActivity.WAITING,
    "Receiving": AgentActivity.RINGING,
    "Reserved": AgentActivity.RINGING,
    "In a queue call": AgentActivity.IN_CALL,
    "Idle": AgentActivity.IDLE,
    "Unknown": AgentActivity.UNKNOWN,
}
AGENT_STATUSES = {
    "Available": AgentAvailability.AVAILABLE,
    "Available (On Demand)": AgentAvailability.AVAILABLE,
    "On Break": AgentAvailability.ON_BREAK,
    "Logged Out": AgentAvailability.LOGGED_OUT,
}


def _agent_availability(status: str | None) -> AgentAvailability:
    return AGENT_STATUSES.get(status or "", AgentAvailability.UNKNOWN)


def _agent_activity(state: str | None) -> AgentActivity:
    return AGENT_STATES.get(state or "", AgentActivity.UNKNOWN)


def _elapsed(headers: Headers, start: str, end: str) -> int | None:
    begin, finish = _int(headers, start), _int(headers, end)
    if begin and finish and finish >= begin:
        return finish - begin
    return None


def _queue_call(headers: Headers, base: _Base, phase: QueueCallPhase, **extra) -> QueueCallEvent:
    agent = headers.get("CC-Agent")
    fields = {
        "queue": _required(headers, "CC-Queue"),
        "phase": phase,
        "call_id": headers.get("CC-Member-Session-UUID"),
        "agent": agent,
        "agent_extension": _local_part(agent),
        "agent_call_id": headers.get("CC-Agent-UUID"),
        "caller_number": headers.get("CC-Member-CID-Number"),
        "caller_name": headers.get("CC-Member-CID-Name"),
    }
    fields.update(extra)
    return QueueCallEvent(**base.fields(), **fields)


def _on_callcenter(headers: Headers, base: _Base) -> CallEvent:
    action = headers.get("CC-Action")
    if action == "agent-state-change" or action == "agent-status-change":
        agent = _required(headers, "CC-Agent")
        if action == "agent-state-change":
            extra: dict = {"activity": _agent_activity(headers.get("CC-Agent-State"))}
        else:
            availability = _agent_availability(headers.get("CC-Agent-Status"))
            extra = {"availability": availability, "paused": availability is AgentAvailability.ON_BREAK}
        return QueueMemberState(
            **base.fields(), agent=agent, extension=_local_part(agent), queue=headers.get("CC-Queue"), **extra
        )
    if action == "agent-max-no-answer":
        # mod_callcenter put the agent On Break after max-no-answer unanswered offers (it also
        # sends agent-status-change; this one says why).
        agent = _required(headers, "CC-Agent")
        return QueueMemberState(
            **base.fields(),
            agent=agent,
            extension=_local_part(agent),
            queue=headers.get("CC-Queue"),
            availability=AgentAvailability.ON_BREAK,
            paused=True,
            paused_reason="max-no-answer",
        )
    if action == "members-count":
        count = _int(headers, "CC-Count")
        if count is None:
            raise MalformedEvent("members-count without CC-Count")
        return QueueCallersWaiting(**base.fields(), queue=_required(headers, "CC-Queue"), count=count)
    if action == "member-queue-start":
        return _queue_call(headers, base, QueueCallPhase.JOINED)
    if action == "agent-offering":
        return _queue_call(headers, base, QueueCallPhase.OFFERED)
    if action == "bridge-agent-start":
        hold = _elapsed(headers, "CC-Member-Joined-Time", "CC-Agent-Answered-Time")
        return _queue_call(headers, base, QueueCallPhase.CONNECTED, hold_seconds=hold)
    if action == "bridge-agent-end":
        return _queue_call(
            headers,
            base,
            QueueCallPhase.COMPLETED,
            cause=headers.get("CC-Hangup-Cause"),
            hold_seconds=_elapsed(headers, "CC-Member-Joined-Time", "CC-Agent-Answered-Time"),
            talk_seconds=_elapsed(headers, "CC-Agent-Answered-Time", "CC-Bridge-Terminated-Time"),
        )
    if action == "bridge-agent-fail":
        return _queue_call(headers, base, QueueCallPhase.FAILED, cause=headers.get("CC-Hangup-Cause"))
    if action == "member-queue-end":
        cause = headers.get("CC-Cause")
        abandoned = cause == "Cancel"
        answered = _elapsed(headers, "CC-Member-Joined-Time", "CC-Agent-Answered-Time")
        return _queue_call(
            headers,
            base,
            QueueCallPhase.ABANDONED if abandoned else QueueCallPhase.LEFT,
            cause=headers.get("CC-Cancel-Reason") if abandoned else cause,
            hold_seconds=answered
            if answered is not None
            else _elapsed(headers, "CC-Member-Joined-Time", "CC-Member-Leaving-Time"),
        )
    raise UnknownEvent(f"callcenter::info action {action!r}")


Handler = Callable[[Headers, _Base], "CallEvent | None"]

_BY_NAME: dict[str, Handler] = {
    "CHANNEL_CREATE": _on_channel_create,
    "CHANNEL_ANSWER": _on_channel_answer,
    "CHANNEL_BRIDGE": _on_channel_bridge,
    "CHANNEL_HANGUP_COMPLETE": _on_channel_hangup_complete,
    "PRESENCE_IN": _on_presence_in,
}
_BY_SUBCLASS: dict[str, Handler] = {
    "sofia::register": _on_sofia_register,
    "sofia::unregister": _on_sofia_unregister,
    "sofia::expire": _on_sofia_expire,
    "callcenter::info": _on_callcenter,
}


def normalise_freeswitch_event(headers: Headers, node: str) -> CallEvent | None:
    """One FreeSWITCH event -> a normalised event, or ``None`` for a known event the model
    does not need. Raises :class:`MalformedEvent` or :class:`UnknownEvent`."""
    name = headers.get("Event-Name")
    if not name:
        raise MalformedEvent("missing Event-Name")
    if name == "CUSTOM":
        subclass = headers.get("Event-Subclass") or ""
        handler = _BY_SUBCLASS.get(subclass)
        if handler is None:
            raise UnknownEvent(f"CUSTOM {subclass!r}")
        key = subclass
    else:
        handler = _BY_NAME.get(name)
        if handler is None:
            if name in IGNORED_EVENTS:
                return None
            raise UnknownEvent(name)
        key = name
    return handler(headers, _Base(headers, node, key))


def is_heartbeat(headers: Headers) -> bool:
    return headers.get("Event-Name") == "HEARTBEAT"


# --- resync listings -------------------------------------------------------------------------


def _json_rows(text: str, command: str) -> list[dict]:
    try:
        data = json.loads(text)
    except ValueError:
        raise ApiResponseError(f"{command}: not JSON: {text[:120]!r}") from None
    if not isinstance(data, dict) or "row_count" not in data:
        raise ApiResponseError(f"{command}: unexpected reply {text[:120]!r}")
    # With no rows FreeSWITCH answers {"row_count": 0} and leaves "rows" out altogether.
    rows = data.get("rows") or []
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ApiResponseError(f"{command}: rows is not a list of objects")
    return rows


_CALL_STATES = {
    "DOWN": ChannelState.DOWN,
    "DIALING": ChannelState.RINGING,
    "RINGING": ChannelState.RINGING,
    "RING_WAIT": ChannelState.RINGING,
    "EARLY": ChannelState.EARLY,
    "ACTIVE": ChannelState.ACTIVE,
    "HELD": ChannelState.HELD,
    "HANGUP": ChannelState.HANGUP,
}


def _row_int(row: dict, name: str) -> int | None:
    value = row.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiResponseError(f"{name} is not an integer: {value!r}") from None


def parse_show_channels(text: str) -> tuple[ActiveChannel, ...]:
    """``api show channels as json`` -> the live channels."""
    channels = []
    for row in _json_rows(text, "show channels"):
        call_id = row.get("uuid")
        if not call_id:
            raise ApiResponseError("show channels: row without uuid")
        created = _row_int(row, "created_epoch")
        channels.append(
            ActiveChannel(
                call_id=call_id,
                linked_id=row.get("call_uuid") or call_id,
                direction=_direction(row.get("direction")),
                channel_name=row.get("name") or None,
                extension=_local_part(row.get("presence_id")),
                state=_CALL_STATES.get(row.get("callstate") or "", ChannelState.DOWN),
                caller_number=row.get("cid_num") or None,
                caller_name=row.get("cid_name") or None,
                destination_number=row.get("dest") or None,
                context=row.get("context") or None,
                started_at=float(created) if created else None,
            )
        )
    return tuple(channels)


def parse_show_registrations(text: str, node: str, taken_at: float) -> tuple[Registration, ...]:
    """``api show registrations as json`` -> one REGISTERED Registration per row."""
    registrations = []
    for row in _json_rows(text, "show registrations"):
        user = row.get("reg_user")
        if not user:
            raise ApiResponseError("show registrations: row without reg_user")
        realm = row.get("realm") or None
        token = row.get("token") or ""
        expires = _row_int(row, "expires")
        registrations.append(
            Registration(
                node=node,
                pbx=PBX,
                event_id=f"resync:{taken_at:.6f}:registration:{user}@{realm}:{token}",
                occurred_at=taken_at,
                raw={key: str(value) for key, value in row.items()},
                extension=device_owner(user),
                domain=realm,
                state=RegistrationState.REGISTERED,
                contact=_contact_uri(row.get("url")),
                expires_at=float(expires) if expires else None,
                network_ip=row.get("network_ip") or None,
                network_port=_row_int(row, "network_port"),
                sip_call_id=token or None,
            )
        )
    return tuple(registrations)


def parse_queue_agents(text: str, queue: str, node: str, taken_at: float) -> tuple[QueueMemberState, ...]:
    """``api callcenter_config queue list agents <queue>``: a pipe table with a header line,
    ended by ``+OK``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[-1].strip() != "+OK":
        raise ApiResponseError(f"queue list agents {queue}: {text[:120]!r}")
    if len(lines) == 1:
        return ()  # no agent has a tier in the queue (all paused, or none yet): no table at all
    columns = lines[0].split("|")
    if "name" not in columns:
        raise ApiResponseError(f"queue list agents {queue}: no header line")
    members = []
    for line in lines[1:-1]:
        values = line.split("|")
        if len(values) != len(columns):
            raise ApiResponseError(f"queue list agents {queue}: bad row {line!r}")
        row = dict(zip(columns, values, strict=True))
        agent = row["name"]
        availability = _agent_availability(row.get("status"))
        last_call = _row_int(row, "last_bridge_end")
        members.append(
            QueueMemberState(
                node=node,
                pbx=PBX,
                event_id=f"resync:{taken_at:.6f}:queue-member:{queue}:{agent}",
                occurred_at=taken_at,
                raw=row,
                agent=agent,
                queue=queue,
                extension=_local_part(agent),
                availability=availability,
                activity=_agent_activity(row.get("state")),
                paused=availability is AgentAvailability.ON_BREAK,
                calls_taken=_row_int(row, "calls_answered"),
                last_call_at=float(last_call) if last_call else None,
            )
        )
    return tuple(members)


#: ``hash_dump db <realm>`` prints ``D/<realm>_<key>/<value>`` per entry.
KEPT_ENDS_COMMAND = f"api hash_dump db {ENDED_STORE}"
_CHANNEL_ID = r"[0-9a-f-]{36}"  # a FreeSWITCH channel uuid
_KEPT_END = re.compile(
    r"D/"
    + re.escape(ENDED_STORE)
    + r"_("
    + _CHANNEL_ID
    + r")/(\d+),(\d+),(\d+),(\d+),([A-Z_]+),([0-9]*),([0-9]*)"
)


def forget_kept_end_command(call_id: str) -> str:
    """The command that prunes one kept end (a channel id as FreeSWITCH wrote it)."""
    if not re.fullmatch(_CHANNEL_ID, call_id):
        raise ValueError(f"not a channel id: {call_id!r}")
    return f"api hash delete/{ENDED_STORE}/{call_id}"


def parse_kept_ends(text: str, node: str) -> tuple[ChannelHangup, ...]:
    """``hash_dump db switchboard_ended``: what the rendered dialplan's hang-up hook kept of each
    channel (``start_uepoch,answer_uepoch,end_uepoch,billsec,hangup_cause,sb_ring_group,sb_queue``), as the hang-ups
    they stand for. Lines of another shape (another realm that contains the name) are skipped."""
    ended = []
    for line in text.splitlines():
        found = _KEPT_END.fullmatch(line.strip())
        if found is None:
            continue
        call_id, start, answer, end, billsec, cause, ring_group, queue = found.groups()
        if not int(end):
            continue
        ended_at = int(end) / 1_000_000
        ended.append(
            ChannelHangup(
                node=node,
                pbx=PBX,
                event_id=f"ended:{call_id}",
                occurred_at=ended_at,
                raw={"kept": line.strip()},
                call_id=call_id,
                started_at=int(start) / 1_000_000 if int(start) else None,
                answered_at=int(answer) / 1_000_000 if int(answer) else None,
                ended_at=ended_at,
                duration=int(end) // 1_000_000 - int(start) // 1_000_000 if int(start) else None,
                billsec=int(billsec),
                hangup_cause=cause,
                ring_group=ring_group or None,
                queue=queue or None,
            )
        )
    return tuple(ended)


def kept_end_of(headers: Headers) -> bool:
    """Whether a CHANNEL_HANGUP_COMPLETE's channel had its end kept (the hook names the realm)."""
    return ENDED_STORE in (headers.get("variable_api_hangup_hook") or "")
