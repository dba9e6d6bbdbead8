"""AMI messages as Asterisk 22 writes them (field lists from the Asterisk 22 AMI event docs),
for a PJSIP call from 1000 (Alice) to 1001 and the queue/presence events around it.

Each message is the wire text without the terminating blank line; ``parse`` runs it through
panoramisk's own message parser, so the tests see exactly what the listener's callbacks see.
"""

from __future__ import annotations

from panoramisk.message import Message

CALLER = "1795219369.1"
CALLEE = "1795219369.2"


def parse(text: str) -> Message:
    message = Message.from_line(text.strip("\n").replace("\n", "\r\n"))
    assert message is not None
    return message


def _channel(
    prefix: str, channel: str, state: int, desc: str, num: str, name: str, exten: str, uid: str
) -> str:
    return (
        f"{prefix}Channel: {channel}\n"
        f"{prefix}ChannelState: {state}\n"
        f"{prefix}ChannelStateDesc: {desc}\n"
        f"{prefix}CallerIDNum: {num}\n"
        f"{prefix}CallerIDName: {name}\n"
        f"{prefix}ConnectedLineNum: <unknown>\n"
        f"{prefix}ConnectedLineName: <unknown>\n"
        f"{prefix}Language: en\n"
        f"{prefix}AccountCode: \n"
        f"{prefix}Context: from-internal\n"
        f"{prefix}Exten: {exten}\n"
        f"{prefix}Priority: 1\n"
        f"{prefix}Uniqueid: {uid}\n"
        f"{prefix}Linkedid: {CALLER}\n"
    )


def caller(state: int = 4, desc: str = "Ring") -> str:
    return _channel("", "PJSIP/1000-00000001", state, desc, "1000", "Alice", "1001", CALLER)


def callee(prefix: str = "", state: int = 0, desc: str = "Down") -> str:
    return _channel(prefix, "PJSIP/1001-00000002", state, desc, "1001", "<unknown>", "s", CALLEE)


def head(event: str, timestamp: str, privilege: str = "call,all") -> str:
    return f"Event: {event}\nPrivilege: {privilege}\nTimestamp: {timestamp}\n"


NEWCHANNEL_CALLER = head("Newchannel", "1795219369.222066") + caller(0, "Down")
DIAL_BEGIN = head("DialBegin", "1795219369.230001") + caller() + callee("Dest") + "DialString: 1001\n"
NEWCHANNEL_CALLEE = head("Newchannel", "1795219369.230000") + callee()
NEWSTATE_CALLEE_RINGING = head("Newstate", "1795219369.300000") + callee(state=5, desc="Ringing")
NEWSTATE_CALLEE_UP = head("Newstate", "1795219370.242062") + callee(state=6, desc="Up")
DIAL_END = head("DialEnd", "1795219370.242100") + caller() + callee("Dest", 6, "Up") + "DialStatus: ANSWER\n"
NEWSTATE_CALLER_UP = head("Newstate", "1795219370.250000") + caller(6, "Up")
BRIDGE = (
    "BridgeUniqueid: 0b6b5c4e-3d0f-4a43-a3d4-3a9a4b0d6c11\n"
    "BridgeType: basic\n"
    "BridgeTechnology: simple_bridge\n"
    "BridgeCreator: <unknown>\n"
    "BridgeName: <unknown>\n"
    "BridgeNumChannels: {count}\n"
    "BridgeVideoSourceMode: none\n"
)
BRIDGE_ENTER_CALLER = head("BridgeEnter", "1795219370.262080") + BRIDGE.format(count=1) + caller(6, "Up")
BRIDGE_ENTER_CALLEE = (
    head("BridgeEnter", "1795219370.262090") + BRIDGE.format(count=2) + callee(state=6, desc="Up")
)
HANGUP_CALLEE = (
    head("Hangup", "1795219372.282069")
    + callee(state=6, desc="Up")
    + "Cause: 16\nCause-txt: Normal Clearing\n"
)
HANGUP_CALLER = (
    head("Hangup", "1795219372.290000") + caller(6, "Up") + "Cause: 16\nCause-txt: Normal Clearing\n"
)
CDR = (
    "Event: Cdr\nPrivilege: cdr,all\n"
    "AccountCode: \n"
    "Source: 1000\n"
    "Destination: 1001\n"
    "DestinationContext: from-internal\n"
    'CallerID: "Alice" <1000>\n'
    "Channel: PJSIP/1000-00000001\n"
    "DestinationChannel: PJSIP/1001-00000002\n"
    "LastApplication: Dial\n"
    "LastData: PJSIP/1001,30\n"
    "StartTime: 2026-11-21 00:02:49\n"
    "AnswerTime: 2026-11-21 00:02:50\n"
    "EndTime: 2026-11-21 00:02:52\n"
    "Duration: 3\n"
    "BillableSeconds: 2\n"
    "Disposition: ANSWERED\n"
    "AMAFlags: DOCUMENTATION\n"
    f"UniqueID: {CALLER}\n"
    "UserField: \n"
)
CDR_MISSED = (
    CDR.replace("AnswerTime: 2026-11-21 00:02:50", "AnswerTime: ")
    .replace("BillableSeconds: 2", "BillableSeconds: 0")
    .replace("Disposition: ANSWERED", "Disposition: NO ANSWER")
)
DIAL_END_CANCEL = DIAL_END.replace("DialStatus: ANSWER", "DialStatus: CANCEL")
HANGUP_CALLER_CANCEL = (
    head("Hangup", "1795219372.290000") + caller() + "Cause: 127\nCause-txt: Interworking, unspecified\n"
)

ANSWERED_CALL = [
    NEWCHANNEL_CALLER,
    DIAL_BEGIN,
    NEWCHANNEL_CALLEE,
    NEWSTATE_CALLEE_RINGING,
    NEWSTATE_CALLEE_UP,
    DIAL_END,
    NEWSTATE_CALLER_UP,
    BRIDGE_ENTER_CALLER,
    BRIDGE_ENTER_CALLEE,
    HANGUP_CALLEE,
    HANGUP_CALLER,
    CDR,
]

CONTACT_CREATED = (
    "Event: ContactStatus\nPrivilege: system,all\n"
    "URI: sip:1001@192.0.2.2:15070\n"
    "ContactStatus: Created\n"
    "AOR: 1001\n"
    "EndpointName: 1001\n"
)
CONTACT_REACHABLE = CONTACT_CREATED.replace("Created", "Reachable") + "RoundtripUsec: 1234\n"
CONTACT_UNREACHABLE = CONTACT_CREATED.replace("Created", "Unreachable")
CONTACT_REMOVED = CONTACT_CREATED.replace("Created", "Removed")

DEVICE_STATE_INUSE = "Event: DeviceStateChange\nPrivilege: call,all\nDevice: PJSIP/1001\nState: INUSE\n"
DEVICE_STATE_RINGING = DEVICE_STATE_INUSE.replace("INUSE", "RINGING")
DEVICE_STATE_QUEUE = (
    "Event: DeviceStateChange\nPrivilege: call,all\nDevice: Queue:support_avail\nState: NOT_INUSE\n"
)
EXTENSION_STATUS = (
    "Event: ExtensionStatus\nPrivilege: call,all\n"
    "Exten: 1001\nContext: from-internal\nHint: PJSIP/1001\nStatus: 8\nStatusText: Ringing\n"
)
EXTENSION_REMOVED = EXTENSION_STATUS.replace(
    "Status: 8\nStatusText: Ringing", "Status: -2\nStatusText: Unknown"
)

_MEMBER = (
    "Queue: support\n"
    "MemberName: Bob\n"
    "Interface: PJSIP/1001\n"
    "StateInterface: PJSIP/1001\n"
    "Membership: dynamic\n"
    "Penalty: 0\n"
    "CallsTaken: 3\n"
    "LastCall: 1795219300\n"
    "LastPause: 0\n"
    "LoginTime: 1795219000\n"
    "InCall: {in_call}\n"
    "Status: {status}\n"
    "Paused: {paused}\n"
    "PausedReason: {reason}\n"
    "Ringinuse: 0\n"
    "Wrapuptime: 0\n"
)
QUEUE_MEMBER_STATUS = "Event: QueueMemberStatus\nPrivilege: agent,all\n" + _MEMBER.format(
    in_call=1, status=2, paused=0, reason=""
)
QUEUE_MEMBER_PAUSE = "Event: QueueMemberPause\nPrivilege: agent,all\n" + _MEMBER.format(
    in_call=0, status=1, paused=1, reason="lunch"
)

_AGENT = "Queue: support\nMemberName: Bob\nInterface: PJSIP/1001\n"
AGENT_CALLED = head("AgentCalled", "1795219437.622071", "agent,all") + caller() + callee("Dest") + _AGENT
AGENT_CONNECT = (
    head("AgentConnect", "1795219438.622079", "agent,all")
    + caller(6, "Up")
    + callee("Dest", 6, "Up")
    + _AGENT
    + "RingTime: 1\nHoldTime: 1\n"
)
AGENT_COMPLETE = (
    head("AgentComplete", "1795219445.682077", "agent,all")
    + caller(6, "Up")
    + callee("Dest", 6, "Up")
    + _AGENT
    + "HoldTime: 1\nTalkTime: 7\nReason: caller\n"
)

FULLY_BOOTED = "Event: FullyBooted\nPrivilege: system,all\nUptime: 12\nLastReload: 12\nStatus: Fully Booted\n"

# --- resync listings (the events of each EventList, ActionID added by the server) -------------

CORE_SHOW_CHANNELS = [
    "Event: CoreShowChannel\n"
    + caller(6, "Up")
    + "BridgeId: 0b6b5c4e-3d0f-4a43-a3d4-3a9a4b0d6c11\nApplication: Dial\nApplicationData: PJSIP/1001,30\n"
    + "Duration: 00:01:05\n",
    "Event: CoreShowChannel\n"
    + callee(state=6, desc="Up")
    + "BridgeId: 0b6b5c4e-3d0f-4a43-a3d4-3a9a4b0d6c11\nApplication: AppDial\nApplicationData: (Outgoing Line)\n"
    + "Duration: 00:01:04\n",
]
CONTACT_LIST = [
    "Event: ContactList\n"
    "ObjectType: contact\n"
    "ObjectName: 1001;@a6b9d1f0e2c3b4a5968778695a4b3c2d\n"
    "ViaAddr: 192.0.2.2\n"
    "ViaPort: 15071\n"
    "QualifyTimeout: 3.000000\n"
    "CallId: 1-23547@192.0.2.2\n"
    "RegServer: \n"
    "PruneOnBoot: no\n"
    "Path: \n"
    "Endpoint: 1001\n"
    "AuthenticateQualify: false\n"
    "Uri: sip:1001@192.0.2.2:15070\n"
    "QualifyFrequency: 0\n"
    "UserAgent: sipp-wire-capture\n"
    "ExpirationTime: 1795222982\n"
    "OutboundProxy: \n"
    "Status: NonQualified\n"
    "RoundtripUsec: N/A\n"
]
DEVICE_STATE_LIST = [
    "Event: DeviceStateChange\nDevice: PJSIP/1000\nState: INUSE\n",
    "Event: DeviceStateChange\nDevice: PJSIP/1002\nState: UNAVAILABLE\n",
]
QUEUE_STATUS = [
    "Event: QueueParams\nQueue: support\nMax: 0\nStrategy: ringall\nCalls: 0\nHoldtime: 0\nTalkTime: 0\n"
    "Completed: 0\nAbandoned: 0\nServiceLevel: 0\nServicelevelPerf: 0.0\nServicelevelPerf2: 0.0\nWeight: 0\n",
    "Event: QueueMember\n"
    "Queue: support\n"
    "Name: Bob\n"
    "Location: PJSIP/1001\n"
    "StateInterface: PJSIP/1001\n"
    "Membership: static\n"
    "Penalty: 0\n"
    "CallsTaken: 0\n"
    "LastCall: 0\n"
    "LastPause: 0\n"
    "LoginTime: 1795219000\n"
    "InCall: 0\n"
    "Status: 1\n"
    "Paused: 0\n"
    "PausedReason: \n"
    "Wrapuptime: 0\n",
]
