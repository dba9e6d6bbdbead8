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
        ip, port = _text(reg, "network-ip"), _text(reg, "network-port")
        contact = _text(reg, "contact")
        contacts.append(
            {
                "contact": contact,
                "user_agent": _text(reg, "agent"),
                "source": f"{ip}:{port}" if ip else "",
                "expires_in": int(expires.group(1)) if expires else None,
                # measured by an OPTIONS ping (esl_handlers/contact_ping.py), the profile does not
                # ping: sent where FreeSWITCH sends, the contact, or where it saw a phone it found
                # behind NAT (fs_nat)
                "reachable": None,
                "status": "not pinged",
                "rtt_ms": None,
                "ping_to": f"{ip}:{port}" if ip and port and "fs_nat=yes" in contact else "",
            }
        )
    return {"present": present, "contacts": contacts, "said": ""}
