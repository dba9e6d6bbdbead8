"""The dashboard's live calls: Hang up and Transfer record a command for the node; a wrong
target is said next to the field; a call that has ended says so; agents have no such buttons."""

from __future__ import annotations

import time

from sqlalchemy import select

from control.db import new_session, unit_of_work
from control.models import Command, LiveChannel, User
from control.services import nodes
from tests.web.test_nodes import NODE

HTMX = {"HX-Request": "true"}


def _call(demo) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    with unit_of_work() as s:
        nodes.create_node(s, NODE | {"tenant_id": demo["tenant_id"]}, None)
        agent = s.scalars(select(User).filter_by(tenant_id=demo["tenant_id"], extension="1001")).one()
        s.add_all(
            [
                LiveChannel(node="pbx-1", call_id="1796556608.7", call_key="k1", user_id=None, answered=True, started_at=now - 30),
                LiveChannel(node="pbx-1", call_id="1796556608.8", call_key="k1", user_id=agent.id, answered=True, started_at=now - 29),
            ]
        )  # fmt: skip


def _commands() -> list[Command]:
    s = new_session()
    try:
        return list(s.scalars(select(Command).order_by(Command.id)))
    finally:
        s.close()


def test_the_dashboard_lists_the_call_with_labelled_controls(admin_client, demo) -> None:
    _call(demo)
    page = admin_client.get("/").data.decode()
    assert 'id="live-call-list"' in page and "Alice Agent" in page
    assert ">Hang up</span>" in page
    # one labelled transfer field per party: who moves is said
    assert "Transfer Outside party to</label>" in page and "Transfer Alice Agent to</label>" in page


def test_transfer_with_a_wrong_target_says_so_next_to_the_field(admin_client, demo) -> None:
    _call(demo)
    answer = admin_client.post("/live-calls/1796556608.7/transfer", data={"target": "99999"}, headers=HTMX)
    assert answer.status_code == 200
    row = answer.data.decode()
    assert row.lstrip().startswith("<li") and 'aria-invalid="true"' in row
    assert "Extension 99999 does not exist." in row and 'value="99999"' in row
    assert '<details class="transfer" open' in row  # the field stays open with its message
    empty = admin_client.post("/live-calls/1796556608.7/transfer", data={"target": ""}, headers=HTMX)
    assert "Give an extension or a phone number." in empty.data.decode()
    assert _commands() == []


def test_transfer_and_hang_up_record_commands_for_the_node(admin_client, demo) -> None:
    _call(demo)
    moved = admin_client.post("/live-calls/1796556608.7/transfer", data={"target": "1002"}, headers=HTMX)
    assert "Transferring to 1002 (command" in moved.data.decode()
    ended = admin_client.post("/live-calls/1796556608.7/hangup", headers=HTMX)
    assert "Hanging up (command" in ended.data.decode()
    made = [(c.kind, c.node, c.params) for c in _commands()]
    assert made == [
        ("transfer", "pbx-1", {"call_id": "1796556608.7", "target": "1002"}),
        ("hangup", "pbx-1", {"call_id": "1796556608.7"}),
    ]
    # without JavaScript: a message and back to the dashboard
    plain = admin_client.post("/live-calls/1796556608.8/hangup")
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/")


def test_a_call_that_has_ended(admin_client, demo) -> None:
    answer = admin_client.post("/live-calls/1796556608.9/hangup", headers=HTMX)
    assert answer.status_code == 200 and "This call has ended." in answer.data.decode()
    assert _commands() == []


def test_agents_cannot_use_the_dashboard_buttons(agent_client, demo) -> None:
    _call(demo)
    assert agent_client.post("/live-calls/1796556608.7/hangup", headers=HTMX).status_code == 403
