from __future__ import annotations

import re

from control.db import unit_of_work
from control.models import AuditLog, Line, PhoneNumber, Queue, RingGroup, User
from control.services import lines, numbers


def _line(session, name: str) -> Line:
    return session.query(Line).filter_by(name=name).one()


def _number(session, e164: str) -> PhoneNumber:
    return session.query(PhoneNumber).filter_by(e164=e164).one()


def test_create_line_to_a_user_with_numbers(admin_client, session, demo):
    toll_free = _number(session, "+18005550199")
    form = {
        "name": "Hotline",
        "destination_kind": "user",
        "destination_target": str(demo["agent_id"]),
        "number_ids": [str(toll_free.id)],
    }
    assert admin_client.post("/lines/new", data=form).status_code == 302
    line = _line(session, "Hotline")
    assert line.status == "active" and line.destination_kind == "user"
    assert line.destination_user_id == demo["agent_id"]
    assert [n.e164 for n in line.numbers] == ["+18005550199"]
    assert line.default_caller_id_id is None


def test_create_line_to_an_external_number_and_an_extension(admin_client, session, demo):
    form = {"name": "Forward", "destination_kind": "external", "destination_target": "(646) 555-0190"}
    assert admin_client.post("/lines/new", data=form).status_code == 302
    assert _line(session, "Forward").destination_value == "+16465550190"
    form = {"name": "To reception", "destination_kind": "extension", "destination_target": "1003"}
    assert admin_client.post("/lines/new", data=form).status_code == 302
    assert _line(session, "To reception").destination_value == "1003"
    assert (
        admin_client.post("/lines/new", data={"name": "Closed", "destination_kind": "hangup"}).status_code
        == 302
    )
    assert _line(session, "Closed").destination_kind == "hangup"


def test_bad_input_shows_messages_and_saves_nothing(admin_client, session, demo):
    before = session.query(Line).count()
    released = _number(session, "+18005550199")
    with unit_of_work() as s:
        numbers.release_number(s, demo["tenant_id"], released.id, None)
    cases = [
        ({"name": "", "destination_kind": "hangup"}, "name", "This field is required."),
        ({"name": "x" * 10_000, "destination_kind": "hangup"}, "name", "At most 120 characters"),
        ({"name": "No route"}, "destination_kind", "Choose where calls go."),
        ({"name": "Bad kind", "destination_kind": "voicemail"}, "destination_kind", "Choose one of:"),
        (
            {"name": "Nobody", "destination_kind": "user", "destination_target": ""},
            "destination_target",
            "Choose a user.",
        ),
        (
            {"name": "Ghost", "destination_kind": "queue", "destination_target": "999999"},
            "destination_target",
            "Choose a queue.",
        ),
        (
            {"name": "Bad ext", "destination_kind": "extension", "destination_target": "12ab"},
            "destination_target",
            "An extension is 2 to 8 digits.",
        ),
        (
            {"name": "Bad phone", "destination_kind": "external", "destination_target": "+1 555"},
            "destination_target",
            "is not a valid phone number.",
        ),
        (
            {"name": "Released", "destination_kind": "hangup", "number_ids": [str(released.id)]},
            "number_ids",
            "A released number cannot be put on a line.",
        ),
        (
            {"name": "Stranger", "destination_kind": "hangup", "number_ids": ["999999"]},
            "number_ids",
            "Choose numbers of this tenant.",
        ),
    ]
    for form, field, message in cases:
        response = admin_client.post("/lines/new", data=form)
        page = response.data.decode()
        assert response.status_code == 400, message
        assert re.search(rf'<p class="error" id="{field}-error">[^<]*{re.escape(message)}', page), message
    assert session.query(Line).count() == before


def test_failed_edit_moves_no_number(admin_client, session, demo):
    main = _line(session, "Main line")
    support = _line(session, "Support line")
    toll_free = _number(session, "+18005550199")
    form = {
        "name": "",
        "destination_kind": "ring_group",
        "destination_target": str(support.destination_ring_group_id),
        "number_ids": [str(n.id) for n in main.numbers],
    }
    response = admin_client.post(f"/lines/{support.id}", data=form | {"number_ids": [str(toll_free.id)]})
    assert response.status_code == 400
    session.expire_all()
    assert _line(session, "Support line").numbers == []
    assert _number(session, "+18005550199").line_id is None
    assert len(_line(session, "Main line").numbers) == 2


def test_default_caller_id_is_offered_only_with_two_or_more_numbers(admin_client, session, demo):
    main = _line(session, "Main line")
    support = _line(session, "Support line")
    assert len(main.numbers) == 2 and support.numbers == []
    page = admin_client.get(f"/lines/{main.id}").data.decode()
    caller = re.search(r'<select id="default_caller_id_id".*?</select>', page, re.S)
    assert caller and "+12125550100" in caller.group(0) and "+12125550101" in caller.group(0)
    assert 'id="default_caller_id_id"' not in admin_client.get(f"/lines/{support.id}").data.decode()
    assert 'id="default_caller_id_id"' not in admin_client.get("/lines/new").data.decode()
    with unit_of_work() as s:
        lines.update_line(
            s, demo["tenant_id"], support.id, {"number_ids": [_number(s, "+18005550199").id]}, None
        )
    assert 'id="default_caller_id_id"' not in admin_client.get(f"/lines/{support.id}").data.decode()


def test_set_default_caller_id_and_reject_a_foreign_one(admin_client, session, demo):
    main = _line(session, "Main line")
    second = _number(session, "+12125550101")
    form = {
        "name": "Main line",
        "destination_kind": "queue",
        "destination_target": str(main.destination_queue_id),
        "number_ids": [str(n.id) for n in main.numbers],
        "default_caller_id_id": str(second.id),
    }
    assert admin_client.post(f"/lines/{main.id}", data=form).status_code == 302
    session.expire_all()
    assert _line(session, "Main line").default_caller_id_id == second.id
    foreign = _number(session, "+18005550199")
    response = admin_client.post(f"/lines/{main.id}", data=form | {"default_caller_id_id": str(foreign.id)})
    assert response.status_code == 400
    assert "The default caller ID must be one of the line&#39;s numbers." in response.data.decode()
    session.expire_all()
    assert _line(session, "Main line").default_caller_id_id == second.id


def test_saving_a_line_without_the_default_select_clears_numbers_and_default(admin_client, session, demo):
    main = _line(session, "Main line")
    form = {
        "name": "Main line",
        "destination_kind": "queue",
        "destination_target": str(main.destination_queue_id),
    }
    assert admin_client.post(f"/lines/{main.id}", data=form).status_code == 302
    session.expire_all()
    main = _line(session, "Main line")
    assert main.numbers == [] and main.default_caller_id_id is None
    assert _number(session, "+12125550100").line_id is None


def test_edit_page_prefills_destination_select(admin_client, session, demo):
    main = _line(session, "Main line")
    helpdesk = session.query(Queue).filter_by(name="Helpdesk").one()
    page = admin_client.get(f"/lines/{main.id}").data.decode()
    target = re.search(r'<select id="destination_target".*?</select>', page, re.S).group(0)
    assert f'<option value="{helpdesk.id}" selected>Helpdesk (700)</option>' in target
    assert '<option value="queue" selected>' in page


def test_destination_target_partial_follows_the_kind(admin_client, session, demo):
    group = session.query(RingGroup).filter_by(name="Sales hunt").one()
    page = admin_client.get("/lines/destination-target?destination_kind=ring_group").data.decode()
    assert f'<option value="{group.id}"' in page and "Sales hunt (601)" in page
    assert "<html" not in page
    users_page = admin_client.get("/lines/destination-target?destination_kind=user").data.decode()
    assert "Alice Agent (1001)" in users_page
    external = admin_client.get("/lines/destination-target?destination_kind=external").data.decode()
    assert 'type="tel"' in external and "<select" not in external
    hangup = admin_client.get("/lines/destination-target?destination_kind=hangup").data.decode()
    assert 'type="hidden" name="destination_target"' in hangup


def test_status_tabs_counts_and_pause_activate(admin_client, session, demo):
    support = _line(session, "Support line")
    page = admin_client.get("/lines/").data.decode()
    assert 'Active <span class="count">2</span>' in page and 'Paused <span class="count">0</span>' in page
    assert admin_client.post(f"/lines/{support.id}/pause").status_code == 302
    session.expire_all()
    assert _line(session, "Support line").status == "paused"
    page = admin_client.get("/lines/").data.decode()
    assert 'Active <span class="count">1</span>' in page and 'Paused <span class="count">1</span>' in page
    paused = admin_client.get("/lines/?status=paused").data.decode()
    assert "Support line" in paused and "Main line" not in paused
    admin_client.post(f"/lines/{support.id}/activate")
    session.expire_all()
    assert _line(session, "Support line").status == "active"
    actions = [a.action for a in session.query(AuditLog).filter_by(target_id=support.id, target_type="Line")]
    assert "line.pause" in actions and "line.activate" in actions


def test_search_and_sort(admin_client, demo):
    page = admin_client.get("/lines/?q=SUPP").data.decode()
    assert "Support line" in page and "Main line" not in page
    rows = admin_client.get("/lines/?sort=-name").data.decode()
    rows = rows[rows.index("<tbody>") :]
    assert rows.index("Support line") < rows.index("Main line")
    assert admin_client.get("/lines/?sort=destination_value").status_code == 400


def test_duplicate_copies_settings_never_numbers(admin_client, session, demo):
    main = _line(session, "Main line")
    response = admin_client.post(f"/lines/{main.id}/duplicate")
    assert response.status_code == 302
    copy = _line(session, "Main line (copy)")
    assert response.headers["Location"].endswith(f"/lines/{copy.id}")
    assert copy.destination_kind == "queue" and copy.destination_queue_id == main.destination_queue_id
    assert copy.status == main.status
    assert copy.numbers == [] and copy.default_caller_id_id is None
    session.expire_all()
    assert len(_line(session, "Main line").numbers) == 2


def test_delete_line_unassigns_its_numbers(admin_client, session, demo):
    main = _line(session, "Main line")
    number_ids = [n.id for n in main.numbers]
    assert admin_client.post(f"/lines/{main.id}/delete").status_code == 302
    session.expire_all()
    assert session.query(Line).filter_by(name="Main line").count() == 0
    assert all(session.get(PhoneNumber, i).line_id is None for i in number_ids)


def test_list_shows_destination_and_numbers(admin_client, demo):
    page = admin_client.get("/lines/").data.decode()
    assert "queue: Helpdesk" in page and "ring group: Support" in page
    assert '+12125550100 <span class="badge">caller ID</span>' in page


def test_agents_get_403(agent_client, session, demo):
    main = _line(session, "Main line")
    assert agent_client.get("/lines/").status_code == 403
    assert agent_client.post(f"/lines/{main.id}/pause").status_code == 403
    assert agent_client.post(f"/lines/{main.id}/duplicate").status_code == 403
    assert agent_client.post(f"/lines/{main.id}/delete").status_code == 403
    session.expire_all()
    assert session.query(Line).count() == 2 and _line(session, "Main line").status == "active"


def test_user_destination_is_cleared_when_user_is_deleted(admin_client, session, demo):
    form = {"name": "Alice direct", "destination_kind": "user", "destination_target": str(demo["agent_id"])}
    admin_client.post("/lines/new", data=form)
    page = admin_client.get("/lines/").data.decode()
    assert "user: Alice Agent" in page
    alice = session.get(User, demo["agent_id"])
    assert admin_client.post(f"/users/{alice.id}/delete", data={"acknowledged": "on"}).status_code == 302
    assert "Alice direct" in admin_client.get("/lines/").data.decode()
    session.expire_all()
    assert _line(session, "Alice direct").destination_user_id is None
