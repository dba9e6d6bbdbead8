"""The portal's Queues page and status: a switch per queue the agent is a member of, and Online /
Do Not Disturb top right; each change recorded as the command that makes it live on the PBX, and
the same through /api/v1/me."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from control import db
from control.models import Command, Queue, QueueMember, User
from control.services import queues
from tests.api.conftest import ApiClient, make_token
from tests.command_nodes import add_node
from tests.web.portal_data import BOB, user_id

NODE = "portal-queues-node"


@pytest.fixture()
def world(demo: dict) -> dict:
    """Helpdesk (700, from the demo) and Sales (710), alice and bob members of both; one node."""
    add_node(demo["tenant_id"], NODE, demo["agent_id"])
    bob = user_id(BOB)
    with db.unit_of_work() as s:
        sales = queues.create_queue(
            s,
            demo["tenant_id"],
            {
                "name": "Sales",
                "extension": "710",
                "members": [{"user_id": demo["agent_id"]}, {"user_id": bob}],
            },
            None,
        )
        helpdesk = s.scalar(select(Queue).where(Queue.extension == "700"))
        assert helpdesk is not None
        ids = {"sales": sales.id, "helpdesk": helpdesk.id}
    return demo | ids | {"bob_id": bob}


DOMAIN = "acme.switchboard.test"  # the demo tenant's


def _active(queue_id: int, user: int) -> bool:
    with db.unit_of_work() as s:
        member = s.scalar(
            select(QueueMember).where(QueueMember.queue_id == queue_id, QueueMember.user_id == user)
        )
        assert member is not None
        return member.active


def _commands(kind: str) -> list[Command]:
    with db.unit_of_work() as s:
        found = list(s.scalars(select(Command).where(Command.kind == kind).order_by(Command.id)))
        s.expunge_all()
        return found


def test_queue_switches_turn_one_queue_off_and_on(agent_client, world) -> None:  # type: ignore[no-untyped-def]
    page = agent_client.get("/portal/queues/").get_data(as_text=True)
    switches = re.findall(r'<input type="checkbox" role="switch" id="queue-(\d+)"[^>]*>', page)
    assert sorted(map(int, switches)) == sorted([world["sales"], world["helpdesk"]])
    for queue_id in switches:  # each switch has its label (the queue's name)
        assert f'<label class="switch" for="queue-{queue_id}">' in page
    assert "Helpdesk" in page and "Sales" in page
    # off (htmx): the agent's Helpdesk membership only; Sales and bob unaffected; live command sent
    answer = agent_client.post(f"/portal/queues/{world['helpdesk']}", data={}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "no calls from Helpdesk" in answer.get_data(as_text=True)
    assert not _active(world["helpdesk"], world["agent_id"])
    assert _active(world["sales"], world["agent_id"]) and _active(world["helpdesk"], world["bob_id"])
    pause = _commands("queue_pause")[-1]
    assert pause.node == NODE and pause.user_id == world["agent_id"]
    assert pause.params == {"extension": "1001", "queue": "700", "paused": True, "domain": DOMAIN}
    # on again, without JS: a redirect and a flash
    back = agent_client.post(f"/portal/queues/{world['helpdesk']}", data={"active": "on"})
    assert back.status_code == 302
    assert _active(world["helpdesk"], world["agent_id"])
    assert _commands("queue_pause")[-1].params["paused"] is False
    shown = agent_client.get("/portal/queues/").get_data(as_text=True)
    assert "You receive the calls of Helpdesk." in shown


def test_a_queue_the_agent_is_not_in_is_not_found(agent_client, world) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        other = queues.create_queue(s, world["tenant_id"], {"name": "Billing", "extension": "720"}, None)
        other_id = other.id
    assert agent_client.post(f"/portal/queues/{other_id}", data={"active": "on"}).status_code == 404
    assert "Billing" not in agent_client.get("/portal/queues/").get_data(as_text=True)


def test_status_top_right_turns_dnd_on_and_off(agent_client, world) -> None:  # type: ignore[no-untyped-def]
    page = agent_client.get("/portal/phonebook").get_data(as_text=True)
    status = page.split('id="portal-status"')[1].split("</form>")[0]
    assert "<span>Online</span>" in status and 'name="dnd" value="on"' in status
    assert f'data-presence-user="{world["agent_id"]}" data-presence="available"' in status
    answer = agent_client.post("/portal/status/", data={"dnd": "on"}, headers={"HX-Request": "true"})
    fragment = answer.get_data(as_text=True)
    assert "<span>Do Not Disturb</span>" in fragment and 'name="dnd" value="off"' in fragment
    assert 'data-presence="unavailable"' in fragment  # what others see now
    with db.unit_of_work() as s:
        alice = s.get(User, world["agent_id"])
        assert alice is not None and alice.dnd is True
    dnd = _commands("dnd")[-1]
    assert dnd.node == NODE and dnd.params["on"] is True and dnd.params["extension"] == "1001"
    # every queue paused on the PBX while DND is on
    assert {q["extension"]: q["paused"] for q in dnd.params["queues"]} == {"700": True, "710": True}
    assert agent_client.post("/portal/status/", data={"dnd": "off"}).status_code == 302
    assert _commands("dnd")[-1].params["on"] is False


def test_me_api_status_and_queues(app, world) -> None:  # type: ignore[no-untyped-def]
    api = ApiClient(app.test_client(), make_token(world["agent_email"]))
    me = api.get("/api/v1/me").get_json()
    assert me["dnd"] is False and me["presence"] == "available"
    assert {q["name"]: q["active"] for q in me["queues"]} == {"Helpdesk": True, "Sales": True}
    off = api.put(f"/api/v1/me/queues/{world['sales']}", json={"active": False})
    assert off.status_code == 200, off.get_json()
    assert off.get_json() == {
        "queue_id": world["sales"],
        "name": "Sales",
        "extension": "710",
        "active": False,
    }
    assert not _active(world["sales"], world["agent_id"]) and _active(world["helpdesk"], world["agent_id"])
    assert api.get("/api/v1/me/queues").get_json()[1]["active"] is False
    bad = api.put(f"/api/v1/me/queues/{world['sales']}", json={"active": "yes"})
    assert bad.status_code == 422 and "active" in bad.get_json()["errors"]
    changed = api.patch("/api/v1/me", json={"dnd": True})
    assert changed.status_code == 200 and changed.get_json()["dnd"] is True
    assert changed.get_json()["presence"] == "unavailable"
    assert _commands("dnd")[-1].params["on"] is True
    # bob's membership is not alice's to change
    with db.unit_of_work() as s:
        billing = queues.create_queue(
            s,
            world["tenant_id"],
            {"name": "Billing", "extension": "720", "members": [{"user_id": world["bob_id"]}]},
            None,
        )
        billing_id = billing.id
    assert api.put(f"/api/v1/me/queues/{billing_id}", json={"active": False}).status_code == 404
    assert _active(billing_id, world["bob_id"])
