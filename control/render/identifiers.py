"""Render-time checks for every value that becomes an identifier in PBX configuration.

The services validate at input; this is the second wall. A row that slipped past them (an old
migration, a manual UPDATE) must stop the render with a clear error, never reach a PBX.
"""

from __future__ import annotations

import re

from control.errors import SwitchboardError

IDENT_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")
DIGITS_RE = re.compile(r"[0-9]{1,32}")
E164_RE = re.compile(r"\+[1-9][0-9]{1,14}")
HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
SIP_URI_RE = re.compile(
    r"sips?:[A-Za-z0-9_.!~*'+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?"
)
TRUNK_USER_RE = re.compile(r"[A-Za-z0-9_.+-]{1,80}")
INCLUDE_ROOT_RE = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")
# Secrets land verbatim in attribute values and .conf values: printable ASCII without blanks.
# `$` is refused because FreeSWITCH's pre-processor expands `$${...}` anywhere in its XML.
SECRET_RE = re.compile(r"[!-#%-~]{1,128}")


class RenderError(SwitchboardError):
    """The model holds a value that cannot be rendered safely; nothing is written."""


_VALID: dict[re.Pattern[str], set[str]] = {}


def _check(pattern: re.Pattern[str], value: object, what: str) -> str:
    """`value` if it matches `pattern` entirely; values seen valid are remembered (a large
    tenant checks the same extension a dozen times per render)."""
    known = _VALID.setdefault(pattern, set())
    if value in known:
        return value  # type: ignore[return-value]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = repr(value)[:80]
        raise RenderError(f"{what} {shown} cannot be rendered: it must match {pattern.pattern}")
    if len(known) > 200_000:
        known.clear()
    known.add(value)
    return value


def ident(value: object, what: str) -> str:
    """Extensions, SIP user names, context and object names: [0-9A-Za-z_-]."""
    return _check(IDENT_RE, value, what)


def digits(value: object, what: str) -> str:
    return _check(DIGITS_RE, value, what)


def e164(value: object, what: str) -> str:
    return _check(E164_RE, value, what)


def host(value: object, what: str) -> str:
    return _check(HOST_RE, value, what)


def sip_uri(value: object, what: str) -> str:
    return _check(SIP_URI_RE, value, what)


def trunk_user(value: object, what: str) -> str:
    return _check(TRUNK_USER_RE, value, what)


def include_root(value: object) -> str:
    return _check(INCLUDE_ROOT_RE, value, "include root")


def secret(value: object, what: str) -> str:
    if not isinstance(value, str) or not SECRET_RE.fullmatch(value):
        raise RenderError(
            f"{what} cannot be rendered: a secret is 1-128 printable ASCII characters "
            "without blanks and without '$'"
        )
    return value


def port(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise RenderError(f"{what} {value!r} cannot be rendered: a port is 1-65535")
    return value


def seconds(value: object, what: str, lo: int = 0, hi: int = 86400) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise RenderError(f"{what} {value!r} cannot be rendered: expected {lo}-{hi} seconds")
    return value
