"""Masking secrets in the diffs a deploy records: the history shows that a secret changed, not what to.

Asterisk: `password`, `secret`, `md5_cred` options (pjsip auth, trunk registrations).
FreeSWITCH: `password`, `vm-password`, `a1-hash`, `reverse-auth-pass` params and variables.
"""

from __future__ import annotations

import re

MASK = "********"

_CONF = re.compile(r"^(?P<head>[-+ ]?\s*(?:password|secret|md5_cred)\s*=>?\s*)(?P<value>.*)$", re.I)
_XML = re.compile(
    r"""(?P<head><(?:param|variable)\b[^>]*\bname\s*=\s*["'](?:password|vm-password|a1-hash|"""
    r"""reverse-auth-pass|secret)["'][^>]*?\bvalue\s*=\s*["'])(?P<value>[^"']*)""",
    re.I,
)
_XML_VALUE_FIRST = re.compile(
    r"""(?P<head><(?:param|variable)\b[^>]*?\bvalue\s*=\s*["'])(?P<value>[^"']*)(?P<tail>["'][^>]*\bname\s*=\s*["']"""
    r"""(?:password|vm-password|a1-hash|reverse-auth-pass|secret)["'])""",
    re.I,
)


def redact_line(line: str) -> str:
    match = _CONF.match(line)
    if match and match.group("value").strip():
        return match.group("head") + MASK
    line = _XML.sub(lambda m: m.group("head") + MASK, line)
    return _XML_VALUE_FIRST.sub(lambda m: m.group("head") + MASK + m.group("tail"), line)


def redact(text: str) -> str:
    return "\n".join(redact_line(line) for line in text.split("\n"))
