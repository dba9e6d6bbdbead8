"""Issue 9 against the real PBX, on each PBX kind (the `pbx` fixture): commands from the API
reach the live PBX through the listener's own control connection (AMI or ESL), and sipp counts
what arrives.

One world per module and PBX kind (tests/integration/events_world.py): users 1001 Ann (answers),
1002 Ben (never answers), 1003 Cat; lines A (Ann), B (Ben), C (ring group 600: Ann + Ben); queue
700 (Ann); a sipp trunk that answers. `switchboard listen` runs with its command executor.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control import db
from control.models import Command
from control.services import numbers
from tests.integration.events_world import (
    DOMAIN,
    LINE_B,
    OUTSIDE_NUMBER,
    Api,
    EventsWorld,
    admin_api,
    events_world,
    read,
    wait_for,
)
from tests.integration.pbx_kinds import Pbx

pytestmark = pytest.mark.integration

DO_NOT_USE = "+12125550150"


@pytest.fixture(scope="module")
def world(pbx_database_url: str, pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsWorld]:
    with events_world(pbx_database_url, pbx, tmp_path_factory.mktemp(f"commands-{pbx.kind}")) as built:
        with db.unit_of_work() as s:
            numbers.create_number(s, built.tenant_id, {"number": DO_NOT_USE, "do_not_use": True}, None)
        built.register("1001", answer_after=0.3)
        yield built


@pytest.fixture(scope="module")
def api(world: EventsWorld) -> Api:
    return admin_api("commands")


def _command(command_id: int) -> Command:
    return read(lambda s: s.get(Command, command_id))


def _finished(command_id: int, timeout: float = 15.0) -> Command:
    return wait_for(
        f"command {command_id} to finish",
        lambda: (c := _command(command_id)) and c.state in ("ok", "failed", "unknown") and c,
        timeout,
    )


def _registered(world: EventsWorld, extension: str) -> None:
    world.wait_registered(extension, timeout=10)


def test_click_to_call_rings_the_user_then_dials_the_target_with_the_chosen_caller_id(
    world: EventsWorld, api: Api
) -> None:
    _registered(world, "1001")
    ann = world.phones["1001"]
    invites, trunk_invites = len(ann.invites()), len(world.trunk.invites())
    answer = api.post(
        "/api/v1/calls", {"user_id": world.user_id("1001"), "target": OUTSIDE_NUMBER, "caller_id": LINE_B}
    )
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["kind"] == "originate" and body["state"] == "queued" and body["created_at"].endswith("Z")
    command = _finished(body["id"])
    assert command.state == "ok", command.answer
    assert world.pbx.originate_accepted(command.answer), command.answer
    ann.wait_for_invites(invites + 1)
    trunk_at = world.trunk.wait_for_invites(trunk_invites + 1, timeout=15)[-1]
    assert ann.invites()[-1] < trunk_at, "the user's phone rings first"
    invite = [m for m in world.trunk.uas.messages() if not m.sent and m.method == "INVITE"][-1]
    assert LINE_B in invite.headers["from"], invite.headers
    assert OUTSIDE_NUMBER in invite.start_line
    wait_for(
        "the command's result on the live stream",
        lambda: any(
            m.data.get("type") == "command"
            and m.data.get("command_id") == body["id"]
            and m.data["state"] == "ok"
            for m in list(world.watch.messages)
        ),
    )
    shown = api.get(f"/api/v1/commands/{body['id']}").get_json()
    assert shown["state"] == "ok" and shown["finished_at"].endswith("Z")
    # both sipp ends hold the call until a BYE: end it on the PBX
    wait_for("the trunk to answer", lambda: any(e.kind == "ANSWER" for e in world.trunk.events()))
    world.pbx.hang_up_all()
    record = world.wait_record(
        "the click-to-call record",
        lambda r: r.callee_number == OUTSIDE_NUMBER and r.answered_at is not None,
        timeout=20,
    )
    assert record.direction == "outbound", record.direction
    assert record.number_used == LINE_B, record.number_used
    assert record.line_id == world.ids["line_b"] and record.caller_user_id == world.user_id("1001")
    items = world.activity(record.id)
    assert any(kind == "outbound" and user == world.user_id("1001") for kind, user, _ in items), items


def test_a_do_not_use_caller_id_is_refused_and_nothing_rings(world: EventsWorld, api: Api) -> None:
    ann = world.phones["1001"]
    invites, trunk_invites = len(ann.invites()), len(world.trunk.invites())
    answer = api.post(
        "/api/v1/calls", {"user_id": world.user_id("1001"), "target": OUTSIDE_NUMBER, "caller_id": DO_NOT_USE}
    )
    assert answer.status_code == 422
    assert "caller_id" in answer.get_json()["errors"]
    bad_target = api.post("/api/v1/calls", {"user_id": world.user_id("1001"), "target": "+1555"})
    assert bad_target.status_code == 422 and "target" in bad_target.get_json()["errors"]
    no_phone = api.post("/api/v1/calls", {"user_id": world.user_id("1002"), "target": OUTSIDE_NUMBER})
    assert no_phone.status_code == 409 and no_phone.get_json()["message"] == "no registered phone"
    # a later command goes through, so nothing earlier was merely slow
    later = api.post("/api/v1/calls", {"user_id": world.user_id("1001"), "target": "1003"})
    assert later.status_code == 202
    assert _finished(later.get_json()["id"]).state == "ok"
    ann.wait_for_invites(invites + 1)
    assert len(ann.invites()) == invites + 1
    assert len(world.trunk.invites()) == trunk_invites


def test_a_cut_connection_during_an_originate_rings_once_and_is_never_resent(
    world: EventsWorld, api: Api
) -> None:
    """The AMI's answers are held back, the Originate reaches Asterisk and rings Ann, then the
    listener's connection is cut before the answer: the command ends unknown (or ok), the
    listener reconnects, and Ann's phone saw exactly one INVITE."""
    ann = world.phones["1001"]
    invites = len(ann.invites())
    resyncs = world.listener.count("resynced after connect")
    world.control_proxy.hold_replies()
    answer = api.post("/api/v1/calls", {"user_id": world.user_id("1001"), "target": "1003"})
    assert answer.status_code == 202
    command_id = answer.get_json()["id"]
    ann.wait_for_invites(invites + 1)
    wait_for("the command to be sending", lambda: _command(command_id).state == "sending")
    assert world.control_proxy.drop() == 1
    world.control_proxy.release_replies()
    command = _finished(command_id)
    assert command.state in ("unknown", "ok"), (command.state, command.answer)
    world.listener.wait_log("resynced after connect", resyncs + 1)
    # one more command over the new connection: it is sent, the old one is not re-sent
    follow = api.post("/api/v1/calls", {"user_id": world.user_id("1001"), "target": "1003"})
    assert _finished(follow.get_json()["id"]).state == "ok"
    ann.wait_for_invites(invites + 2)
    assert len(ann.invites()) == invites + 2, "exactly one INVITE per command"


def _calls_reaching_ann(world: EventsWorld) -> dict[str, int]:
    """A direct call, a ring-group call and a queue call; how many INVITEs each brought Ann."""
    ann, ben = world.phones["1001"], world.phones["1002"]
    reached: dict[str, int] = {}
    before = len(ann.invites())
    direct = world.sipp.call(
        "1001", caller="1003", password=world.secrets["1003"], cancel_after=1.0, timeout=20
    )
    reached["direct"] = len(ann.invites()) - before
    reached["direct_code"] = direct.final_code or 0
    before, ben_before = len(ann.invites()), len(ben.invites())
    world.sipp.call("600", caller="1003", password=world.secrets["1003"], cancel_after=1.0, timeout=20)
    ben.wait_for_invites(ben_before + 1)
    reached["group"] = len(ann.invites()) - before
    before = len(ann.invites())
    # the queue offers no call to a member still ringing from the last one (ringinuse=no)
    wait_for("Ann's phone idle again", lambda: world.pbx.queue_member_idle("700", "1001", DOMAIN), timeout=30)
    world.sipp.call("700", caller="1003", password=world.secrets["1003"], cancel_after=2.0, timeout=20)
    reached["queue"] = len(ann.invites()) - before
    return reached


def _ringing_phones(world: EventsWorld) -> None:
    """From here on Ann's and Ben's phones ring until the caller gives up: a call counts as
    reaching Ann by her INVITE, and nothing stays up between calls."""
    if world.phones["1001"].uas.running():
        world.phones["1001"].close()
        world.register("1001", answer_after=None)
        # whatever the earlier scenarios left ringing at the old phone ends here
        world.pbx.hang_up_all()
        wait_for("no channel up", world.pbx.no_calls)
    if "1002" not in world.phones:
        world.register("1002", answer_after=None)
    _registered(world, "1002")


def test_do_not_disturb_applies_at_once_and_survives_a_deploy(world: EventsWorld, api: Api) -> None:
    from tests.integration.events_world import deploy

    _ringing_phones(world)
    ann = world.user_id("1001")
    deploys_before = world.pbx.sandbox.live_version()
    since = world.watch.mark()
    on = api.put(f"/api/v1/users/{ann}/dnd", {"dnd": True})
    assert on.status_code == 200, on.get_json()
    assert on.get_json()["dnd"] is True and on.get_json()["presence"] == "unavailable"
    (command,) = on.get_json()["commands"]
    assert _finished(command["id"]).state == "ok", _command(command["id"]).answer
    world.watch.wait_presence(ann, "unavailable", since)
    reached = _calls_reaching_ann(world)
    assert reached == {"direct": 0, "direct_code": 486, "group": 0, "queue": 0}, reached

    off = api.put(f"/api/v1/users/{ann}/dnd", {"dnd": False})
    assert _finished(off.get_json()["commands"][0]["id"]).state == "ok"
    world.watch.wait_presence(ann, "available", since)
    reached = _calls_reaching_ann(world)
    assert reached["direct"] == 1 and reached["direct_code"] == 487, reached
    assert reached["group"] == 1 and reached["queue"] == 1, reached
    assert world.pbx.sandbox.live_version() == deploys_before, "no deploy in between"

    on = api.put(f"/api/v1/users/{ann}/dnd", {"dnd": True})
    assert _finished(on.get_json()["commands"][0]["id"]).state == "ok"
    deploy(world.node_id)
    reached = _calls_reaching_ann(world)
    assert reached == {"direct": 0, "direct_code": 486, "group": 0, "queue": 0}, reached
    off = api.put(f"/api/v1/users/{ann}/dnd", {"dnd": False})
    assert _finished(off.get_json()["commands"][0]["id"]).state == "ok"
    bad = api.put(f"/api/v1/users/{ann}/dnd", {"dnd": "yes"})
    assert bad.status_code == 422 and "dnd" in bad.get_json()["errors"]


def test_queue_presence_applies_at_once_and_survives_a_deploy_and_a_restart(
    world: EventsWorld, api: Api
) -> None:
    from tests.integration.events_world import deploy

    _ringing_phones(world)
    ann, queue = world.user_id("1001"), world.ids["700"]
    phone = world.phones["1001"]
    answer = api.put(f"/api/v1/queues/{queue}/members/{ann}", {"active": False})
    assert answer.status_code == 200, answer.get_json()
    command = wait_for("the queue pause command", lambda: _last_command("queue_pause"))
    assert _finished(command.id).state == "ok", _command(command.id).answer
    before = len(phone.invites())
    world.sipp.call("700", caller="1003", password=world.secrets["1003"], cancel_after=2.0, timeout=20)
    assert len(phone.invites()) == before, "an inactive member is not offered the queue's calls"
    # the next deploy renders the same state, and the PBX holds it again after a restart
    deploy(world.node_id)
    world.sipp.call("700", caller="1003", password=world.secrets["1003"], cancel_after=2.0, timeout=20)
    assert len(phone.invites()) == before, "still inactive after a deploy"
    _restart(world)
    before = len(phone.invites())
    world.sipp.call("700", caller="1003", password=world.secrets["1003"], cancel_after=2.0, timeout=20)
    assert len(phone.invites()) == before, "still inactive after the PBX restarted"
    answer = api.put(f"/api/v1/queues/{queue}/members/{ann}", {"active": True})
    command = wait_for(
        "the unpause command", lambda: (c := _last_command("queue_pause")) and c.id != command.id and c
    )
    assert _finished(command.id).state == "ok"
    world.sipp.call("700", caller="1003", password=world.secrets["1003"], cancel_after=2.0, timeout=20)
    assert len(phone.invites()) == before + 1


#: what the listener logs once the model's DND and queue state is back on the PBX, all accepted
RESTORED = "users (0 refused)"


def _restart(world: EventsWorld) -> None:
    """The PBX restarts; the listener reconnects and puts the model's state back; the phones
    register again."""
    restored = world.listener.count(RESTORED)
    world.pbx.sandbox.restart()
    world.listener.wait_log(RESTORED, restored + 1, timeout=60)
    for extension in ("1001", "1002"):
        assert world.phones[extension].register() == 200


def _last_command(kind: str) -> Command | None:
    from sqlalchemy import select

    return read(lambda s: s.scalar(select(Command).where(Command.kind == kind).order_by(Command.id.desc())))


TRICKY = 'Grüße, «Zoë» said "hi", $5 ${EXTEN} $[1+1] ;x=1 \\ done. 漢字 '


def test_a_text_reaches_the_trunk_with_the_exact_body(world: EventsWorld, api: Api) -> None:
    body = (TRICKY * 40)[: 1600 - 2] + "\n!"
    assert len(body) == 1600
    received = len(world.trunk.texts())
    since = world.watch.mark()
    answer = api.post(
        "/api/v1/messages", {"line_id": world.ids["line_a"], "to": OUTSIDE_NUMBER, "body": body}
    )
    assert answer.status_code == 202, answer.get_json()
    command = _finished(answer.get_json()["id"])
    assert command.state == "ok", command.answer
    texts = world.trunk.wait_for_texts(received + 1)
    assert texts[-1] == body
    wait_for("the sent text on the line's activity", lambda: world.watch.activity_ids(since))
    # the Local channel that carried the text is no call: none of its events reach the listener
    leaked = [e for e in world.raw_events() if "switchboard-text-out" in str(e.payload)]
    assert not leaked, [(e.kind, e.payload.get("raw")) for e in leaked]
    too_long = api.post(
        "/api/v1/messages", {"line_id": world.ids["line_a"], "to": OUTSIDE_NUMBER, "body": body + "x"}
    )
    assert too_long.status_code == 422 and "body" in too_long.get_json()["errors"]


def test_a_text_to_an_extension_reaches_the_phone(world: EventsWorld, api: Api) -> None:
    if "1002" not in world.phones:
        world.register("1002", answer_after=None)
    _registered(world, "1002")
    ben = world.phones["1002"]
    received = len(ben.texts())
    answer = api.post("/api/v1/messages", {"line_id": world.ids["line_a"], "to": "1002", "body": TRICKY})
    assert answer.status_code == 202, answer.get_json()
    assert _finished(answer.get_json()["id"]).state == "ok"
    assert ben.wait_for_texts(received + 1)[-1] == TRICKY


def test_an_inbound_text_shows_on_the_line_within_a_second(world: EventsWorld) -> None:
    from sqlalchemy import select

    from control.models import ActivityItem, TextMessage
    from tests.integration.events_world import CONTACT_NUMBER, LINE_A

    since = world.watch.mark()
    code = world.outside.send_text(LINE_A, caller=CONTACT_NUMBER, text="Call me back, please: ${EXTEN}")
    assert code in (200, 202), code
    sent_at = __import__("time").time()
    ids = wait_for("the inbound text's live activity", lambda: world.watch.activity_ids(since), timeout=5)
    arrived = next(m.at for m in world.watch.messages[since:] if m.data.get("type") == "activity")
    assert arrived - sent_at < 1.0
    item = read(lambda s: s.get(ActivityItem, ids[-1]))
    assert item.kind == "text" and item.line_id == world.ids["line_a"]
    message = read(lambda s: s.scalar(select(TextMessage).where(TextMessage.id == item.text_message_id)))
    assert message.direction == "inbound" and message.contact_id == world.ids["contact"]
    assert message.body == "Call me back, please: ${EXTEN}"
    assert message.from_number == CONTACT_NUMBER and message.to_number == LINE_A


def _leg_of(api: Api, user_id: int) -> dict:
    def find() -> dict | None:
        legs = api.get("/api/v1/live-calls").get_json()["legs"]
        return next((leg for leg in legs if leg["user_id"] == user_id and leg["answered"]), None)

    return wait_for(f"user {user_id}'s answered leg in /live-calls", find)


def test_hang_up_a_live_call(world: EventsWorld, api: Api) -> None:
    if "1003" not in world.phones:
        world.register("1003", answer_after=0.3)
    _registered(world, "1003")
    call = world.sipp.start_call("1003", caller="1004", password=world.secrets["1004"], hold=30, timeout=40)
    leg = _leg_of(api, world.user_id("1003"))
    answer = api.post(f"/api/v1/live-calls/{leg['id']}/hangup", {})
    assert answer.status_code == 202, answer.get_json()
    assert _finished(answer.get_json()["id"]).state == "ok"
    result = call.wait()
    assert result.answered and result.hung_up_by == "callee", result
    assert result.ended_at - result.answered_at < 10, "ended by the hang-up, not by the caller"
    gone = api.post(f"/api/v1/live-calls/{leg['id']}/hangup", {})
    assert gone.status_code in (202, 404)


def test_blind_transfer_of_a_live_call(world: EventsWorld, api: Api) -> None:
    if "1003" not in world.phones:
        world.register("1003", answer_after=0.3)
    if "1002" not in world.phones:
        world.register("1002", answer_after=None)
    _registered(world, "1002")
    ben = world.phones["1002"]
    invites = len(ben.invites())
    call = world.sipp.start_call("1003", caller="1004", password=world.secrets["1004"], hold=8, timeout=40)
    cat_leg = _leg_of(api, world.user_id("1003"))
    legs = api.get("/api/v1/live-calls").get_json()["legs"]
    caller_leg = next(
        leg for leg in legs if leg["call_key"] == cat_leg["call_key"] and leg["id"] != cat_leg["id"]
    )
    answer = api.post(f"/api/v1/live-calls/{caller_leg['id']}/transfer", {"target": "1002"})
    assert answer.status_code == 202, answer.get_json()
    assert _finished(answer.get_json()["id"]).state == "ok", _command(answer.get_json()["id"]).answer
    ben.wait_for_invites(invites + 1)
    call.wait()


def test_do_not_disturb_and_queue_pauses_survive_a_pbx_restart(world: EventsWorld, api: Api) -> None:
    """Deployed while Ann is available, then DND on live, then the PBX restarts: it comes back
    with the deployed configuration (Ann available: Asterisk's queues.conf unpaused, FreeSWITCH's
    tier and agent status, no live DND entry) and the listener puts the model's state back."""
    from tests.integration.events_world import deploy

    _ringing_phones(world)
    ann = world.user_id("1001")
    deploy(world.node_id)
    on = api.put(f"/api/v1/users/{ann}/dnd", {"dnd": True})
    assert _finished(on.get_json()["commands"][0]["id"]).state == "ok"
    _restart(world)
    reached = _calls_reaching_ann(world)
    assert reached == {"direct": 0, "direct_code": 486, "group": 0, "queue": 0}, reached
    off = api.put(f"/api/v1/users/{ann}/dnd", {"dnd": False})
    assert _finished(off.get_json()["commands"][0]["id"]).state == "ok"
    reached = _calls_reaching_ann(world)
    assert (reached["direct"], reached["group"], reached["queue"]) == (1, 1, 1), reached
