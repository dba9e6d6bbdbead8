"""The login throttle: every attempt counted atomically, per email (known or not) and per source
address, and unknown emails answered in the time known ones take."""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete

from control import passwords
from control.db import unit_of_work
from control.models import AuditLog, LoginThrottle
from control.services import accounts, users
from tests.web.serving import Browser, serving

TOO_MANY = b"Too many failed attempts"


def _login(client, email: str, password: str, address: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post(
        "/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def test_an_unknown_email_is_throttled_like_a_known_one(client, demo):
    for email in (demo["admin_email"], "nobody@acme.example"):
        answers = [_login(client, email, "wrong-password").data for _ in range(accounts.FREE_ATTEMPTS + 1)]
        assert all(b"Wrong email or password" in a for a in answers[: accounts.FREE_ATTEMPTS])
        assert TOO_MANY in answers[-1], email


def test_one_source_address_trying_many_emails_is_throttled(client, demo):
    for n in range(accounts.ADDRESS_FREE_ATTEMPTS):
        assert b"Wrong email" in _login(client, f"guess{n}@acme.example", "x" * 12, "10.0.0.7").data
    refused = _login(client, demo["admin_email"], demo["password"], "10.0.0.7")
    assert refused.status_code == 401 and TOO_MANY in refused.data
    assert _login(client, demo["admin_email"], demo["password"], "10.0.0.8").status_code == 302


def test_a_working_login_does_not_wipe_its_addresss_failures(client, demo):
    for n in range(accounts.ADDRESS_FREE_ATTEMPTS - 1):
        _login(client, f"guess{n}@acme.example", "x" * 12, "10.0.0.9")
    assert _login(client, demo["agent_email"], demo["password"], "10.0.0.9").status_code == 302
    assert b"Wrong email" in _login(client, "guess-last@acme.example", "x" * 12, "10.0.0.9").data
    assert TOO_MANY in _login(client, "guess-after@acme.example", "x" * 12, "10.0.0.9").data


def test_a_successful_login_starts_the_email_again_from_zero(client, demo, session):
    for _ in range(accounts.FREE_ATTEMPTS - 1):
        _login(client, demo["agent_email"], "wrong-password")
    assert accounts.attempts_counted(session, demo["agent_email"]) == accounts.FREE_ATTEMPTS - 1
    assert _login(client, demo["agent_email"], demo["password"]).status_code == 302
    assert accounts.attempts_counted(session, demo["agent_email"]) == 0


@pytest.mark.slow
def test_unknown_and_known_emails_are_answered_in_the_same_time(client, demo, monkeypatch):
    """Today's cost of argon2 for both; 'this email exists' must not show in the answer time."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher())
    with unit_of_work() as s:
        users.set_password(s, demo["tenant_id"], demo["admin_id"], "a production-cost hash", None)
    known, unknown = [], []
    for n in range(15):
        for email, samples in ((demo["admin_email"], known), (f"nobody{n}@acme.example", unknown)):
            with unit_of_work() as s:
                s.execute(delete(LoginThrottle))
            started = time.perf_counter()
            response = _login(client, email, "wrong-password", f"10.1.0.{n}")
            samples.append(time.perf_counter() - started)
            assert b"Wrong email or password" in response.data
    known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    print(f"median answer: known {known_ms:.1f} ms, unknown {unknown_ms:.1f} ms")
    assert known_ms > 5, "the hash must be the production one for this to mean anything"
    assert max(known_ms, unknown_ms) / min(known_ms, unknown_ms) < 1.25


PARALLEL = 32


@pytest.mark.slow
def test_parallel_wrong_passwords_against_the_real_server_are_all_counted(demo, session, tmp_path: Path):
    env = dict(os.environ) | {"SWITCHBOARD_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    with serving(env, tmp_path / "serve.log", extra=["--no-worker", "--workers", "2"]) as served:
        browsers = [Browser(served.url) for _ in range(PARALLEL)]
        start = threading.Barrier(PARALLEL)

        def attempt(browser: Browser) -> int:
            start.wait()
            return browser.log_in(demo["admin_email"], "wrong-password")

        with ThreadPoolExecutor(PARALLEL) as pool:
            answers = list(pool.map(attempt, browsers))
        refused = Browser(served.url).log_in(demo["admin_email"], demo["password"])
    assert answers == [401] * PARALLEL
    assert accounts.attempts_counted(session, demo["admin_email"]) == PARALLEL + 1
    # Counted before checked: only the free attempts got as far as the password.
    checked = session.query(AuditLog).filter_by(action="login.failed", target_id=demo["admin_id"]).count()
    assert checked == accounts.FREE_ATTEMPTS
    assert refused == 401
