"""Commands as FreeSWITCH ESL commands (pure: no sockets). Everything that can wait goes out as
``bgapi`` with a Job-UUID chosen here, so the result (a BACKGROUND_JOB event) is matched to its
command; a text goes out as ``sendevent SEND_MESSAGE`` with the body as the event's body (a
command line cannot carry line breaks or a ``|``).
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
        f"origination_uuid={check(CHANNEL_ID, params.get('channel_id'), 'channel id')}",
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


def message(params: dict[str, Any]) -> EslCommand:
    """SEND_MESSAGE for mod_sofia: to a number through the gateway's profile, or to a user."""
    sender = check(E164, params.get("from"), "from number")
    body = params.get("body")
    if not isinstance(body, str):
        raise BadCommand("a text needs a body")
    if params.get("to_kind") == "extension":
        domain = check(HOST, params.get("domain"), "domain")
        to, profile = f"{check(EXTENSION, params.get('to'), 'extension')}@{domain}", "internal"
    else:
        domain = check(HOST, params.get("trunk_host"), "trunk host")
        to = f"{check(E164, params.get('to'), 'to number')}@{domain}:{int(params.get('trunk_port') or 5060)}"
        profile = names.FS_URI_PROFILE
    data = body.encode("utf-8")
    head = (
        "sendevent SEND_MESSAGE\n"
        "proto: sip\ndest_proto: sip\n"
        f"from: {sender}@{domain}\nfrom_full: sip:{sender}@{domain}\n"
        f"to: {to}\nprofile: {profile}\nblocking: true\n"
        "content-type: text/plain;charset=UTF-8\n"
        f"content-length: {len(data)}\n\n"
    )
    return EslCommand(head.encode() + data)


def dnd(params: dict[str, Any]) -> list[EslCommand]:
    """The live DND entry (mod_db) and the callcenter agent's status."""
    extension = check(EXTENSION, params.get("extension"), "extension")
    domain = check(HOST, params.get("domain"), "domain")
    on = params.get("on") is True
    status = "'On Break'" if on else "Available"
    return [
        bgapi(f"db insert/{names.AST_DND_FAMILY}/{extension}/{1 if on else 0}"),
        bgapi(f"callcenter_config agent set status {names.fs_agent(extension, domain)} {status}"),
    ]


def queue_pause(params: dict[str, Any]) -> list[EslCommand]:
    """An inactive membership is an agent without a tier in the queue (as rendered)."""
    extension = check(EXTENSION, params.get("extension"), "extension")
    queue = check(EXTENSION, params.get("queue"), "queue extension")
    domain = check(HOST, params.get("domain"), "domain")
    tier = f"{names.fs_queue(queue, domain)} {names.fs_agent(extension, domain)}"
    if params.get("paused") is True:
        return [bgapi(f"callcenter_config tier del {tier}")]
    return [bgapi(f"callcenter_config tier add {tier} 1 1")]


def commands_for(kind: str, params: dict[str, Any]) -> list[EslCommand]:
    if kind == "originate":
        return [originate(params)]
    if kind == "message":
        return [message(params)]
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


def background_job(body: bytes) -> tuple[str, str] | None:
    """(Job-UUID, result) of a BACKGROUND_JOB event-plain body; None for any other event."""
    head, _, rest = body.partition(b"\n\n")
    headers = {}
    for line in head.split(b"\n"):
        name, sep, value = line.partition(b": ")
        if sep:
            headers[name.decode()] = unquote(value.decode("utf-8", "replace"))
    if headers.get("Event-Name") != "BACKGROUND_JOB" or "Job-UUID" not in headers:
        return None
    length = int(headers.get("Content-Length") or 0)
    return headers["Job-UUID"], rest[:length].decode("utf-8", "replace")


def accepted(result: str) -> bool:
    return result.startswith("+OK")
