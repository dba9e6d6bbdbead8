"""Automation webhooks: a JSON POST signed with HMAC-SHA256, retried with backoff.

The receiver checks the signature over "<timestamp>.<body>" (X-Switchboard-Timestamp and
X-Switchboard-Signature: "sha256=<hex>") with the automation's secret, and refuses a timestamp
older than it tolerates (replays). The secret never appears in a log line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from control.config import settings

TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
SIGNATURE_HEADER = "X-Switchboard-Signature"
#: Seconds between attempts: 4 attempts in all while the receiver fails (5xx, 429, no answer).
BACKOFF = (1.0, 3.0, 9.0)
TIMEOUT = 10.0
#: bytes of a receiver's answer kept in the step's result
ANSWER_KEPT = 200


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signed: str) -> bool:
    """What a receiver does (and the tests): constant-time compare of the signature."""
    return hmac.compare_digest(signature(secret, timestamp, body), signed)


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    status: int | None  # the last HTTP status, None when no answer came
    attempts: int
    detail: str


def _retryable(status: int | None) -> bool:
    return status is None or status == 429 or status >= 500


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file := settings().webhook_ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=_context()) as answer:  # noqa: S310
            return answer.status, answer.read(ANSWER_KEPT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(ANSWER_KEPT).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"no answer: {reason}"


def deliver(
    url: str,
    secret: str,
    body: bytes,
    *,
    delivery_id: str,
    backoff: Sequence[float] = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` (JSON) to `url`, signed afresh on each attempt; retry 5xx, 429 and no answer."""
    status: int | None = None
    detail = ""
    attempts = 0
    for delay in (0.0, *backoff):
        if delay:
            sleep(delay)
        attempts += 1
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Switchboard-Automations/1",
            "X-Switchboard-Delivery": delivery_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        status, detail = _post(url, body, headers)
        if status is not None and 200 <= status < 300:
            return Delivery(True, status, attempts, f"HTTP {status}")
        if not _retryable(status):
            break
    answer = f"HTTP {status}" if status is not None else detail
    if status is not None and detail.strip():
        answer += f": {' '.join(detail.split())[:ANSWER_KEPT]}"
    return Delivery(False, status, attempts, f"{answer} after {attempts} attempt{'s' * (attempts > 1)}")
