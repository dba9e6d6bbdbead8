from __future__ import annotations

import re

from click.testing import CliRunner

from control.db import unit_of_work
from control.models import ApiToken, User
from control.services import users
from tests.api.conftest import ApiClient, make_token
from tests.conftest import login
from web.app import create_app
from web.cli import cli

SPEC = "/api/v1/openapi.json"


def _api_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, url) for every /api/v1 rule: `any(...)` parameters take their first choice, others 1."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        url = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", rule.rule)
        url = re.sub(r"<[^>]+>", "1", url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_every_api_route_answers_401_without_a_valid_token(app, demo, admin_client):
    routes = _api_routes(app)
    resources = {url.split("/")[3] for _, url in routes}
    assert {
        "users", "teams", "numbers", "lines", "ring-groups", "queues",
        "contacts", "tags", "broadcasts", "automations", "nodes", "openapi.json",
    } <= resources  # fmt: skip
    assert len(routes) > 60
    anonymous = app.test_client()
    for method, url in routes:
        for headers in (
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": "Basic YWRtaW46cGFzc3dvcmQ="},
            {"Authorization": "Bearer " + "x" * 5000},
        ):
            response = anonymous.open(url, method=method, headers=headers, json={})
            assert response.status_code == 401, (method, url, headers)
            assert response.is_json and response.json["message"]
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        # A logged-in browser session is not an API credential (no CSRF through cookies).
        assert admin_client.open(url, method=method, json={}).status_code == 401, (method, url)


#: Routes agents use for themselves (live call control, issue 9); their services authorise.
AGENT_ROUTES = {
    ("POST", "/api/v1/calls"),
    ("GET", "/api/v1/commands/1"),
    ("POST", "/api/v1/messages"),
    ("PUT", "/api/v1/users/1/dnd"),
    ("PUT", "/api/v1/users/1/queues/1"),
    ("GET", "/api/v1/live-calls"),
    ("POST", "/api/v1/live-calls/1/hangup"),
    ("POST", "/api/v1/live-calls/1/transfer"),
}


def test_agent_token_gets_403_on_every_admin_route_and_changes_nothing(app, agent_api, demo, session):
    # /api/v1/me is every user's own (tests/api/test_me.py); AGENT_ROUTES authorise in their
    # services; the rest is for admins.
    everything = _api_routes(app)
    assert AGENT_ROUTES <= set(everything)
    routes = [
        (m, u) for m, u in everything if u != SPEC and u.split("/")[3] != "me" and (m, u) not in AGENT_ROUTES
    ]
    for method, url in routes:
        response = agent_api.open(method, url, json={"name": "agent was here", "active": False})
        assert response.status_code == 403, (method, url)
        assert response.json["message"] == "Only admins may use this resource."
    admin = session.get(User, demo["admin_id"])
    assert not admin.suspended and not admin.routing_paused
    assert session.query(User).filter_by(name="agent was here").count() == 0
    assert agent_api.get(SPEC).status_code == 200  # the document itself is for any user with a token


def test_token_from_the_cli_works_on_users(app, database_url):
    runner = CliRunner()
    made = runner.invoke(
        cli,
        ["create-admin", "root@example.com", "--name", "Root"],
        env={"SWITCHBOARD_ADMIN_PASSWORD": "a-long-admin-password"},
    )
    assert made.exit_code == 0, made.output
    issued = runner.invoke(cli, ["create-token", "root@example.com"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    api = ApiClient(app.test_client(), token)
    response = api.get("/api/v1/users")
    assert response.status_code == 200
    assert [u["email"] for u in response.json["items"]] == ["root@example.com"]
    assert response.json["items"][0]["role"] == "admin"
    with unit_of_work() as s:
        row = s.query(ApiToken).one()
        assert row.last_used_at is not None and token not in row.digest


def test_suspended_users_token_stops_working(api, app, agent_token, demo):
    agent = ApiClient(app.test_client(), agent_token)
    assert agent.get(SPEC).status_code == 200
    assert api.post(f"/api/v1/users/{demo['agent_id']}/suspend").status_code == 200
    response = agent.get(SPEC)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_api_works_with_csrf_protection_on(database_url, demo, admin_token):
    app = create_app({"TESTING": True})  # WTF_CSRF_ENABLED stays on
    api = ApiClient(app.test_client(), admin_token)
    response = api.post("/api/v1/teams", json={"name": "CSRF-free"})
    assert response.status_code == 201, response.data
    refused = app.test_client().post("/login", data={"email": demo["admin_email"], "password": "x"})
    assert refused.status_code == 400  # forms still need their CSRF token


def test_unknown_paths_and_wrong_methods_answer_json(api, app):
    anonymous = app.test_client()
    assert anonymous.get("/api/v1/nothing-here").status_code == 401
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.is_json
    response = api.put("/api/v1/teams", json={})
    assert response.status_code == 405 and response.is_json
    assert "POST" in response.headers["Allow"]
    response = api.get("/api/v1/teams/99999999999999999999")
    assert response.status_code == 404 and response.is_json
    response = api.get("/api/v1/teams/4242")
    assert response.status_code == 404 and response.json["message"] == "team 4242 not found"


def test_other_tenants_objects_are_not_found(api, app, demo):
    from control.services import tenants

    with unit_of_work() as s:
        other = tenants.create_tenant(s, {"name": "globex", "domain": "globex.test"})
        users.create_user(
            s,
            other.id,
            {"name": "Gina", "email": "gina@globex.test", "role": "admin", "password": "globex-password"},
            None,
        )
    from tests.api.conftest import make_token

    globex = ApiClient(app.test_client(), make_token("gina@globex.test"))
    assert globex.get(f"/api/v1/users/{demo['admin_id']}").status_code == 404
    assert globex.patch(f"/api/v1/users/{demo['agent_id']}", json={"name": "Stolen"}).status_code == 404
    assert [u["email"] for u in globex.get("/api/v1/users").json["items"]] == ["gina@globex.test"]
    assert globex.get("/api/v1/teams").json["total"] == 0
    assert api.get(f"/api/v1/users/{demo['agent_id']}").json["name"] == "Alice Agent"


def test_a_token_is_not_a_session_logout_and_a_new_password_leave_it_valid(client, demo):
    """Sessions end on logout and password change; API tokens stay until revoked (or suspension)."""
    token = make_token(demo["admin_email"])
    api = ApiClient(client, token)
    assert login(client, demo["admin_email"], demo["password"]).status_code == 302
    client.post("/logout")
    with unit_of_work() as s:
        users.set_password(s, demo["tenant_id"], demo["admin_id"], "another long password", None)
    assert api.get("/api/v1/users").status_code == 200
    with unit_of_work() as s:
        users.set_flag(s, demo["tenant_id"], demo["admin_id"], "suspended", True, None)
    assert api.get("/api/v1/users").status_code == 401
