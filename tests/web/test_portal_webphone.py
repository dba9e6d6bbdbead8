"""The webphone's SIP account: the logged-in user's own, over their own session only."""

from __future__ import annotations

import logging

import pytest

from control import config
from control.db import unit_of_work
from control.models import Tenant, User
from control.services import nodes, users

ACCOUNT = "/portal/webphone/account"


@pytest.fixture()
def node(demo: dict, tmp_path, monkeypatch: pytest.MonkeyPatch) -> int:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SWITCHBOARD_WEBPHONE_URL", "wss://{host}:8443/ws")
    config.reset_settings()
    with unit_of_work() as s:
        node_id = nodes.create_node(
            s,
            {
                "name": "pbx1",
                "kind": "asterisk",
                "host": "192.0.2.10",
                "port": 5038,
                "username": "switchboard",
                "secret": "ami-secret-123",
                "config_dir": str(tmp_path),
                "tenant_id": demo["tenant_id"],
            },
            None,
        ).id
    yield node_id
    config.reset_settings()


def _agent(demo: dict) -> tuple[str, str]:
    with unit_of_work() as s:
        agent = s.get(User, demo["agent_id"])
        return agent.extension, users.sip_secret(s, demo["tenant_id"], agent.id, None)


def test_the_agent_gets_their_own_account_never_cached(agent_client, demo, node, caplog) -> None:  # type: ignore[no-untyped-def]
    extension, secret = _agent(demo)
    caplog.set_level(logging.DEBUG)
    response = agent_client.get(ACCOUNT)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json == {
        "ws_url": "wss://192.0.2.10:8443/ws",
        "uri": f"sip:{extension}-webphone@192.0.2.10",
        "username": f"{extension}-webphone",
        "password": secret,
        "display_name": response.json["display_name"],
        "extension": extension,
    }
    assert secret not in caplog.text


def test_the_secret_is_never_in_a_page(agent_client, demo, node) -> None:  # type: ignore[no-untyped-def]
    _, secret = _agent(demo)
    page = agent_client.get("/portal/phonebook").get_data(as_text=True)
    assert 'data-webphone="/portal/webphone/account"' in page
    assert secret not in page


def test_an_admin_acting_as_the_agent_gets_no_account(admin_client, demo, node) -> None:  # type: ignore[no-untyped-def]
    assert admin_client.post(f"/users/{demo['agent_id']}/login-as").status_code == 302
    assert admin_client.get(ACCOUNT).status_code == 403


def test_no_account_without_a_node_or_logged_out(client, agent_client, demo) -> None:  # type: ignore[no-untyped-def]
    assert agent_client.get(ACCOUNT).status_code == 404  # the demo tenant has no PBX node
    response = client.get(ACCOUNT)
    assert response.status_code in (302, 401)


def test_on_freeswitch_the_account_names_the_tenants_domain(  # type: ignore[no-untyped-def]
    agent_client, demo, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FreeSWITCH finds the webphone's user in the directory of the tenant's SIP domain; the
    browser reaches the node's wss binding (SWITCHBOARD_FS_WEBPHONE_URL)."""
    monkeypatch.setenv("SWITCHBOARD_FS_WEBPHONE_URL", "wss://{host}:7443")
    config.reset_settings()
    with unit_of_work() as s:
        nodes.create_node(
            s,
            {
                "name": "fs1",
                "kind": "freeswitch",
                "host": "192.0.2.20",
                "port": 8021,
                "secret": "esl-secret-123",
                "config_dir": str(tmp_path),
                "tenant_id": demo["tenant_id"],
            },
            None,
        )
        domain = s.get(Tenant, demo["tenant_id"]).domain
    extension, secret = _agent(demo)
    body = agent_client.get(ACCOUNT).json
    assert body["ws_url"] == "wss://192.0.2.20:7443"
    assert body["uri"] == f"sip:{extension}-webphone@{domain}"
    assert (body["username"], body["password"]) == (f"{extension}-webphone", secret)
    config.reset_settings()


def test_a_bad_webphone_url_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SWITCHBOARD_WEBPHONE_URL", "SWITCHBOARD_FS_WEBPHONE_URL"):
        for bad in ("ws://{host}:8089/ws", "wss://{hots}/ws", 'wss://x"/ws'):
            monkeypatch.setenv(name, bad)
            config.reset_settings()
            with pytest.raises(ValueError, match=name):
                config.settings()
        monkeypatch.delenv(name)
    config.reset_settings()
