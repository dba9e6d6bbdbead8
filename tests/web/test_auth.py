from __future__ import annotations

import pytest

from control.db import unit_of_work
from control.models import AuditLog
from control.services import users
from tests.conftest import login


def test_login_page_is_public_and_pages_redirect(client, demo):
    assert client.get("/login").status_code == 200
    response = client.get("/teams/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_wrong_password_is_refused_with_message(client, demo):
    response = login(client, demo["admin_email"], "not-the-password")
    assert response.status_code == 401
    assert b"Wrong email or password" in response.data


def test_repeated_failures_are_slowed_down(client, demo):
    for _ in range(4):
        login(client, demo["admin_email"], "wrong-password")
    response = login(client, demo["admin_email"], demo["password"])
    assert response.status_code == 401
    assert b"Too many failed attempts" in response.data


def test_suspended_user_cannot_log_in(client, demo):
    with unit_of_work() as s:
        users.set_flag(s, demo["tenant_id"], demo["agent_id"], "suspended", True, None)
    response = login(client, demo["agent_email"], demo["password"])
    assert response.status_code == 401
    assert b"suspended" in response.data


def test_agent_gets_403_on_admin_pages(agent_client):
    assert agent_client.get("/teams/").status_code == 403
    assert agent_client.get("/").status_code == 200


def test_login_as_shows_banner_returns_and_is_audited(admin_client, demo, session):
    response = admin_client.post(f"/users/{demo['agent_id']}/login-as")
    assert response.status_code == 302
    page = admin_client.get("/").data.decode()
    assert "you are logged in as <strong>Alice Agent</strong>" in page
    assert admin_client.get("/teams/").status_code == 403
    assert admin_client.post("/login-as/return").status_code == 302
    assert admin_client.get("/teams/").status_code == 200
    actions = [a.action for a in session.query(AuditLog).filter_by(actor_id=demo["admin_id"])]
    assert "user.login_as" in actions and "user.login_as.end" in actions


def test_logout(admin_client):
    admin_client.post("/logout")
    assert admin_client.get("/teams/").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_login_next_never_leaves_the_site(client, demo, target):
    response = client.post(
        "/login?next=" + target, data={"email": demo["admin_email"], "password": demo["password"]}
    )
    assert response.headers["Location"] == "/"


def test_csrf_is_enforced(database_url, demo):
    from web.app import create_app

    app = create_app({"TESTING": True})
    client = app.test_client()
    response = client.post("/login", data={"email": demo["admin_email"], "password": demo["password"]})
    assert response.status_code == 400
