"""Field checks shared by every service; each adds messages to an error dict instead of raising.

The rules for values that reach PBX configuration are defined here, once: the services refuse
what a rule refuses (its message goes next to the field), and the renderer stops on a stored
value the same rule refuses (control/render/identifiers.py). What the services accept renders.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from control.text import clean_text

Errors = dict[str, list[str]]


@dataclass(frozen=True)
class Rule:
    """A value that becomes an identifier in PBX configuration: at most `max_len` characters,
    matching `pattern` entirely and passing `also`; `message` tells a person what to type."""

    pattern: re.Pattern[str]
    max_len: int
    message: str
    also: Callable[[re.Match[str]], bool] | None = None

    def accepts(self, value: object) -> bool:
        if not isinstance(value, str) or len(value) > self.max_len:
            return False
        match = self.pattern.fullmatch(value)
        return match is not None and (self.also is None or self.also(match))


class Range(NamedTuple):
    """Inclusive bounds of a whole number that reaches PBX configuration."""

    lo: int
    hi: int

    def accepts(self, value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi


PORT = Range(1, 65535)
#: Broadcasts: calls (or texts) a second and calls at once per tenant; tries after busy or no
#: answer and the seconds between them; seconds a recipient's phone rings.
BROADCAST_RATE = Range(1, 50)
BROADCAST_CONCURRENT = Range(1, 500)
BROADCAST_RETRIES = Range(0, 5)
BROADCAST_RETRY_DELAY = Range(1, 86_400)
BROADCAST_RING = Range(5, 120)
# A host name: dot-separated labels of letters, digits and '-', each starting and ending with a
# letter or digit (an IPv4 address is one too).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = rf"{_LABEL}(?:\.{_LABEL})*"
MAX_HOST = 253


def _sip_uri_parts(match: re.Match[str]) -> bool:
    return len(match["host"]) <= MAX_HOST and (match["port"] is None or PORT.accepts(int(match["port"])))


EXTENSION = Rule(re.compile(r"[0-9]{2,8}"), 8, "An extension is 2 to 8 digits.")
HOST = Rule(
    re.compile(_HOST_NAME),
    MAX_HOST,
    "A host name or IPv4 address: letters, digits and '-' between dots, each part starting "
    "and ending with a letter or digit.",
)
# The user part keeps to characters no PBX syntax gives a meaning (no ',', '|', '&', ';', '$').
SIP_URI = Rule(
    re.compile(rf"sips?:[A-Za-z0-9_.!~*'+-]{{1,64}}@(?P<host>{_HOST_NAME})(?::(?P<port>[0-9]{{1,5}}))?"),
    255,
    "A SIP URI like sip:alice@example.com: a user part of at most 64 characters, a host name "
    "whose parts start and end with a letter or digit, and a port from 1 to 65535 if any.",
    also=_sip_uri_parts,
)
E164 = Rule(re.compile(r"\+[1-9][0-9]{1,14}"), 16, "A phone number in E.164, like +14155550100.")
TRUNK_USER = Rule(re.compile(r"[A-Za-z0-9_.+-]{1,80}"), 80, "Letters, digits and . _ + - only (up to 80).")
# Secrets land verbatim in attribute values and .conf values: printable ASCII without blanks.
# `$` is refused because FreeSWITCH's pre-processor expands `$${...}` anywhere in its XML.
SECRET = Rule(
    re.compile(r"[!-#%-~]{1,128}"), 128, "Up to 128 printable ASCII characters, no spaces and no '$'."
)


def _https_host(match: re.Match[str]) -> bool:
    host = urlsplit(match.group(0)).hostname
    return bool(host) and len(host or "") <= MAX_HOST


#: Where an automation's webhook posts: https only, no blanks, a host.
WEBHOOK_URL = Rule(
    re.compile(r"https://[^\s/?#@]+(?:[/?#][^\s]*)?"), 500, "An https:// address.", also=_https_host
)


def _cron_valid(match: re.Match[str]) -> bool:
    from croniter import croniter

    return bool(croniter.is_valid(match.group(0)))


#: An automation's schedule: five cron fields (minute hour day month weekday), in UTC.
CRON = Rule(
    re.compile(r"[0-9A-Za-z*/,-]{1,20}(?: [0-9A-Za-z*/,-]{1,20}){4}"),
    64,
    "Five cron fields: minute hour day month weekday, like 0 9 * * mon-fri (UTC).",
    also=_cron_valid,
)


# Seconds, as the services accept them and the renderer prints them.
RING_GROUP_TIMEOUT = Range(5, 600)
MEMBER_TIMEOUT = Range(1, 300)
QUEUE_WRAP_UP = Range(0, 3600)
QUEUE_MAX_WAIT = Range(10, 86400)
QUEUE_RING_TIMEOUT = Range(5, 300)

# The system directories themselves, which a node's configuration folder may not be: a deploy
# writes and prunes a folder of its own inside the one named.
SYSTEM_DIRS = frozenset(
    {"/"}
    | {
        f"/{name}"
        for name in "bin boot dev etc home lib lib32 lib64 libx32 media mnt opt proc root run sbin srv sys tmp usr var".split()
    }
    | {f"/usr/{name}" for name in "bin include lib lib64 libexec local sbin share src".split()}
    | {f"/usr/local/{name}" for name in "bin etc include lib sbin share src".split()}
    | {f"/var/{name}" for name in "backups cache lib local lock log mail opt run spool tmp www".split()}
)
CONFIG_DIR_CHARACTERS = re.compile(r"[A-Za-z0-9._+/-]+")

EMAIL_RE = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[A-Za-z]{2,}$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_TEXT = 120  # free text's default length
MAX_EMAIL = 254
MAX_AVATAR = 300  # an avatar's address
# An uploaded avatar: one of these formats (Pillow's name -> the content type it is served with),
# at most AVATAR_MAX_BYTES, at most AVATAR_MAX_PIXELS decoded (a decompression bomb is refused
# before it is decoded); stored re-encoded, at most AVATAR_SIDE pixels a side.
AVATAR_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_MAX_PIXELS = 40_000_000
AVATAR_SIDE = 256
MAX_CONFIG_DIR = 400


def add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def check(errors: Errors, field: str, value: str, rule: Rule) -> None:
    """Add the rule's message when `value` breaks it."""
    if not rule.accepts(value):
        add(errors, field, rule.message)


# What clean_text turns into a blank: control characters and line/paragraph separators.
_BREAKS = frozenset({"Cc", "Zl", "Zp"})


def text(errors: Errors, data: dict, field: str, *, required: bool = False, max_len: int = MAX_TEXT) -> str:
    """A free-text value: stripped, length-checked, one line, and visible: a value made only of
    zero-width or formatting characters would be printed empty (control.text.clean_text)."""
    value = data.get(field)
    value = "" if value is None else str(value).strip()
    if required and not value:
        add(errors, field, "This field is required.")
    elif len(value) > max_len:
        add(errors, field, f"At most {max_len} characters (got {len(value)}).")
    elif any(ord(ch) < 32 or unicodedata.category(ch) in _BREAKS for ch in value):
        add(errors, field, "Line breaks and control characters are not allowed.")
    elif any("\ud800" <= ch <= "\udfff" for ch in value):
        add(errors, field, "Broken characters (lone surrogates) are not allowed.")
    elif value and not clean_text(value):
        add(errors, field, "Only invisible characters (zero-width or formatting marks): type visible text.")
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
    check(errors, field, value, EXTENSION)
    return value


def config_dir(errors: Errors, data: dict, field: str = "config_dir") -> str:
    """A folder on a PBX host: absolute, normalised, of plain characters (it reaches rsync and
    ssh command lines), and not a system directory itself."""
    value = text(errors, data, field, required=True, max_len=MAX_CONFIG_DIR)
    if not value or field in errors:
        return value
    if not value.startswith("/"):
        add(errors, field, "An absolute path on the PBX host, like /etc/asterisk.")
    elif not CONFIG_DIR_CHARACTERS.fullmatch(value):
        add(
            errors,
            field,
            "Letters, digits and . _ + - between the slashes only: no blanks or shell characters.",
        )
    elif posixpath.normpath(value) != value or "//" in value:
        add(errors, field, "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end.")
    elif value in SYSTEM_DIRS:
        add(errors, field, f"{value} is a system directory: name a folder of its own, like /etc/asterisk.")
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
