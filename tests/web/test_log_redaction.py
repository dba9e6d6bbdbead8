"""No credential reaches a log: the real `switchboard serve`'s access log, and the redaction rules."""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.web.serving import serving
from web.log_redaction import REDACTED, RedactingFilter, redact
from web.server import RedactingLogger

TOKEN = "sb_QueryStringTokenThatMustNeverBeLogged1"


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_the_access_log_of_the_real_server_holds_no_credentials(database_url, tmp_path: Path):
    env = dict(os.environ) | {"SWITCHBOARD_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    with serving(env, tmp_path / "serve.log", extra=["--no-worker", "--workers", "1"]) as served:
        assert _get(f"{served.url}/api/v1/users?access_token={TOKEN}&page=2") == 401
        assert _get(f"{served.url}/login?next=/users/&password=hunter2-hunter2&api%5Fkey=k-123456") == 200
        assert _get(f"{served.url}/api/v1/users?token={TOKEN}", {"Authorization": f"Bearer {TOKEN}"}) == 401
        assert (
            _get(f"{served.url}/login?x=1&client_secret=s3cr3t-value", {"Referer": f"/?key={TOKEN}"}) == 200
        )
        served.stop()
    log = served.log()
    for secret in (TOKEN, "hunter2-hunter2", "k-123456", "s3cr3t-value"):
        assert secret not in log, log
    assert f'"GET /api/v1/users?access_token={REDACTED}&page=2 HTTP/1.1" 401' in log, log
    assert f"/login?next=/users/&password={REDACTED}&api%5Fkey={REDACTED} HTTP/1.1" in log, log


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1&b=2", "a=1&b=2"),
        ("GET /x?access_token=abc HTTP/1.1", f"GET /x?access_token={REDACTED} HTTP/1.1"),
        ("refresh_token=abc;Password=x&page=3", f"refresh_token={REDACTED};Password={REDACTED}&page=3"),
        ("https://h/p?SIP_SECRET=a#frag", f"https://h/p?SIP_SECRET={REDACTED}#frag"),
        ("/no/query", "/no/query"),
    ],
)
def test_credential_parameters_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_credential_headers_and_error_messages_are_redacted() -> None:
    logger = RedactingLogger.__new__(RedactingLogger)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api?token=t0k",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "token=t0k",
        "HTTP_AUTHORIZATION": "Bearer t0k",
        "HTTP_COOKIE": "session=c00k",
    }
    request = SimpleNamespace(
        headers=[("AUTHORIZATION", "Bearer t0k"), ("COOKIE", "session=c00k"), ("HOST", "h")]
    )
    response = SimpleNamespace(status="200 OK", headers=[("Set-Cookie", "session=c00k")], sent=10)
    atoms = logger.atoms(response, request, environ, SimpleNamespace(seconds=0, microseconds=5))
    assert "t0k" not in repr(atoms) and "c00k" not in repr(atoms)
    assert atoms["{authorization}i"] == REDACTED and atoms["{host}i"] == "h"
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, "", 0, "Error handling request %s %s", ("GET", "/x?secret=s3"), None
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == f"Error handling request GET /x?secret={REDACTED}"
