"""Commands as FreeSWITCH ESL commands (pure: no sockets). Everything that can wait goes out as
``bgapi`` with a Job-UUID chosen here, so the result (a BACKGROUND_JOB event) is matched to its
command. A text goes out as mod_sms's ``SMS::SEND_MESSAGE`` event (the ``chat`` API's path into
mod_sofia) with the body as the event's body, since a command line cannot carry line breaks or a
``|``; its delivery comes back as a MESSAGE event that carries the command's id
(`TEXT_COMMAND_HEADER`).

Do Not Disturb, live: a mod_hash entry (realm `names.FS_DND_REALM`, key `ext@domain`, 1 or 0) the
rendered dialplan checks, and the user's callcenter agent status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from control.render import names
from esl_handlers.command_values import CALL_ID, CHANNEL_ID, DIALLED, E164, EXTENSION, HOST, BadCommand, check


@dataclass(frozen=True, slots=True)
class EslCommand:
    """What goes on the socket; `job_uuid` is set for a bgapi whose result arrives as an event."""

    wire: bytes
    job_uuid: str | None = None


def bgapi(command: str) -> EslCommand:
    if "\n" in command or "\r" in command:
        raise BadCommand("a command line cannot hold a line break")
    job = str(uuid.uuid4())
    return EslCommand(f"bgapi {command}\nJob-UUID: {job}\n\n".encode(), job)


def originate(params: dict[str, Any]) -> EslCommand:
    """Ring `user/EXT@domain`; once answered the call runs the default context at the target,
    presenting the chosen caller ID."""
    endpoint = check(EXTENSION, params.get("endpoint"), "endpoint")
    target = check(DIALLED, params.get("target"), "target")
    domain = check(HOST, params.get("domain"), "domain")
    caller_id = params.get("caller_id") or ""
    variables = [
        # FreeSWITCH channel uuids are dashed: the listener and kept ends know them in that form
        f"origination_uuid={uuid.UUID(check(CHANNEL_ID, params.get('channel_id'), 'channel id'))}",
        f"origination_caller_id_number={target}",
        f"originate_timeout={max(5, min(int(params.get('ring_seconds', 30)), 120))}",
        "ignore_early_media=true",
    ]
    if caller_id:
        check(E164, caller_id, "caller ID")
        variables += [f"effective_caller_id_number={caller_id}", f"outbound_caller_id_number={caller_id}"]
    return bgapi(
        f"originate {{{','.join(variables)}}}user/{endpoint}@{domain} {target} XML {names.FS_DEFAULT_CONTEXT}"
    )


def ring_test(params: dict[str, Any]) -> EslCommand:
    """Ring `user/EXT@domain`, presented as a test call; answered, it echoes for a few seconds
    (the user hears themselves) and hangs up."""
    from esl_handlers.asterisk_commands import RING_TEST_NAME, RING_TEST_SECONDS

    endpoint = check(EXTENSION, params.get("endpoint"), "endpoint")
    domain = check(HOST, params.get("domain"), "domain")
    variables = [
        f"origination_uuid={check(CHANNEL_ID, params.get('channel_id'), 'channel id')}",
        f"origination_caller_id_name='{RING_TEST_NAME}'",
        f"origination_caller_id_number={endpoint}",
        "originate_timeout=30",
        f"execute_on_answer='sched_hangup +{RING_TEST_SECONDS} normal_clearing'",
    ]
    return bgapi(f"originate {{{','.join(variables)}}}user/{endpoint}@{domain} &echo()")


#: the channel variable naming the broadcast command a call belongs to: its CHANNEL_HANGUP_COMPLETE
#: carries it (variable_<name>), so the result needs nothing the listener remembers
BROADCAST_COMMAND_VARIABLE = "switchboard_broadcast_command"


def broadcast_call(params: dict[str, Any], command_id: int) -> EslCommand:
    """Call a number through the tenant's gateway with the line's caller ID; once it answers,
    play the recording from <conf dir>/switchboard/media and hang up. The bgapi's job ends at the
    answer (+OK uuid) or with the cause the call failed with (-ERR USER_BUSY, NO_ANSWER, ...)."""
    from esl_handlers.asterisk_commands import RECORDING

    number = check(E164, params.get("to"), "to number")
    caller_id = check(E164, params.get("caller_id"), "caller ID")
    recording = check(RECORDING, params.get("recording"), "recording")
    seconds = max(5, min(int(params.get("ring_seconds", 30)), 120))
    variables = [
        f"origination_uuid={uuid.UUID(check(CHANNEL_ID, params.get('channel_id'), 'channel id'))}",
        f"origination_caller_id_number={caller_id}",
        f"origination_caller_id_name={caller_id}",
        f"originate_timeout={seconds}",
        "ignore_early_media=true",
        f"{BROADCAST_COMMAND_VARIABLE}={int(command_id)}",
    ]
    return bgapi(
        f"originate {{{','.join(variables)}}}sofia/gateway/{names.FS_GATEWAY}/{number} "
        f"&playback(${{conf_dir}}/switchboard/media/{recording})"
    )


@dataclass(frozen=True, slots=True)
class BroadcastHangup:
    """A broadcast call ended: its command and its result in the words CALL_RESULTS knows
    (ANSWER once answered, else FreeSWITCH's hang-up cause)."""

    command_id: int
    result: str


def broadcast_hangup(body: bytes) -> BroadcastHangup | None:
    """The result of a CHANNEL_HANGUP_COMPLETE of a broadcast call; None for any other event."""
    headers, _ = plain_event(body)
    command = headers.get(f"variable_{BROADCAST_COMMAND_VARIABLE}", "")
    if headers.get("Event-Name") != "CHANNEL_HANGUP_COMPLETE" or not command.isdigit():
        return None
    answered = headers.get("Caller-Channel-Answered-Time", "0") not in ("", "0")
    cause = headers.get("Hangup-Cause") or headers.get("variable_hangup_cause") or "UNKNOWN"
    return BroadcastHangup(int(command), "ANSWER" if answered else cause)


def job_failure(result: str) -> str | None:
    """The cause of a failed originate job (-ERR USER_BUSY), None if the call went up."""
    said = result.strip()
    if not said.startswith("-ERR"):
        return None
    return said.removeprefix("-ERR").strip().split()[0] if said != "-ERR" else "UNKNOWN"


#: the event header naming the command a text belongs to (never a SIP header: only sip_h_* are)
TEXT_COMMAND_HEADER = "Switchboard-Command"
_TEXT_EVENT = "sendevent CUSTOM\nEvent-Subclass: SMS::SEND_MESSAGE\n"  # TEXT_SENT_SUBCLASS


def message(params: dict[str, Any], command_id: int = 0) -> EslCommand:
    """mod_sms's SEND_MESSAGE: to a number through the trunk (the external profile), or to every
    registration of a user (the internal profile)."""
    sender = check(E164, params.get("from"), "from number")
    body = params.get("body")
    if not isinstance(body, str):
        raise BadCommand("a text needs a body")
    if params.get("to_kind") == "extension":
        domain = check(HOST, params.get("domain"), "domain")
        to = f"internal/{check(EXTENSION, params.get('to'), 'extension')}@{domain}"
    else:
        domain = check(HOST, params.get("trunk_host"), "trunk host")
        port = int(params.get("trunk_port") or 5060)
        to = f"{names.FS_URI_PROFILE}/sip:{check(E164, params.get('to'), 'to number')}@{domain}:{port}"
    data = body.encode("utf-8")
    head = (
        _TEXT_EVENT + "proto: sip\ndest_proto: sip\n"
        f"from: {sender}@{domain}\nfrom_full: sip:{sender}@{domain}\n"
        f"to: {to}\nblocking: true\nskip_global_process: true\ntype: text/plain;charset=UTF-8\n"
        f"{TEXT_COMMAND_HEADER}: {int(command_id)}\n"
        f"content-length: {len(data)}\n\n"
    )
    return EslCommand(head.encode() + data)


def dnd_entry(extension: str, domain: str, on: bool) -> str:
    """The API command that sets the live DND entry the rendered dialplan reads."""
    return f"hash insert/{names.FS_DND_REALM}/{names.fs_dnd_key(extension, domain)}/{1 if on else 0}"


def agent_status(extension: str, domain: str, on: bool) -> str:
    """The callcenter agent's status: On Break while DND is on (no queue offers a call)."""
    status = f"'{names.FS_AGENT_DND_STATUS}'" if on else names.FS_AGENT_AVAILABLE
    return f"callcenter_config agent set status {names.fs_agent(extension, domain)} {status}"


def tier(extension: str, queue: str, domain: str, paused: bool) -> str:
    """A paused membership is an agent without a tier in the queue (as rendered): del, else add."""
    names_ = f"{names.fs_queue(check(EXTENSION, queue, 'queue extension'), domain)} {names.fs_agent(extension, domain)}"
    return f"callcenter_config tier del {names_}" if paused else f"callcenter_config tier add {names_} 1 1"


def dnd_commands(params: dict[str, Any]) -> list[str]:
    """The API commands that make the PBX hold a user's DND state as the model has it: the live
    entry (mod_hash), the callcenter agent's status and each queue's tier."""
    extension = check(EXTENSION, params.get("extension"), "extension")
    domain = check(HOST, params.get("domain"), "domain")
    on = params.get("on") is True
    queues = params.get("queues", [])
    out = [dnd_entry(extension, domain, on)]
    if queues:  # only a member of a queue is a callcenter agent
        out.append(agent_status(extension, domain, on))
    out += [tier(extension, q["extension"], domain, q["paused"] is True) for q in queues]
    return out


def dnd(params: dict[str, Any]) -> list[EslCommand]:
    return [bgapi(command) for command in dnd_commands(params)]


def queue_pause(params: dict[str, Any]) -> list[EslCommand]:
    extension = check(EXTENSION, params.get("extension"), "extension")
    domain = check(HOST, params.get("domain"), "domain")
    return [bgapi(tier(extension, params.get("queue"), domain, params.get("paused") is True))]  # type: ignore[arg-type]


def commands_for(kind: str, params: dict[str, Any], command_id: int = 0) -> list[EslCommand]:
    if kind == "originate":
        return [originate(params)]
    if kind == "message":
        return [message(params, command_id)]
    if kind == "broadcast_call":
        return [broadcast_call(params, command_id)]
    if kind == "dnd":
        return dnd(params)
    if kind == "queue_pause":
        return queue_pause(params)
    if kind == "ring_test":
        return [ring_test(params)]
    if kind == "hangup":
        return [bgapi(f"uuid_kill {check(CALL_ID, params.get('call_id'), 'call id')}")]
    if kind == "transfer":
        call_id = check(CALL_ID, params.get("call_id"), "call id")
        target = check(DIALLED, params.get("target"), "transfer target")
        return [bgapi(f"uuid_transfer {call_id} {target} XML {names.FS_DEFAULT_CONTEXT}")]
    raise BadCommand(f"unknown command kind {kind!r}")


def plain_event(body: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (URL-decoded) and body of an event-plain frame's content."""
    head, _, rest = body.partition(b"\n\n")
    headers = {}
    for line in head.split(b"\n"):
        name, sep, value = line.partition(b": ")
        if sep:
            headers[name.decode()] = unquote(value.decode("utf-8", "replace"))
    length = int(headers.get("Content-Length") or 0)
    return headers, rest[:length]


def background_job(body: bytes) -> tuple[str, str] | None:
    """(Job-UUID, result) of a BACKGROUND_JOB event-plain body; None for any other event."""
    headers, rest = plain_event(body)
    if headers.get("Event-Name") != "BACKGROUND_JOB" or "Job-UUID" not in headers:
        return None
    return headers["Job-UUID"], rest.decode("utf-8", "replace")


#: the event a sent text comes back as once mod_sms has tried it (Delivery-Failure set)
TEXT_SENT_SUBCLASS = "SMS::SEND_MESSAGE"


@dataclass(frozen=True, slots=True)
class TextEvent:
    """A text's event: the delivery of one Switchboard sent (`command` set, `delivered` None
    until mod_sms has tried it), or a MESSAGE from the trunk (on the external profile)."""

    command: str | None
    delivered: bool | None
    inbound: bool
    sender: str
    recipient: str
    body: str


def text_event(body: bytes) -> TextEvent | None:
    headers, rest = plain_event(body)
    name = headers.get("Event-Name")
    sent = name == "CUSTOM" and headers.get("Event-Subclass") == TEXT_SENT_SUBCLASS
    if name != "MESSAGE" and not sent:
        return None
    failure = headers.get("Delivery-Failure")
    return TextEvent(
        command=headers.get(TEXT_COMMAND_HEADER),
        delivered=None if failure is None else failure == "false",
        inbound=name == "MESSAGE" and headers.get("sip_profile") == names.FS_URI_PROFILE,
        sender=f"sip:{headers.get('from_user', '')}@{headers.get('from_host', '')}",
        recipient=f"sip:{headers.get('to_user', '')}@{headers.get('to_host', '')}",
        body=rest.decode("utf-8", "replace"),
    )


#: mod_callcenter's answers when a tier is already as asked (a repeated toggle, a restore)
_ALREADY = ("-ERR Tier already exist", "-ERR Tier not found")


def accepted(result: str) -> bool:
    return result.startswith("+OK") or result.startswith(_ALREADY)
