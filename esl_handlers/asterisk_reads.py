"""Reads of the live Asterisk for a user's diagnosis, as AMI actions and their parsed answers
(pure: no sockets). The listener's read responder sends what these build."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from esl_handlers.command_values import EXTENSION, check


def endpoint_action(question: dict[str, Any]) -> dict[str, str]:
    """PJSIPShowEndpoint of the user's endpoint: its details and each contact's status."""
    return {"Action": "PJSIPShowEndpoint", "Endpoint": check(EXTENSION, question.get("endpoint"), "endpoint")}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _source(value: str) -> str:
    """ViaAddress as Asterisk gives it ("127.0.0.1:5061"); empty when the phone sent none."""
    return "" if value in ("", "(null)") else value


def endpoint_answer(messages: Iterable[Any], now: float) -> dict[str, Any]:
    """PJSIPShowEndpoint's answer -> {"present", "contacts": [...]}. An endpoint Asterisk does not
    know is refused with an error: the user's configuration is missing on this node."""
    messages = list(messages)
    first = messages[0] if messages else {}
    if first.get("Response") not in ("Success", "Follows"):
        return {"present": False, "contacts": [], "said": str(first.get("Message") or "")}
    contacts = []
    for message in messages:
        if message.get("Event") != "ContactStatusDetail":
            continue
        uri = str(message.get("URI") or "")
        if not uri:
            continue
        expires_at = _number(message.get("RegExpire"))
        contacts.append(
            {
                "contact": uri,
                "user_agent": str(message.get("UserAgent") or ""),
                "source": _source(str(message.get("ViaAddress") or "")),
                "expires_in": max(0, int(expires_at - now)) if expires_at else None,
                # measured by an OPTIONS ping (esl_handlers/contact_ping.py): user AORs are not
                # qualified, so Asterisk's own status says nothing; Asterisk sends to the URI
                "reachable": None,
                "status": "not pinged",
                "rtt_ms": None,
                "ping_to": "",
            }
        )
    return {"present": True, "contacts": contacts, "said": ""}
