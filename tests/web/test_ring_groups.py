from __future__ import annotations

import re

from control.models import Line, RingGroup, RingGroupMember, User
from control.validators import SIP_URI


def _group_form(**overrides: object) -> dict:
    form = {
        "name": "Night desk",
        "extension": "650",
        "strategy": "sequential",
        "timeout": "45",
        "fallback_kind": "",
        "fallback_target": "",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def _error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return match.group(1) if match else ""


def _user_id(session, extension: str) -> int:
    return session.query(User).filter_by(extension=extension).one().id


def test_list_searches_filters_sorts_and_counts_members(admin_client):
    page = admin_client.get("/ring-groups/").data.decode()
    support = re.search(r'<tr id="ring-group-\d+">.*?Support</a>.*?</tr>', page, re.S).group(0)
    assert "2 members" in support and "parallel" in support and "user: Ada Admin" in support
    hunt = re.search(r'<tr id="ring-group-\d+">.*?Sales hunt</a>.*?</tr>', page, re.S).group(0)
    assert "3 members" in hunt and "sequential" in hunt
    page = admin_client.get("/ring-groups/?q=601").data.decode()
    assert "Sales hunt" in page and ">Support</a>" not in page
    page = admin_client.get("/ring-groups/?strategy=parallel").data.decode()
    assert ">Support</a>" in page and "Sales hunt" not in page
    page = admin_client.get("/ring-groups/?sort=-extension").data.decode()
    assert page.index("Sales hunt") < page.index(">Support</a>")
    page = admin_client.get("/ring-groups/?sort=extension").data.decode()
    assert page.index(">Support</a>") < page.index("Sales hunt")


def test_sort_accepts_only_allowed_columns(admin_client):
    assert admin_client.get("/ring-groups/?sort=-name").status_code == 200
    response = admin_client.get("/ring-groups/?sort=name;DROP TABLE ring_groups")
    assert response.status_code == 400


def test_create_with_ordered_members_and_fallback(admin_client, session, demo):
    bob, carol = _user_id(session, "1002"), _user_id(session, "1003")
    form = _group_form(
        timeout="105",
        fallback_kind="external",
        fallback_target="(202) 555-0143",
        **{
            "members-0-kind": "user",
            "members-0-target": str(bob),
            "members-0-timeout": "25",
            "members-0-position": "3",
            "members-1-kind": "external",
            "members-1-target": "415 555 0188",
            "members-1-timeout": "40",
            "members-1-position": "1",
            "members-2-kind": "user",
            "members-2-target": str(carol),
            "members-2-position": "",
            "members-3-kind": "sip_uri",
            "members-3-target": "sip:night@example.com",
            "members-3-position": "2",
        },
    )
    response = admin_client.post("/ring-groups/new", data=form)
    assert response.status_code == 302, response.data[:2000]
    group = session.query(RingGroup).filter_by(extension="650").one()
    assert (group.name, group.strategy, group.timeout) == ("Night desk", "sequential", 105)
    assert (group.fallback_kind, group.fallback_value) == ("external", "+12025550143")
    members = [(m.position, m.kind, m.user_id, m.value, m.timeout) for m in group.members]
    assert members == [
        (0, "external", None, "+14155550188", 40),
        (1, "sip_uri", None, "sip:night@example.com", 20),
        (2, "user", bob, None, 25),
        (3, "user", carol, None, 20),
    ]
    page = admin_client.get("/ring-groups/?q=night").data.decode()
    assert "Night desk" in page and "4 members" in page


def test_kind_change_refreshes_the_form_without_saving(admin_client, session, demo):
    before = session.query(RingGroup).count()
    form = _group_form(
        refresh="1",
        fallback_kind="queue",
        **{
            "members-0-kind": "did",
            "members-0-target": "",
            "members-1-kind": "external",
            "members-1-target": "x",
        },
    )
    response = admin_client.post("/ring-groups/new", data=form)
    assert response.status_code == 200
    page = response.data.decode()
    assert '<select id="members-0-target" name="members-0-target"' in page and "+12125550100" in page
    assert '<input id="members-1-target" name="members-1-target" type="tel" value="x"' in page
    assert '<select id="fallback_target" name="fallback_target"' in page and "Helpdesk (700)" in page
    assert 'value="Night desk"' in page and not _error(page, "members-1-target")
    assert session.query(RingGroup).count() == before


def test_bad_input_shows_messages_next_to_fields_and_saves_nothing(admin_client, session, demo):
    before = (session.query(RingGroup).count(), session.query(RingGroupMember).count())
    bob = str(_user_id(session, "1002"))
    ok_member = {"members-0-kind": "user", "members-0-target": bob}
    cases = [
        (_group_form(name="", **ok_member), "name", "This field is required."),
        (_group_form(name="x" * 10_000, **ok_member), "name", "At most 120 characters (got 10000)."),
        (
            _group_form(extension="1001", **ok_member),
            "extension",
            "Extension 1001 is already used by the user “Alice Agent”.",
        ),
        (
            _group_form(extension="700", **ok_member),
            "extension",
            "Extension 700 is already used by the queue “Helpdesk”.",
        ),
        (_group_form(extension="6a", **ok_member), "extension", "An extension is 2 to 8 digits."),
        (
            _group_form(**ok_member, **{"members-1-kind": "external", "members-1-target": "12345"}),
            "members-1-target",
            "“12345” is not a valid phone number.",
        ),
        (
            _group_form(**ok_member, **{"members-1-kind": "sip_uri", "members-1-target": "alice"}),
            "members-1-target",
            SIP_URI.message,
        ),
        (
            _group_form(**ok_member, **{"members-1-kind": "user", "members-1-target": "999999"}),
            "members-1-target",
            "Choose a user of this tenant.",
        ),
        (
            _group_form(**ok_member, **{"members-0-timeout": "0"}),
            "members-0-timeout",
            "Enter a number from 1 to 300.",
        ),
        (
            _group_form(fallback_kind="external", fallback_target="nope", **ok_member),
            "fallback_target",
            "“nope” is not a phone number.",
        ),
    ]
    for form, field, message in cases:
        response = admin_client.post("/ring-groups/new", data=form)
        page = response.data.decode()
        assert response.status_code == 400, message
        assert _error(page, field) == message, (field, _error(page, field))
    session.expire_all()
    assert (session.query(RingGroup).count(), session.query(RingGroupMember).count()) == before


def test_edit_keeps_extension_and_replaces_members(admin_client, session, demo):
    group = session.query(RingGroup).filter_by(extension="600").one()
    page = admin_client.get(f"/ring-groups/{group.id}").data.decode()
    assert "Extensions: not available for editing" in page
    # read-only, and marked so (it is posted back unchanged; the service refuses a changed one)
    field = re.search(r'<input id="extension"[^>]*>', page, re.S).group(0)
    assert 'value="600"' in field and "readonly" in field and 'aria-readonly="true"' in field
    assert 'name="members-1-target"' in page and 'name="members-2-target"' not in page
    dan = str(_user_id(session, "1004"))
    form = {
        "name": "Support desk",
        "strategy": "sequential",
        "timeout": "20",
        "fallback_kind": "hangup",
        "members-0-kind": "user",
        "members-0-target": dan,
        "members-0-timeout": "12",
    }
    # The disabled field is never submitted; a crafted change is refused and nothing is saved.
    response = admin_client.post(f"/ring-groups/{group.id}", data=form | {"extension": "699"})
    assert response.status_code == 400
    assert (
        _error(response.data.decode(), "extension") == "The extension of an existing group cannot be changed."
    )
    session.expire_all()
    assert session.get(RingGroup, group.id).name == "Support"
    assert admin_client.post(f"/ring-groups/{group.id}", data=form).status_code == 302
    session.expire_all()
    group = session.get(RingGroup, group.id)
    assert (group.name, group.extension, group.strategy, group.timeout) == (
        "Support desk",
        "600",
        "sequential",
        20,
    )
    assert group.fallback_kind == "hangup" and group.fallback_user_id is None
    assert [(m.user_id, m.timeout) for m in group.members] == [(int(dan), 12)]


def test_cycle_is_rejected_next_to_the_member(admin_client, session, demo):
    bob = str(_user_id(session, "1002"))
    first = _group_form(name="Alpha", extension="660", **{"members-0-kind": "user", "members-0-target": bob})
    assert admin_client.post("/ring-groups/new", data=first).status_code == 302
    alpha = session.query(RingGroup).filter_by(name="Alpha").one()
    second = _group_form(
        name="Beta", extension="661", **{"members-0-kind": "ring_group", "members-0-target": str(alpha.id)}
    )
    assert admin_client.post("/ring-groups/new", data=second).status_code == 302
    beta = session.query(RingGroup).filter_by(name="Beta").one()
    form = {
        "name": "Alpha",
        "strategy": "parallel",
        "timeout": "30",
        "members-0-kind": "user",
        "members-0-target": bob,
        "members-1-kind": "ring_group",
        "members-1-target": str(beta.id),
    }
    response = admin_client.post(f"/ring-groups/{alpha.id}", data=form)
    assert response.status_code == 400
    page = response.data.decode()
    assert _error(page, "members-1-target") == "This member makes a loop: Alpha → Beta → Alpha."
    assert not _error(page, "members-0-target")
    session.expire_all()
    assert [m.kind for m in session.get(RingGroup, alpha.id).members] == ["user"]
    # The same loop through Beta's extension is caught too.
    form["members-1-kind"], form["members-1-target"] = "extension", "661"
    response = admin_client.post(f"/ring-groups/{alpha.id}", data=form)
    assert _error(response.data.decode(), "members-1-target").startswith("This member makes a loop")


def test_delete_in_use_shows_what_uses_it(admin_client, session, demo):
    support = session.query(RingGroup).filter_by(extension="600").one()
    response = admin_client.post(f"/ring-groups/{support.id}/delete")
    assert response.status_code == 409
    details = re.search(r'<ul id="conflict-details">(.*?)</ul>', response.data.decode(), re.S).group(1)
    assert "<li>ring group Sales hunt</li>" in details and "<li>line Support line</li>" in details
    session.expire_all()
    assert session.get(RingGroup, support.id) is not None
    hunt_id = session.query(RingGroup).filter_by(extension="601").one().id
    assert admin_client.post(f"/ring-groups/{hunt_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(RingGroup, hunt_id) is None
    assert session.query(RingGroupMember).filter_by(ring_group_id=hunt_id).count() == 0
    assert session.query(Line).filter_by(name="Support line").one().destination_ring_group_id == support.id


def test_agent_gets_403(agent_client, session, demo):
    group = session.query(RingGroup).filter_by(extension="600").one()
    assert agent_client.get("/ring-groups/").status_code == 403
    assert agent_client.get(f"/ring-groups/{group.id}").status_code == 403
    assert agent_client.post("/ring-groups/new", data=_group_form()).status_code == 403
    assert agent_client.post(f"/ring-groups/{group.id}/delete").status_code == 403
    session.expire_all()
    assert session.get(RingGroup, group.id) is not None
