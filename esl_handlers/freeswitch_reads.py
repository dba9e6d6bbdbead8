"""Reads of the live FreeSWITCH for a user's diagnosis, as ESL api commands and their parsed
answers (pure: no sockets). The listener's read responder sends what these build."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

from esl_handlers.command_values import EXTENSION, HOST, check

#: the profile phones register on (as rendered)
PROFILE = "internal"
_EXPIRES = re.compile(r"expsecs\((\d+)\)")


def user_exists_command(question: dict[str, Any]) -> str:
    extension = check(EXTENSION, question.get("endpoint"), "endpoint")
    domain = check(HOST, question.get("domain"), "domain")
    return f"api user_exists id {extension} {domain}"


def registrations_command(question: dict[str, Any]) -> str:
    extension = check(EXTENSION, question.get("endpoint"), "endpoint")
    domain = check(HOST, question.get("domain"), "domain")
    return f"api sofia xmlstatus profile {PROFILE} user {extension}@{domain}"


def _text(node: ElementTree.Element, name: str) -> str:
    found = node.find(name)
    return (found.text or "").strip() if found is not None else ""


def registrations_answer(exists: str, xml: str, extension: str, domain: str) -> dict[str, Any]:
    """`user_exists` ("true"/"false") and `sofia xmlstatus ... user` -> {"present", "contacts"}.

    Only the registrations of exactly EXT@DOMAIN are kept."""
    present = exists.strip() == "true"
    contacts = []
    try:
        root = ElementTree.fromstring(xml.strip()) if xml.strip().startswith("<") else None
    except ElementTree.ParseError:
        root = None
    for reg in root.iter("registration") if root is not None else ():
        user = _text(reg, "user")
        if user.lower() != f"{extension}@{domain}".lower():
            continue
        expires = _EXPIRES.search(_text(reg, "status"))
        ping_status = _text(reg, "ping-status")
        ping_time = _text(reg, "ping-time")
        ip, port = _text(reg, "network-ip"), _text(reg, "network-port")
        reachable = {"Reachable": True, "Unreachable": False}.get(ping_status)
        try:
            rtt = float(ping_time) if reachable else None
        except ValueError:
            rtt = None
        if reachable and not rtt:
            # "Reachable" with no round trip is the default of a phone never pinged: the profile
            # does not send OPTIONS (all-reg-options-ping / nat-options-ping are off)
            reachable, rtt, ping_status = None, None, ""
        contacts.append(
            {
                "contact": _text(reg, "contact"),
                "user_agent": _text(reg, "agent"),
                "source": f"{ip}:{port}" if ip else "",
                "expires_in": int(expires.group(1)) if expires else None,
                "reachable": reachable,
                "status": ping_status or "not qualified",
                "rtt_ms": rtt,
            }
        )
    return {"present": present, "contacts": contacts, "said": ""}
