"""Credentials never reach a log: query parameters and headers that carry them are redacted.

A token sent where it does not belong (`?access_token=...`) is refused, but the request line that
carried it would still be logged; every access-log atom and every error-log argument goes
through `redact` first.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

REDACTED = "[redacted]"
# A query parameter whose name contains one of these words carries a credential.
SENSITIVE_WORDS = (
    "token",
    "password",
    "passwd",
    "pwd",
    "secret",
    "key",
    "auth",
    "signature",
    "credential",
    "session",
)
# Headers (gunicorn atoms `{name}i`, `{name}o`, environ `{http_name}e`) logged as REDACTED whole.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
_PARAMETER = re.compile(r"(?P<name>[^\s?&;=#\"]+)=(?P<value>[^\s&;#\"]*)")


def _sensitive(name: str) -> bool:
    lowered = unquote_plus(name).lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def redact(text: str) -> str:
    """`text` (a URL, a query string, a request line) with every credential parameter's value hidden."""
    if "=" not in text:
        return text
    return _PARAMETER.sub(lambda m: f"{m['name']}={REDACTED}" if _sensitive(m["name"]) else m.group(0), text)


def sensitive_header(name: str) -> bool:
    name = name.lower().removeprefix("http_").replace("_", "-")
    return name in SENSITIVE_HEADERS


class RedactingFilter(logging.Filter):
    """Redacts the string arguments (and the message) of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True
