"""Commands as AMI actions (pure: no sockets). The executor sends what these build and reads the
answers with `answer_of`.

Every value that reaches an action header is checked again here against the shape the service
validated (digits, E.164, names Switchboard gives): a line break in a header would start a
second action. Text bodies travel base64-encoded (MessageSend Base64Body).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from control.render import names
from esl_handlers.command_values import CALL_ID, CHANNEL_ID, DIALLED, E164, EXTENSION, HOST, BadCommand, check

#: the Local channel that carries a text out (its events are no call)
TEXT_CHANNEL_PREFIX = f"Local/send@{names.AST_TEXT_OUT}"
#: the Local channel of a broadcast call (its events are the trunk leg's business, not a call)
BROADCAST_CHANNEL_PREFIX = f"Local/call@{names.AST_BROADCAST}"
#: Local channels of Switchboard's own that are no call
OWN_CHANNEL_PREFIXES = (TEXT_CHANNEL_PREFIX, BROADCAST_CHANNEL_PREFIX)
#: a recording's file name as broadcast_recordings names it
RECORDING = re.compile(r"broadcast-\d{1,12}-[0-9a-f]{16}\.wav")
#: a channel name as CoreShowChannels lists it (PJSIP/1001-00000006, Local/x@ctx-0000;1)
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_./@;+-]{1,120}")


def originate(params: dict[str, Any]) -> dict[str, Any]:
    """Ring every device of the user; the one answered continues in AST_ORIGINATE at the target."""
    endpoint = check(EXTENSION, params.get("endpoint"), "endpoint")
    target = check(DIALLED, params.get("target"), "target")
    caller_id = params.get("caller_id") or ""
    if caller_id:
        check(E164, caller_id, "caller ID")
    seconds = int(params.get("ring_seconds", 30))
    return {
        "Action": "Originate",
        "Channel": names.ast_user_channel(endpoint),
        "Context": names.AST_ORIGINATE,
        "Exten": target,
        "Priority": "1",
        "CallerID": f"<{target}>",
        "Timeout": str(max(5, min(seconds, 120)) * 1000),
        "Async": "true",
        "ChannelId": check(CHANNEL_ID, params.get("channel_id"), "channel id"),
        "Variable": [f"SB_ORIGINATE_EXT={endpoint}", f"SB_ORIGINATE_CID={caller_id}"],
    }


#: What a "ring this phone" test shows as the caller, and how long it lasts once answered.
RING_TEST_NAME = "Switchboard test call"
RING_TEST_SECONDS = 8


def ring_test(params: dict[str, Any]) -> dict[str, Any]:
    """Ring every device of the user, presented as a test call; answered, it echoes for a few
    seconds (the user hears themselves) and hangs up."""
    endpoint = check(EXTENSION, params.get("endpoint"), "endpoint")
    return {
        "Action": "Originate",
        "Channel": names.ast_user_channel(endpoint),
        "Application": "Echo",
        "CallerID": f'"{RING_TEST_NAME}" <{endpoint}>',
        "Timeout": "30000",
        "Async": "true",
        "ChannelId": check(CHANNEL_ID, params.get("channel_id"), "channel id"),
        "Variable": [f"TIMEOUT(absolute)={RING_TEST_SECONDS}"],
    }


def message(params: dict[str, Any], command_id: int) -> dict[str, Any]:
    """A text: to a number through the trunk, or to a user's endpoint (all its contacts).

    MessageSend over AMI would carry the body on one action line, and AMI lines end at 1,024
    bytes: a Local channel into AST_TEXT_OUT carries it instead, base64-encoded in chunks, and
    sends it from the dialplan; its status comes back as a UserEvent (AST_TEXT_SENT_EVENT).
    """
    sender = check(E164, params.get("from"), "from number")
    body = params.get("body")
    if not isinstance(body, str):
        raise BadCommand("a text needs a body")
    if params.get("to_kind") == "extension":
        to = "pjsip:" + check(EXTENSION, params.get("to"), "extension")
        host = check(HOST, params.get("domain"), "domain")
    else:
        number = check(E164, params.get("to"), "to number")
        host = check(HOST, params.get("trunk_host"), "trunk host")
        port = int(params.get("trunk_port") or 5060)
        to = f"pjsip:{names.AST_TRUNK}/sip:{number}@{host}:{port}"
    encoded = base64.b64encode(body.encode("utf-8")).decode("ascii")
    size = names.AST_TEXT_CHUNK
    chunks = [encoded[i : i + size] for i in range(0, len(encoded), size)]
    if len(chunks) > names.AST_TEXT_CHUNKS:
        raise BadCommand("the text is too long for the PBX")
    variables = [f"SB_TEXT_B64_{n}={chunk}" for n, chunk in enumerate(chunks, start=1)]
    return {
        "Action": "Originate",
        "Channel": f"{TEXT_CHANNEL_PREFIX}/n",
        "Application": "Wait",
        "Data": "1",
        "Timeout": "10000",
        "Async": "true",
        "Variable": [
            f"SB_TEXT_TO={to}",
            f"SB_TEXT_FROM=<sip:{sender}@{host}>",
            f"SB_COMMAND={command_id}",
            *variables,
        ],
    }


def broadcast_call(params: dict[str, Any], command_id: int) -> dict[str, Any]:
    """Call a number through the trunk with the line's caller ID and play it the recording: a
    Local channel whose `call` half dials (AST_BROADCAST) and whose `play` half, once the number
    answers, plays the file; the dialplan reports the result as a UserEvent."""
    number = check(E164, params.get("to"), "to number")
    caller_id = check(E164, params.get("caller_id"), "caller ID")
    recording = check(RECORDING, params.get("recording"), "recording")
    seconds = max(5, min(int(params.get("ring_seconds", 30)), 120))
    return {
        "Action": "Originate",
        "Channel": f"{BROADCAST_CHANNEL_PREFIX}/n",
        "Context": names.AST_BROADCAST,
        "Exten": "play",
        "Priority": "1",
        "CallerID": f"<{caller_id}>",
        "Timeout": str((seconds + 10) * 1000),
        "Async": "true",
        "ChannelId": check(CHANNEL_ID, params.get("channel_id"), "channel id"),
        "Variable": [
            f"SB_BCAST_TO={number}",
            f"SB_BCAST_CID={caller_id}",
            f"SB_BCAST_RING={seconds}",
            f"SB_BCAST_FILE={recording.removesuffix('.wav')}",
            f"SB_COMMAND={command_id}",
        ],
    }


def queue_pause(extension: str, queue_extension: str, paused: bool, reason: str) -> dict[str, Any]:
    return {
        "Action": "QueuePause",
        "Interface": names.ast_user_channel(check(EXTENSION, extension, "extension")),
        "Queue": names.ast_queue(check(EXTENSION, queue_extension, "queue extension")),
        "Paused": "true" if paused else "false",
        "Reason": reason,
    }


def dnd(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The live Do Not Disturb entry the rendered dialplan checks, then every queue's pause."""
    extension = check(EXTENSION, params.get("extension"), "extension")
    on = params.get("on") is True
    actions: list[dict[str, Any]] = [
        {"Action": "DBPut", "Family": names.AST_DND_FAMILY, "Key": extension, "Val": "1" if on else "0"}
    ]
    for queue in params.get("queues", []):
        actions.append(queue_pause(extension, queue["extension"], queue["paused"] is True, "dnd"))
    return actions


def pause(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        queue_pause(params.get("extension"), params.get("queue"), params.get("paused") is True, "switchboard")
    ]  # type: ignore[arg-type]


def channel_of(uniqueid: str, channels: list[Any]) -> str | None:
    """The channel name of a call leg (CoreShowChannels entries) by its Uniqueid."""
    check(CALL_ID, uniqueid, "call id")
    for entry in channels:
        if entry.get("Event") == "CoreShowChannel" and entry.get("Uniqueid") == uniqueid:
            return str(entry.get("Channel"))
    return None


def hangup(channel: str) -> dict[str, Any]:
    return {"Action": "Hangup", "Channel": channel, "Cause": "16"}


def transfer(channel: str, target: str) -> dict[str, Any]:
    """Blind transfer through the CLI's `channel redirect` (the Command action): Redirect would
    need the AMI `call` write class, which also allows Setvar on any channel."""
    if not _CHANNEL_NAME.fullmatch(channel):
        raise BadCommand(f"bad channel name: {channel!r}")
    exten = check(DIALLED, target, "transfer target")
    return {"Action": "Command", "Command": f"channel redirect {channel} {names.AST_INTERNAL},{exten},1"}


def actions_for(kind: str, params: dict[str, Any], command_id: int) -> list[dict[str, Any]]:
    """The actions of a command that needs no lookup first (hang-up and transfer do)."""
    if kind == "originate":
        return [originate(params)]
    if kind == "message":
        return [message(params, command_id)]
    if kind == "broadcast_call":
        return [broadcast_call(params, command_id)]
    if kind == "dnd":
        return dnd(params)
    if kind == "queue_pause":
        return pause(params)
    if kind == "ring_test":
        return [ring_test(params)]
    raise BadCommand(f"unknown command kind {kind!r}")


#: AMI filters that keep the text-sending Local channel's events (it is no call) from the listener
EXCLUDE_FILTERS = tuple(
    f"action(exclude),header({header}),regex(^{prefix})"
    for prefix in OWN_CHANNEL_PREFIXES
    for header in ("Channel", "DestChannel", "Device")
)


def answer_of(response: Any) -> tuple[bool, str]:
    """(accepted, what the PBX said) of one action's response."""
    if response.get("Response") == "Follows" or "Output" in response:  # a Command action
        output = response.get("Output") or ""
        text = "\n".join(output) if isinstance(output, list) else str(output)
        return not re.search(r"(?i)\b(no such|unable|failed|usage)\b", text), f"Command: {text.strip()}"
    accepted = response.get("Response") == "Success"
    text = response.get("Message") or response.get("Response") or ""
    return accepted, f"{response.get('Response', '?')}: {text}" if text != response.get("Response") else text
