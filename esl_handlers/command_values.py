"""The shapes a command's values must have before they reach a PBX command line or header.

The services validated them; the executors check again, because a line break or a separator in
an AMI header or an ESL command line would start another command."""

from __future__ import annotations

import re
from typing import Any

EXTENSION = re.compile(r"\d{2,8}")
DIALLED = re.compile(r"\+?\d{2,16}")
E164 = re.compile(r"\+\d{6,15}")
CHANNEL_ID = re.compile(r"[0-9a-f]{32}")
HOST = re.compile(r"[A-Za-z0-9.-]{1,253}")
#: a call leg's id: Asterisk Uniqueid (1796556608.7 or a ChannelId) or a FreeSWITCH uuid
CALL_ID = re.compile(r"[0-9A-Za-z.-]{1,80}")


class BadCommand(ValueError):
    """A parameter that does not have the shape the service guarantees: never sent."""


def check(pattern: re.Pattern[str], value: Any, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BadCommand(f"bad {what}: {value!r}")
    return value
