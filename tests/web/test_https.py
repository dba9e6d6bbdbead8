"""Over HTTPS the session cookie is Secure and HSTS is sent: behind a trusted reverse proxy that
says so (X-Forwarded-Proto), or always with SWITCHBOARD_HTTPS=1. A client cannot claim HTTPS."""

from __future__ import annotations

import pytest

from control import config, effects
from tests.conftest import login

FORWARDED_HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture()
def make_client(database_url, demo, monkeypatch):  # type: ignore[no-untyped-def]
    from web.app import create_app

    def make(**env: str):  # type: ignore[no-untyped-def]
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        config.reset_settings()
        return create_app({"TESTING": True, "WTF_CSRF_ENABLED": False}).test_client()

    yield make
    effects.clear_handlers()
    monkeypatch.undo()
    config.reset_settings()


def _login(client, demo, headers=None):  # type: ignore[no-untyped-def]
    return client.post(
        "/login", data={"email": demo["admin_email"], "password": demo["password"]}, headers=headers or {}
    )


def test_plain_http_by_default_and_forwarded_headers_are_not_believed(make_client, demo):
    client = make_client()
    response = _login(client, demo, FORWARDED_HTTPS)
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in response.headers


def test_behind_a_trusted_proxy_that_forwards_https(make_client, demo):
    client = make_client(SWITCHBOARD_TRUSTED_PROXIES="1")
    response = _login(client, demo, FORWARDED_HTTPS)
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.headers["Location"] == "/"
    # The same proxy over plain HTTP (say, a health check): no Secure, no HSTS.
    plain = make_client(SWITCHBOARD_TRUSTED_PROXIES="1").get("/login", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


def test_the_proxys_client_address_is_the_one_throttled(make_client, demo):
    client = make_client(SWITCHBOARD_TRUSTED_PROXIES="1")
    from control.services import accounts

    for n in range(accounts.ADDRESS_FREE_ATTEMPTS):
        login(client, f"guess{n}@acme.example", "wrong-password-1")  # no X-Forwarded-For: the proxy itself
    sprayed = {"X-Forwarded-For": "198.51.100.4"}
    for n in range(accounts.ADDRESS_FREE_ATTEMPTS):
        client.post("/login", data={"email": f"g{n}@x.example", "password": "wrong-1"}, headers=sprayed)
    assert (
        b"Too many"
        in client.post(
            "/login", data={"email": demo["admin_email"], "password": demo["password"]}, headers=sprayed
        ).data
    )
    assert _login(client, demo, {"X-Forwarded-For": "198.51.100.5"}).status_code == 302


def test_https_setting_makes_the_cookie_secure_always(make_client, demo):
    response = _login(make_client(SWITCHBOARD_HTTPS="1"), demo)
    assert "; Secure" in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in response.headers


def test_a_bad_proxy_count_is_named(monkeypatch, data_dir):
    monkeypatch.setenv("SWITCHBOARD_TRUSTED_PROXIES", "yes")
    config.reset_settings()
    with pytest.raises(ValueError, match="SWITCHBOARD_TRUSTED_PROXIES"):
        config.settings()
    monkeypatch.undo()
    config.reset_settings()
