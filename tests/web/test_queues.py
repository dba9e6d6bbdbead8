from __future__ import annotations

import re

from control.models import AuditLog, Queue, QueueMember, User


def _queue_form(**overrides: object) -> dict:
    form = {
        "name": "Billing",
        "extension": "710",
        "strategy": "round_robin",
        "wrap_up_time": "30",
        "max_wait": "600",
        "ring_timeout": "20",
        "fallback_kind": "",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def _error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return match.group(1) if match else ""


def _uid(session, extension: str) -> int:
    return session.query(User).filter_by(extension=extension).one().id


def _helpdesk(session) -> Queue:
    return session.query(Queue).filter_by(extension="700").one()


def test_list_searches_sorts_and_counts_active_members(admin_client, session, demo):
    form = _queue_form(name="Billing", extension="710")
    assert admin_client.post("/queues/new", data=form).status_code == 302
    page = admin_client.get("/queues/").data.decode()
    helpdesk = re.search(r'<tr id="queue-\d+">.*?Helpdesk</a>.*?</tr>', page, re.S).group(0)
    assert "3 members, 2 active" in helpdesk and "Longest idle agent" in helpdesk
    assert page.index(">Helpdesk</a>") < page.index(">Billing</a>")
    page = admin_client.get("/queues/?sort=-extension").data.decode()
    assert page.index(">Billing</a>") < page.index(">Helpdesk</a>")
    page = admin_client.get("/queues/?q=bill").data.decode()
    assert "Billing" in page and "Helpdesk" not in page
    page = admin_client.get("/queues/?strategy=longest_idle").data.decode()
    assert "Helpdesk" in page and "Billing" not in page
    assert admin_client.get("/queues/?sort=wrap_up_time").status_code == 400


def test_create_with_members_and_fallback(admin_client, session, demo):
    dan, erin = _uid(session, "1004"), _uid(session, "1005")
    before = session.query(Queue).count()
    form = _queue_form(
        fallback_kind="user",
        fallback_target=str(demo["admin_id"]),
        **{
            "members-0-user_id": str(dan),
            "members-0-active": "on",
            "members-1-user_id": str(erin),
            "members-2-user_id": "",  # an added row left empty is dropped
        },
    )
    response = admin_client.post("/queues/new", data=form)
    assert response.status_code == 302, response.data[:3000]
    queue = session.query(Queue).filter_by(extension="710").one()
    assert (queue.name, queue.strategy, queue.wrap_up_time, queue.max_wait, queue.ring_timeout) == (
        "Billing",
        "round_robin",
        30,
        600,
        20,
    )
    assert (queue.fallback_kind, queue.fallback_user_id) == ("user", demo["admin_id"])
    assert [(m.user_id, m.active, m.position) for m in queue.members] == [(dan, True, 0), (erin, False, 1)]
    assert session.query(Queue).count() == before + 1


def test_edit_replaces_members_and_keeps_unchanged_ones(admin_client, session, demo):
    helpdesk = _helpdesk(session)
    page = admin_client.get(f"/queues/{helpdesk.id}").data.decode()
    assert "Receiving calls from this queue" in page and "Not receiving calls from this queue" in page
    alice, carol, erin = _uid(session, "1001"), _uid(session, "1003"), _uid(session, "1005")
    form = _queue_form(
        name="Helpdesk",
        extension="700",
        strategy="ring_all",
        **{
            "members-0-user_id": str(carol),
            "members-0-active": "on",
            "members-1-user_id": str(alice),
            "members-2-user_id": str(erin),
            "members-2-active": "on",
        },
    )
    assert admin_client.post(f"/queues/{helpdesk.id}", data=form).status_code == 302
    session.expire_all()
    queue = session.get(Queue, helpdesk.id)
    assert queue.strategy == "ring_all"
    assert [(m.user_id, m.active) for m in queue.members] == [(carol, True), (alice, False), (erin, True)]


def test_member_toggle_switches_presence_in_place(admin_client, session, demo):
    helpdesk_id = _helpdesk(session).id
    carol = _uid(session, "1003")
    response = admin_client.post(
        f"/queues/{helpdesk_id}/members/{carol}/active", data={"active": "on"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.data.decode().strip() == "Receiving calls from this queue"
    member = session.query(QueueMember).filter_by(queue_id=helpdesk_id, user_id=carol).one()
    assert member.active is True
    response = admin_client.post(f"/queues/{helpdesk_id}/members/{carol}/active", data={"active": ""})
    assert response.status_code == 302
    session.expire_all()
    assert session.query(QueueMember).filter_by(queue_id=helpdesk_id, user_id=carol).one().active is False
    assert session.query(AuditLog).filter_by(action="queue.member_active").count() == 2
    # Someone who is not a member: 404, nothing created.
    dan = _uid(session, "1004")
    assert (
        admin_client.post(f"/queues/{helpdesk_id}/members/{dan}/active", data={"active": "on"}).status_code
        == 404
    )
    assert session.query(QueueMember).filter_by(queue_id=helpdesk_id, user_id=dan).count() == 0


def test_saved_member_switch_posts_only_its_state(admin_client, session, demo):
    helpdesk = _helpdesk(session)
    alice = _uid(session, "1001")
    page = admin_client.get(f"/queues/{helpdesk.id}").data.decode()
    switch = re.search(r'<input type="checkbox" name="members-0-active"[^>]*>', page, re.S).group(0)
    assert f'hx-post="/queues/{helpdesk.id}/members/{alice}/active"' in switch
    assert 'hx-params="active"' in switch and "checked" in switch


def test_bad_input_shows_messages_and_saves_nothing(admin_client, session, demo):
    before = (session.query(Queue).count(), session.query(QueueMember).count())
    alice = str(_uid(session, "1001"))
    no_extension = users_without_extension(session, demo)
    cases = [
        (_queue_form(name=""), "name", "This field is required."),
        (_queue_form(name="q" * 10_000), "name", "At most 120 characters (got 10000)."),
        (
            _queue_form(extension="1002"),
            "extension",
            "Extension 1002 is already used by the user “Bob Baker”.",
        ),
        (
            _queue_form(extension="600"),
            "extension",
            "Extension 600 is already used by the ring group “Support”.",
        ),
        (_queue_form(max_wait="5"), "max_wait", "Enter a number from 10 to 86400."),
        (
            _queue_form(strategy="everyone"),
            "strategy",
            "Choose one of: ring_all, longest_idle, round_robin, fewest_calls, random, linear.",
        ),
        (
            _queue_form(**{"members-0-user_id": alice, "members-1-user_id": alice}),
            "members-1-user_id",
            "Alice Agent is listed twice.",
        ),
        (
            _queue_form(**{"members-0-user_id": "424242"}),
            "members-0-user_id",
            "Choose a user of this tenant.",
        ),
        (
            _queue_form(**{"members-0-user_id": str(no_extension)}),
            "members-0-user_id",
            "Nora Noext has no extension.",
        ),
        (
            _queue_form(fallback_kind="external", fallback_target="+1 555"),
            "fallback_target",
            "“+1 555” is not a valid phone number.",
        ),
    ]
    for form, field, message in cases:
        response = admin_client.post("/queues/new", data=form)
        assert response.status_code == 400, message
        assert _error(response.data.decode(), field) == message, (field, response.data.decode()[-3000:])
    session.expire_all()
    assert (session.query(Queue).count(), session.query(QueueMember).count()) == before


def users_without_extension(session, demo) -> int:
    from control.db import unit_of_work
    from control.services import users

    with unit_of_work() as s:
        user = users.create_user(
            s,
            demo["tenant_id"],
            {
                "name": "Nora Noext",
                "email": "nora@acme.example",
                "role": "agent",
                "password": "long-enough-pw",
            },
            None,
        )
        return user.id


def test_delete_in_use_shows_lines_then_deletes(admin_client, session, demo):
    helpdesk_id = _helpdesk(session).id
    response = admin_client.post(f"/queues/{helpdesk_id}/delete")
    assert response.status_code == 409
    details = re.search(r'<ul id="conflict-details">(.*?)</ul>', response.data.decode(), re.S).group(1)
    assert "<li>line Main line</li>" in details
    assert session.get(Queue, helpdesk_id) is not None
    assert admin_client.post("/queues/new", data=_queue_form()).status_code == 302
    billing_id = session.query(Queue).filter_by(extension="710").one().id
    assert admin_client.post(f"/queues/{billing_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(Queue, billing_id) is None


def test_agent_gets_403(agent_client, session, demo):
    helpdesk_id = _helpdesk(session).id
    alice = demo["agent_id"]
    assert agent_client.get("/queues/").status_code == 403
    assert agent_client.post("/queues/new", data=_queue_form()).status_code == 403
    response = agent_client.post(f"/queues/{helpdesk_id}/members/{alice}/active", data={"active": ""})
    assert response.status_code == 403
    session.expire_all()
    assert session.query(QueueMember).filter_by(queue_id=helpdesk_id, user_id=alice).one().active is True
    assert session.query(Queue).count() == 1
