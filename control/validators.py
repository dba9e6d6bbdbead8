"""Field checks shared by every service; each adds messages to an error dict instead of raising."""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple

Errors = dict[str, list[str]]

EXTENSION_RE = re.compile(r"^[0-9]{2,8}$")
EMAIL_RE = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}$")
SIP_URI_RE = re.compile(r"^sips?:[A-Za-z0-9_.!~*'+-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_TEXT = 120  # free text's default length
MAX_EMAIL = 254
MAX_AVATAR = 300  # an avatar's address


class Range(NamedTuple):
    """Inclusive bounds of a whole number that reaches PBX configuration."""

    lo: int
    hi: int

    def accepts(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi


PORT = Range(1, 65535)
# Seconds, as the services accept them and the renderer prints them.
RING_GROUP_TIMEOUT = Range(5, 600)
MEMBER_TIMEOUT = Range(1, 300)
QUEUE_WRAP_UP = Range(0, 3600)
QUEUE_MAX_WAIT = Range(10, 86400)
QUEUE_RING_TIMEOUT = Range(5, 300)


def add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def text(errors: Errors, data: dict, field: str, *, required: bool = False, max_len: int = MAX_TEXT) -> str:
    """A free-text value: stripped, length-checked, no control characters."""
    value = data.get(field)
    value = "" if value is None else str(value).strip()
    if required and not value:
        add(errors, field, "This field is required.")
    elif len(value) > max_len:
        add(errors, field, f"At most {max_len} characters (got {len(value)}).")
    elif any(ord(ch) < 32 for ch in value):
        add(errors, field, "Line breaks and control characters are not allowed.")
    return value


def choice(errors: Errors, data: dict, field: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(field) or default
    if value not in allowed:
        add(errors, field, f"Choose one of: {', '.join(allowed)}.")
    return str(value)


def integer(errors: Errors, data: dict, field: str, default: int, lo: int, hi: int) -> int:
    raw = data.get(field)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        add(errors, field, "Enter a whole number.")
        return default
    if not lo <= value <= hi:
        add(errors, field, f"Enter a number from {lo} to {hi}.")
    return value


def boolean(data: dict, field: str, default: bool = False) -> bool:
    raw = data.get(field, default)
    if isinstance(raw, str):
        return raw.lower() in ("1", "true", "on", "yes", "y")
    return bool(raw)


def extension(errors: Errors, data: dict, field: str = "extension", required: bool = True) -> str | None:
    value = str(data.get(field) or "").strip()
    if not value:
        if required:
            add(errors, field, "This field is required.")
        return None
    if not EXTENSION_RE.match(value):
        add(errors, field, "An extension is 2 to 8 digits.")
    return value


def email(errors: Errors, data: dict, field: str = "email", required: bool = True) -> str:
    value = text(errors, data, field, required=required, max_len=MAX_EMAIL).lower()
    if value and field not in errors and not EMAIL_RE.match(value):
        add(errors, field, "Enter a valid email address.")
    return value


MAX_ROW_ID = 2**31 - 1
_ROW_ID_RE = re.compile(r"^[0-9]{1,10}$")


def row_id(raw: object) -> int | None:
    """A database id from untrusted input (ASCII digits, in range), else None."""
    text_value = str(raw).strip() if raw is not None and not isinstance(raw, bool) else ""
    if not _ROW_ID_RE.match(text_value):
        return None
    value = int(text_value)
    return value if 0 < value <= MAX_ROW_ID else None


def optional_id(errors: Errors, data: dict, field: str) -> int | None:
    raw = data.get(field)
    if raw in (None, "", "0", 0):
        return None
    value = row_id(raw)
    if value is None:
        add(errors, field, "Choose a valid entry.")
    return value


def id_list(errors: Errors, data: dict, field: str) -> list[int]:
    raw = data.get(field) or []
    if isinstance(raw, (str, int)):
        raw = [raw]
    items = [item for item in raw if str(item).strip()]
    values = [row_id(item) for item in items]
    if any(v is None for v in values):
        add(errors, field, "Choose valid entries.")
        return []
    return [v for v in values if v is not None]


# The years a date a person enters (a cancellation, a schedule) may fall in.
DATE_YEARS = range(2000, 2100)


def when(errors: Errors, data: dict, field: str) -> datetime | None:
    raw = data.get(field)
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(str(raw))
        except ValueError:
            add(errors, field, "Enter a date and time (YYYY-MM-DD HH:MM).")
            return None
    if value.year not in DATE_YEARS:
        add(errors, field, f"Enter a date from {DATE_YEARS[0]} to {DATE_YEARS[-1]}.")
    return value.replace(tzinfo=None)
