from __future__ import annotations

import re

from control.models import Contact, Tag


def _tag(session, name: str) -> Tag:
    return session.query(Tag).filter_by(name=name).one()


def test_create_list_edit_delete_tag(admin_client, session, demo):
    assert admin_client.post("/tags/new", data={"name": "Churn risk", "color": "#dc2626"}).status_code == 302
    tag = _tag(session, "Churn risk")
    tag_id = tag.id
    assert tag.color == "#dc2626"
    page = admin_client.get("/tags/?q=churn").data.decode()
    assert "Churn risk" in page and "Partner" not in page and 'style="background: #dc2626"' in page
    assert admin_client.get(f"/tags/{tag.id}").status_code == 200
    response = admin_client.post(f"/tags/{tag.id}", data={"name": "At risk", "color": "#b91c1c"})
    assert response.status_code == 302
    session.expire_all()
    tag = session.get(Tag, tag.id)
    assert (tag.name, tag.color) == ("At risk", "#b91c1c")
    assert admin_client.post(f"/tags/{tag_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(Tag, tag_id) is None


def test_deleting_a_tag_removes_it_from_contacts(admin_client, session, demo):
    vip = _tag(session, "VIP")
    grace = session.query(Contact).filter_by(first_name="Grace").one()
    assert [t.name for t in grace.tags] == ["VIP"]
    assert admin_client.post(f"/tags/{vip.id}/delete").status_code == 302
    session.expire_all()
    assert session.query(Contact).filter_by(first_name="Grace").one().tags == []


def test_bad_input_shows_messages_and_saves_nothing(admin_client, session, demo):
    before = session.query(Tag).count()
    cases = [
        ({"name": "", "color": "#000000"}, "name", "This field is required."),
        ({"name": "x" * 10_000, "color": "#000000"}, "name", "At most 60 characters"),
        ({"name": "VIP", "color": "#000000"}, "name", "Another tag already has this name."),
        ({"name": "Odd", "color": "red;}"}, "color", "A colour like #1d4ed8."),
        (
            {"name": "Tab\there", "color": "#000000"},
            "name",
            "Line breaks and control characters are not allowed.",
        ),
    ]
    for form, field, message in cases:
        response = admin_client.post("/tags/new", data=form)
        assert response.status_code == 400, message
        assert re.search(
            rf'<p class="error" id="{field}-error">{re.escape(message)}', response.data.decode()
        ), message
    assert session.query(Tag).count() == before


def test_rename_onto_another_tag_changes_nothing(admin_client, session, demo):
    lead = _tag(session, "Lead")
    response = admin_client.post(f"/tags/{lead.id}", data={"name": "Partner", "color": "#047857"})
    assert response.status_code == 400
    assert "Another tag already has this name." in response.data.decode()
    session.expire_all()
    assert session.get(Tag, lead.id).name == "Lead"


def test_sort_allow_list(admin_client, demo):
    rows = admin_client.get("/tags/?sort=-name").data.decode()
    rows = rows[rows.index("<tbody>") :]
    assert rows.index("VIP") < rows.index("Partner") < rows.index("Lead")
    assert admin_client.get("/tags/?sort=color").status_code == 400


def test_agents_get_403(agent_client, session, demo):
    vip = _tag(session, "VIP")
    assert agent_client.get("/tags/").status_code == 403
    assert agent_client.post("/tags/new", data={"name": "Sneaky"}).status_code == 403
    assert agent_client.post(f"/tags/{vip.id}/delete").status_code == 403
    session.expire_all()
    assert session.get(Tag, vip.id) is not None and session.query(Tag).filter_by(name="Sneaky").count() == 0
