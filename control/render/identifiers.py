"""Render-time checks for every value that becomes an identifier in PBX configuration.

The services validate at input; this is the second wall, with the same rules
(control/validators.py defines each once). A row that slipped past them (an old migration, a
manual UPDATE) stops the render with a clear error, never reaches a PBX.
"""

from __future__ import annotations

import re

from control import validators as rules
from control.errors import SwitchboardError

INCLUDE_ROOT_RE = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*")


class RenderError(SwitchboardError):
    """The model holds a value that cannot be rendered safely; nothing is written."""


_VALID: dict[rules.Rule, set[str]] = {}


def _check(rule: rules.Rule, value: object, what: str) -> str:
    """`value` if `rule` accepts it; values seen valid are remembered (a large tenant checks the
    same extension a dozen times per render)."""
    known = _VALID.setdefault(rule, set())
    if value in known:
        return value  # type: ignore[return-value]
    if not rule.accepts(value):
        shown = repr(value)[:80]
        raise RenderError(f"{what} {shown} cannot be rendered: {rule.message}")
    if len(known) > 200_000:
        known.clear()
    known.add(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


def extension(value: object, what: str) -> str:
    return _check(rules.EXTENSION, value, what)


def e164(value: object, what: str) -> str:
    return _check(rules.E164, value, what)


def host(value: object, what: str) -> str:
    return _check(rules.HOST, value, what)


def sip_uri(value: object, what: str) -> str:
    return _check(rules.SIP_URI, value, what)


def trunk_user(value: object, what: str) -> str:
    return _check(rules.TRUNK_USER, value, what)


def secret(value: object, what: str) -> str:
    if not rules.SECRET.accepts(value):
        raise RenderError(f"{what} cannot be rendered: {rules.SECRET.message}")
    return value  # type: ignore[return-value]


def include_root(value: object) -> str:
    if not isinstance(value, str) or not INCLUDE_ROOT_RE.fullmatch(value):
        raise RenderError(
            f"include root {repr(value)[:80]} cannot be rendered: "
            "letters, digits, '_' and '-' in '/'-separated parts"
        )
    return value


def number(value: object, what: str, bounds: rules.Range) -> int:
    """A port or a number of seconds, within the bounds the services accept."""
    if not bounds.accepts(value):
        raise RenderError(f"{what} {value!r} cannot be rendered: expected {bounds.lo}-{bounds.hi}")
    return value  # type: ignore[return-value]
