"""The call, text and DND buttons of the admin pages: they record commands for the live PBX."""

from __future__ import annotations

from sqlalchemy import select

from control import db
from control.models import Command, Line, Tenant
from tests.command_nodes import add_node

NODE = "web-commands-node"


def _node(demo: dict, registered_user: int | None = None) -> None:
    add_node(demo["tenant_id"], NODE, *([registered_user] if registered_user else []))


def _commands() -> list[Command]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Command).order_by(Command.id)))


def test_contacts_show_call_and_text_buttons_and_call_rings_my_phone(
    admin_client, agent_client, demo
) -> None:  # type: ignore[no-untyped-def]
    _node(demo, demo["agent_id"])
    page = admin_client.get("/contacts/").get_data(as_text=True)
    assert 'action="/commands/call"' in page and "/commands/text?to=" in page
    answer = agent_client.post(
        "/commands/call", data={"target": "+14155550123"}, headers={"Referer": "/contacts/"}
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/contacts/")
    (command,) = _commands()
    assert command.kind == "originate" and command.user_id == demo["agent_id"] and command.node == NODE
    assert "your phone rings first" in agent_client.get("/").get_data(as_text=True)


def test_no_registered_phone_is_said_and_nothing_is_recorded(admin_client, demo) -> None:  # type: ignore[no-untyped-def]
    _node(demo)
    admin_client.post("/commands/call", data={"target": "1002"}, headers={"Referer": "/contacts/"})
    assert "no registered phone" in admin_client.get("/contacts/").get_data(as_text=True)
    assert _commands() == []


def test_reply_sends_a_text_from_the_line(admin_client, demo) -> None:  # type: ignore[no-untyped-def]
    _node(demo)
    with db.unit_of_work() as s:
        tenant = s.get(Tenant, demo["tenant_id"])
        assert tenant is not None
        tenant.trunk_host = "sip.trunk.example.com"
        line = s.scalars(select(Line).order_by(Line.id)).first()
        assert line is not None
        line_id = line.id
    form = admin_client.get(f"/commands/text?to=%2B14155550123&line_id={line_id}").get_data(as_text=True)
    assert "Send a text" in form and "+14155550123" in form
    too_long = admin_client.post(
        "/commands/text", data={"to": "+14155550123", "line_id": line_id, "body": "x" * 1601}
    )
    assert too_long.status_code == 200 and "at most 1600" in too_long.get_data(as_text=True)
    sent = admin_client.post(
        "/commands/text",
        data={"to": "+14155550123", "line_id": line_id, "body": 'Hi, "${x}"', "next": "/activity/"},
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)[-3000:]
    (command,) = _commands()
    assert command.kind == "message" and command.params["body"] == 'Hi, "${x}"'


def test_dnd_on_the_user_page_goes_live(admin_client, demo) -> None:  # type: ignore[no-untyped-def]
    _node(demo)
    page = admin_client.get(f"/users/{demo['agent_id']}").get_data(as_text=True)
    assert "applied on the PBX at once" in page
    with db.unit_of_work() as s:
        from control.services.users import _current, get_user

        data = _current(get_user(s, demo["tenant_id"], demo["agent_id"]))
    form = {k: v for k, v in data.items() if v not in (None, False)} | {"dnd": "on", "team_ids": []}
    answer = admin_client.post(f"/users/{demo['agent_id']}", data=form)
    assert answer.status_code == 302, answer.get_data(as_text=True)[-3000:]
    kinds = [(c.kind, c.params.get("on")) for c in _commands()]
    assert kinds == [("dnd", True)], kinds
