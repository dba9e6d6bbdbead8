"""Free text (names, caller-ID names, company) reduced to one printable line.

The renderers print names through it (what is left is still escaped for its target by the
environment of each PBX kind); the services refuse a name it reduces to nothing
(control/validators.text); caller names from PBX events are stored through it.
"""

from __future__ import annotations

import unicodedata

MAX_TEXT = 120
# Control characters and line/paragraph separators become a blank; format characters
# (bidi overrides and marks, zero-width joiners) and lone surrogates disappear.
_BLANK = {"Cc", "Zl", "Zp"}
_DROP = {"Cf", "Cs"}
_NONCHARACTERS = {0xFFFE, 0xFFFF}


def clean_text(value: str | None, max_len: int = MAX_TEXT) -> str:
    """One NFC line: no control or format characters, single blanks, at most `max_len` characters."""
    if not value:
        return ""
    if not (value.isascii() and value.isprintable()):
        parts = []
        for ch in unicodedata.normalize("NFC", value):
            category = unicodedata.category(ch)
            if category in _BLANK:
                parts.append(" ")
            elif category not in _DROP and ord(ch) not in _NONCHARACTERS:
                parts.append(ch)
        value = "".join(parts)
    value = " ".join(value.split())
    if len(value) > max_len:
        value = value[:max_len].rstrip()
    return value
