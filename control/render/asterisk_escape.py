"""Escaping for Asterisk .conf files: every `{{ value }}` of an Asterisk template goes through `finalize`.

Asterisk has no escaping that works the same everywhere a value lands: `\\;` is honoured by the
config parser, backslashes by some applications and not others, and `${...}` / `$[...]` are
evaluated in every dialplan argument. Free text is therefore reduced to a conservative set —
letters and digits of any script, blanks and ``. - _ ' @ + / : # * ! ? = ~ %`` — and every
other character becomes a blank. That set holds none of ``; [ ] , ( ) | & $ { } " \\ < >`` and no
line break, so a name can neither end a value, start a section, split application arguments,
nor form an expression.

Values that must keep every character (secrets) go through `conf_secret` instead, which checks
them and escapes the one character the config parser interprets inside a value, `;`.
"""

from __future__ import annotations

from jinja2 import Undefined

from control.render.identifiers import RenderError, secret

_KEEP = frozenset(" .-_'@+/:#*!?=~%")


class ConfSafe(str):
    """A value already made safe for a .conf file by an explicit filter."""

    __slots__ = ()


def conf_text(value: str) -> str:
    """Free text reduced to characters that mean nothing to the config parser or the dialplan."""
    if value.isalnum():
        return value
    kept = "".join(ch if ch.isalnum() or ch in _KEEP else " " for ch in value)
    return " ".join(kept.split())


def conf_secret(value: str) -> ConfSafe:
    """A secret, verbatim except `;` written as `\\;` (read back as `;` by the config parser)."""
    return ConfSafe(secret(value, "secret").replace(";", "\\;"))


_MEMO: dict[str, str] = {}


def finalize(value: object) -> str:
    """The default filter of every Asterisk template expression."""
    if value.__class__ is str:
        done = _MEMO.get(value)  # type: ignore[call-overload]
        if done is None:
            done = conf_text(value)  # type: ignore[arg-type]
            if len(_MEMO) > 100_000:
                _MEMO.clear()
            _MEMO[value] = done  # type: ignore[index]
        return done
    if isinstance(value, ConfSafe):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Undefined):
        return str(value)  # StrictUndefined raises UndefinedError, naming the missing variable
    if isinstance(value, str):
        return conf_text(value)
    raise RenderError(f"an Asterisk template printed a {type(value).__name__}, expected text or a number")
