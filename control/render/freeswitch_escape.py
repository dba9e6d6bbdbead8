"""Escaping for FreeSWITCH XML: every `{{ value }}` of a FreeSWITCH template goes through `finalize`.

XML escaping alone is not enough for FreeSWITCH: its pre-processor expands `$${var}` anywhere in
the text before the XML parser runs, and dialplan data expands `${var}` and `${api(args)}` at
call time. A `$` in free text therefore becomes U+FF04 FULLWIDTH DOLLAR SIGN, so no expression
can ever be formed from data. Characters XML 1.0 does not allow are removed.
"""

from __future__ import annotations

import re

from jinja2 import Undefined
from markupsafe import Markup

from control.render.identifiers import RenderError

DOLLAR = "\uff04"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;", "$": DOLLAR})


_SPECIAL = re.compile("[&<>\"'$]")
_MEMO: dict[str, str] = {}


def xml_text(value: str) -> str:
    """Text safe as XML element text or a double- or single-quoted attribute value."""
    if not value.isprintable():  # every character XML forbids is unprintable
        value = _XML_ILLEGAL.sub("", value)
    if _SPECIAL.search(value) is None:
        return value
    return value.translate(_ESCAPES)


def finalize(value: object) -> str:
    """The default filter of every FreeSWITCH template expression."""
    if value.__class__ is str:
        done = _MEMO.get(value)  # type: ignore[call-overload]
        if done is None:
            done = xml_text(value)  # type: ignore[arg-type]
            if len(_MEMO) > 100_000:
                _MEMO.clear()
            _MEMO[value] = done  # type: ignore[index]
        return done
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Undefined):
        return str(value)  # StrictUndefined raises UndefinedError, naming the missing variable
    if isinstance(value, str):
        return xml_text(value)
    raise RenderError(f"a FreeSWITCH template printed a {type(value).__name__}, expected text or a number")
