"""A login session ends when it should: logout, a password change, suspension and "log out
everywhere" end every earlier session of the user, wherever its cookie was kept; API tokens
are not sessions and stay valid."""

from __future__ import annotations

import re

from control.db import unit_of_work
from control.models import AuditLog
from control.services import accounts, users
from tests.conftest import login


def _saved_cookie(client) -> str:  # type: ignore[no-untyped-def]
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(app, cookie: str):  # type: ignore[no-untyped-def]
    """A browser that kept a copy of the cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def _is_logged_out(client, path: str = "/users/") -> bool:  # type: ignore[no-untyped-def]
    response = client.get(path)
    return response.status_code == 302 and "/login" in response.headers["Location"]


def _save_password(admin_client, user_id: int, password: str) -> None:  # type: ignore[no-untyped-def]
    """Save a user's form as it stands, with a new password (what an admin does on the user's page)."""
    page = admin_client.get(f"/users/{user_id}").data.decode()
    data = dict(re.findall(r'<input[^>]*name="(name|email|extension)"[^>]*value="([^"]*)"', page))
    data |= {"role": re.search(r'<option value="(\w+)" selected', page).group(1), "language": "en"}
    response = admin_client.post(f"/users/{user_id}", data=data | {"password": password})
    assert response.status_code == 302, response.data[:400]


def test_a_cookie_saved_before_logout_no_longer_opens_pages(app, admin_client):
    saved = _saved_cookie(admin_client)
    assert _replay(app, saved).get("/users/").status_code == 200
    admin_client.post("/logout")
    assert _is_logged_out(_replay(app, saved))
    assert _is_logged_out(admin_client)


def test_logout_ends_the_users_other_sessions_too(app, admin_client, demo):
    laptop = app.test_client()
    assert login(laptop, demo["admin_email"], demo["password"]).status_code == 302
    admin_client.post("/logout")
    assert _is_logged_out(laptop)


def test_logout_leaves_other_users_sessions_alone(app, admin_client, agent_client):
    admin_client.post("/logout")
    assert agent_client.get("/").status_code == 200


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(app, agent_client, demo):
    saved = _saved_cookie(agent_client)
    page = agent_client.get("/account")
    assert page.status_code == 200 and b"Log out everywhere" in page.data
    wrong = agent_client.post(
        "/account", data={"current_password": "not-my-password", "password": "a new long password"}
    )
    assert wrong.status_code == 400 and b"not your current password" in wrong.data
    assert not _is_logged_out(_replay(app, saved), "/")
    response = agent_client.post(
        "/account", data={"current_password": demo["password"], "password": "a new long password"}
    )
    assert response.status_code == 302
    assert _is_logged_out(_replay(app, saved), "/")
    assert agent_client.get("/").status_code == 200
    fresh = app.test_client()
    assert login(fresh, demo["agent_email"], "a new long password").status_code == 302


def test_an_admin_setting_a_users_password_ends_that_users_sessions(app, admin_client, agent_client, demo):
    _save_password(admin_client, demo["agent_id"], "reset by the admin 1")
    assert _is_logged_out(agent_client, "/")
    assert admin_client.get("/users/").status_code == 200


def test_an_admin_changing_their_own_password_stays_logged_in_here_only(app, admin_client, demo):
    saved = _saved_cookie(admin_client)
    _save_password(admin_client, demo["admin_id"], "the admin's new one")
    assert admin_client.get("/users/").status_code == 200
    assert _is_logged_out(_replay(app, saved))


def test_suspension_ends_the_session_and_lifting_it_does_not_revive_it(app, admin_client, agent_client, demo):
    saved = _saved_cookie(agent_client)
    admin_client.post(f"/users/{demo['agent_id']}/suspend")
    assert _is_logged_out(agent_client, "/")
    admin_client.post(f"/users/{demo['agent_id']}/unsuspend")
    assert _is_logged_out(_replay(app, saved), "/")


def test_log_out_everywhere_from_ones_own_account_page(app, agent_client, demo):
    phone = app.test_client()
    assert login(phone, demo["agent_email"], demo["password"]).status_code == 302
    page = agent_client.get("/account").data.decode()
    assert 'action="/account/logout-everywhere"' in page
    assert 'data-confirm="Log out of every session' in page  # asked before it happens
    response = agent_client.post("/account/logout-everywhere")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _is_logged_out(agent_client, "/")
    assert _is_logged_out(phone, "/")


def test_an_admin_logs_a_user_out_everywhere_from_the_users_page(
    app, admin_client, agent_client, demo, session
):
    page = admin_client.get(f"/users/{demo['agent_id']}").data.decode()
    assert f'action="/users/{demo["agent_id"]}/logout-everywhere"' in page
    assert 'data-confirm="Log Alice Agent out of every session' in page
    response = admin_client.post(f"/users/{demo['agent_id']}/logout-everywhere")
    assert response.status_code == 302
    assert _is_logged_out(agent_client, "/")
    assert admin_client.get("/users/").status_code == 200
    entry = session.query(AuditLog).filter_by(action="user.logout_everywhere").one()
    assert (entry.actor_id, entry.target_id) == (demo["admin_id"], demo["agent_id"])


def test_an_agent_cannot_log_others_out(agent_client, admin_client, demo):
    assert agent_client.post(f"/users/{demo['admin_id']}/logout-everywhere").status_code == 403
    assert admin_client.get("/users/").status_code == 200


def test_api_tokens_outlive_the_sessions(app, admin_client, demo):
    with unit_of_work() as s:
        token = accounts.create_token(s, users.find_user_by_email(s, demo["admin_email"]))
    admin_client.post("/account/logout-everywhere")
    response = app.test_client().get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_logging_out_while_logged_in_as_someone_ends_the_impersonation_cookie(
    app, admin_client, agent_client, demo
):
    admin_client.post(f"/users/{demo['agent_id']}/login-as")
    saved = _saved_cookie(admin_client)
    assert _replay(app, saved).get("/").status_code == 200
    admin_client.post("/logout")
    replayed = _replay(app, saved)
    assert _is_logged_out(replayed, "/")
    assert replayed.post("/login-as/return").status_code == 302
    assert _is_logged_out(replayed)
    assert agent_client.get("/").status_code == 200  # the agent's own session is not the admin's
