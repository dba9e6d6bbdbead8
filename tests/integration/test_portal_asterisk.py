"""The agent portal against the real Asterisk: Ann turns her queue switch off in the portal and the
next queue call (a sipp caller through the sandbox) does not reach her sipp phone but reaches Ben,
the queue's other member; on again (through /api/v1/me) it reaches her; Do Not Disturb from the
portal's status keeps a direct call from her phone (the caller gets the fallback, busy).

The world is tests/integration/events_world.py's (queue 700 "Help", ring-all), with Ben added to
the queue; Ann's and Ben's phones ring until the caller gives up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control import db
from control.models import Command
from control.services import accounts, queues, users
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.integration.events_world import EventsWorld, deploy, events_world, read, wait_for
from tests.integration.pbx_kinds import Pbx

pytestmark = pytest.mark.integration

ANN_PASSWORD = "ann-portal-password"


@pytest.fixture(scope="module")
def world(
    module_database_url: str, asterisk_sandbox: AsteriskSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EventsWorld]:
    pbx = Pbx("asterisk", asterisk_sandbox)
    with events_world(module_database_url, pbx, tmp_path_factory.mktemp("portal")) as built:
        ann, ben = built.user_id("1001"), built.user_id("1002")
        with db.unit_of_work() as s:
            queues.update_queue(
                s,
                built.tenant_id,
                built.ids["700"],
                {"members": [{"user_id": ann, "active": True}, {"user_id": ben, "active": True}]},
                None,
            )
            users.set_password(s, built.tenant_id, ann, ANN_PASSWORD, None)
        deploy(built.node_id)
        built.register("1001", answer_after=None)
        built.register("1002", answer_after=None)
        yield built


@pytest.fixture(scope="module")
def ann_portal(world: EventsWorld):  # type: ignore[no-untyped-def]
    """Ann logged in to the portal (the app's test client) and her personal API token."""
    from web.app import create_app

    app = create_app({"WTF_CSRF_ENABLED": False})
    client = app.test_client()
    answer = client.post("/login", data={"email": "1001@events.example", "password": ANN_PASSWORD})
    assert answer.status_code == 302, answer.data[:300]
    with db.unit_of_work() as s:
        ann = users.get_user(s, world.tenant_id, world.user_id("1001"))
        token = accounts.create_token(s, ann, "portal test")
    return client, {"Authorization": f"Bearer {token}"}


def _newer_command(kind: str, after: int) -> Command:
    """The next `kind` command after id `after`, once the PBX answered it."""
    from sqlalchemy import select

    def finished() -> Command | None:
        command = read(
            lambda s: s.scalar(
                select(Command).where(Command.kind == kind, Command.id > after).order_by(Command.id.desc())
            )
        )
        return command if command is not None and command.state in ("ok", "failed", "unknown") else None

    command = wait_for(f"the {kind} command answered", finished, 20)
    assert command.state == "ok", command.answer
    return command


def _last_id() -> int:
    from sqlalchemy import func, select

    return read(lambda s: s.scalar(select(func.coalesce(func.max(Command.id), 0))))


def _queue_call(world: EventsWorld) -> dict[str, int]:
    """One call to queue 700 from Cat; how many INVITEs it brought Ann and Ben."""
    ann, ben = world.phones["1001"], world.phones["1002"]
    wait_for(
        "both members registered and idle",
        lambda: world.pbx.sandbox.cli("queue show queue-700").count("Not in use") == 2,
    )
    before = {"ann": len(ann.invites()), "ben": len(ben.invites())}
    world.sipp.call("700", caller="1003", password=world.secrets["1003"], cancel_after=2.5, timeout=25)
    return {"ann": len(ann.invites()) - before["ann"], "ben": len(ben.invites()) - before["ben"]}


def test_queue_switch_off_in_the_portal_then_on_through_the_api(world: EventsWorld, ann_portal) -> None:  # type: ignore[no-untyped-def]
    client, token = ann_portal
    queue = world.ids["700"]
    wait_for(
        "both phones registered",
        lambda: world.pbx.sandbox.cli("queue show queue-700").count("Not in use") == 2,
    )
    assert _queue_call(world) == {"ann": 1, "ben": 1}  # ring-all: both members are offered the call

    mark = _last_id()
    off = client.post(f"/portal/queues/{queue}", data={}, headers={"HX-Request": "true"})
    assert off.status_code == 200 and "no calls from Help" in off.get_data(as_text=True)
    assert _newer_command("queue_pause", mark).params["paused"] is True
    assert _queue_call(world) == {"ann": 0, "ben": 1}, "Ann's switch is off: only Ben is offered the call"

    mark = _last_id()
    on = client.put(f"/api/v1/me/queues/{queue}", json={"active": True}, headers=token)
    assert on.status_code == 200 and on.get_json()["active"] is True, on.get_json()
    assert _newer_command("queue_pause", mark).params["paused"] is False
    assert _queue_call(world) == {"ann": 1, "ben": 1}


def test_dnd_from_the_portal_status(world: EventsWorld, ann_portal) -> None:  # type: ignore[no-untyped-def]
    client, token = ann_portal
    ann = world.phones["1001"]
    mark = _last_id()
    answer = client.post("/portal/status/", data={"dnd": "on"}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "Do Not Disturb" in answer.get_data(as_text=True)
    assert _newer_command("dnd", mark).params["on"] is True
    before = len(ann.invites())
    direct = world.sipp.call(
        "1001", caller="1003", password=world.secrets["1003"], cancel_after=1.5, timeout=20
    )
    assert len(ann.invites()) == before and direct.final_code == 486, direct.final_code  # the fallback: busy
    assert _queue_call(world) == {"ann": 0, "ben": 1}
    me = client.get("/api/v1/me", headers=token).get_json()
    assert me["dnd"] is True and me["presence"] == "unavailable"

    mark = _last_id()
    assert client.post("/portal/status/", data={"dnd": "off"}).status_code == 302
    assert _newer_command("dnd", mark).params["on"] is False
    before = len(ann.invites())
    direct = world.sipp.call(
        "1001", caller="1003", password=world.secrets["1003"], cancel_after=1.5, timeout=20
    )
    assert len(ann.invites()) == before + 1 and direct.final_code == 487  # rang, then the caller gave up
