from __future__ import annotations

import re

from control.models import Contact, ContactNumber, Favourite, Tag, User


def _contact_form(**overrides: object) -> dict:
    form = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "job_title": "Programmer",
        "email": "ada@engines.example",
        "avatar": "",
        "numbers-0-label": "work",
        "numbers-0-number": "(202) 555-0123",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def _error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return match.group(1) if match else ""


def _names(page: str) -> list[str]:
    return re.findall(r'<tr id="contact-\d+">.*?<a href="/contacts/\d+">([^<]+)</a>', page, re.S)


def _contact(session, last_name: str) -> Contact:
    return session.query(Contact).filter_by(last_name=last_name).one()


def test_list_shows_the_shared_directory_only(admin_client):
    names = _names(admin_client.get("/contacts/").data.decode())
    assert names == ["Margaret Hamilton", "Grace Hopper", "Barbara Liskov", "Ken Thompson", "Linus Torvalds"]
    assert "Mum" not in admin_client.get("/contacts/?q=mum").data.decode()


def test_search_by_text_digits_and_tag(admin_client, session, demo):
    assert _names(admin_client.get("/contacts/?q=kernel").data.decode()) == ["Linus Torvalds"]
    assert _names(admin_client.get("/contacts/?q=GRACE").data.decode()) == ["Grace Hopper"]
    assert _names(admin_client.get("/contacts/?q=0188").data.decode()) == ["Linus Torvalds"]
    assert _names(admin_client.get("/contacts/?q=%2B1+(415)").data.decode()) == ["Linus Torvalds"]
    assert _names(admin_client.get("/contacts/?q=7946").data.decode()) == ["Margaret Hamilton"]
    # One digit is not a number search.
    assert _names(admin_client.get("/contacts/?q=8").data.decode()) == []
    vip = session.query(Tag).filter_by(name="VIP").one().id
    assert _names(admin_client.get(f"/contacts/?tag={vip}").data.decode()) == [
        "Margaret Hamilton",
        "Grace Hopper",
    ]


def test_sort_uses_the_allow_list(admin_client):
    names = _names(admin_client.get("/contacts/?sort=-company").data.decode())
    assert names == ["Grace Hopper", "Barbara Liskov", "Linus Torvalds", "Ken Thompson", "Margaret Hamilton"]
    assert _names(admin_client.get("/contacts/?sort=first_name").data.decode())[0] == "Barbara Liskov"
    assert admin_client.get("/contacts/?sort=email").status_code == 400
    assert admin_client.get("/contacts/?sort=search_text").status_code == 400


def test_favourite_star_toggles_in_place_and_comes_first(admin_client, session, demo):
    ken = _contact(session, "Thompson").id
    response = admin_client.post(
        f"/contacts/{ken}/favourite", data={"on": "1"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    fragment = response.data.decode()
    assert "★" in fragment and 'aria-pressed="true"' in fragment and "<html" not in fragment
    assert session.query(Favourite).filter_by(user_id=demo["admin_id"], contact_id=ken).count() == 1
    page = admin_client.get("/contacts/").data.decode()
    assert _names(page)[0] == "Ken Thompson"
    row = re.search(rf'<tr id="contact-{ken}">.*?</tr>', page, re.S).group(0)
    assert 'aria-pressed="true"' in row and "#d4a017" in row
    # Favourites are per user: Ken is not starred for anyone else.
    assert session.query(Favourite).filter(Favourite.user_id != demo["admin_id"]).count() == 0
    assert admin_client.post(f"/contacts/{ken}/favourite", data={"on": ""}).status_code == 302
    session.expire_all()
    assert session.query(Favourite).filter_by(contact_id=ken).count() == 0
    assert _names(admin_client.get("/contacts/").data.decode())[0] == "Margaret Hamilton"


def test_create_edit_delete_contact(admin_client, session, demo):
    vip, lead = (session.query(Tag).filter_by(name=n).one().id for n in ("VIP", "Lead"))
    form = _contact_form(
        tag_ids=[str(vip), str(lead)],
        **{"numbers-1-label": "mobile", "numbers-1-number": "+44 20 7946 0958", "numbers-2-number": ""},
    )
    response = admin_client.post("/contacts/new", data=form)
    assert response.status_code == 302, response.data[-3000:]
    ada = _contact(session, "Lovelace")
    assert (ada.first_name, ada.company, ada.job_title, ada.email) == (
        "Ada",
        "Analytical Engines",
        "Programmer",
        "ada@engines.example",
    )
    assert [(n.label, n.e164) for n in ada.numbers] == [("work", "+12025550123"), ("mobile", "+442079460958")]
    assert sorted(t.name for t in ada.tags) == ["Lead", "VIP"]
    assert ada.owner_user_id is None
    page = admin_client.get(f"/contacts/{ada.id}").data.decode()
    assert 'value="+442079460958"' in page and 'name="numbers-1-number"' in page
    edit = _contact_form(first_name="Augusta Ada", avatar="https://img.example/ada.png")  # no tags chosen
    assert admin_client.post(f"/contacts/{ada.id}", data=edit).status_code == 302
    session.expire_all()
    ada = session.get(Contact, ada.id)
    assert ada.first_name == "Augusta Ada" and ada.avatar == "https://img.example/ada.png"
    assert ada.tags == [] and [n.e164 for n in ada.numbers] == ["+12025550123"]
    assert _names(admin_client.get("/contacts/?q=analytical").data.decode()) == ["Augusta Ada Lovelace"]
    ada_id = ada.id
    assert admin_client.post(f"/contacts/{ada_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(Contact, ada_id) is None
    assert session.query(ContactNumber).filter_by(contact_id=ada_id).count() == 0


def test_bad_input_shows_messages_and_saves_nothing(admin_client, session, demo):
    before = (session.query(Contact).count(), session.query(ContactNumber).count())
    cases = [
        (_contact_form(first_name="", last_name="", company=""), "first_name", "Enter a name or a company."),
        (_contact_form(first_name="a" * 10_000), "first_name", "At most 120 characters (got 10000)."),
        (
            _contact_form(**{"numbers-0-number": "555"}),
            "numbers-0-number",
            "“555” is not a valid phone number.",
        ),
        (
            _contact_form(**{"numbers-0-number": "call me"}),
            "numbers-0-number",
            "“call me” is not a phone number.",
        ),
        (_contact_form(**{"numbers-0-number": ""}), "numbers-0-number", "Enter at least one phone number."),
        (_contact_form(email="ada-at-engines"), "email", "Enter a valid email address."),
        (_contact_form(avatar="http://img.example/a.png"), "avatar", "An avatar is an https:// address."),
        (_contact_form(tag_ids=["999999"]), "tag_ids", "Choose tags of this tenant."),
        (
            _contact_form(**{"numbers-1-number": "+1 202 555 0199", "numbers-1-label": "pager"}),
            "numbers-1-label",
            "Choose one of: mobile, work, home, main, fax, other.",
        ),
    ]
    for form, field, message in cases:
        response = admin_client.post("/contacts/new", data=form)
        assert response.status_code == 400, message
        assert _error(response.data.decode(), field) == message, (field, message)
    # The typed rows come back, so nothing is lost.
    response = admin_client.post("/contacts/new", data=_contact_form(**{"numbers-1-number": "12"}))
    page = response.data.decode()
    assert 'value="(202) 555-0123"' in page and _error(page, "numbers-1-number")
    session.expire_all()
    assert (session.query(Contact).count(), session.query(ContactNumber).count()) == before


def test_personal_phonebook_entries_are_not_in_the_admin_directory(admin_client, session, demo):
    mum = session.query(Contact).filter_by(first_name="Mum").one()
    assert admin_client.get(f"/contacts/{mum.id}").status_code == 404
    assert admin_client.post(f"/contacts/{mum.id}/delete").status_code == 404
    assert session.get(Contact, mum.id) is not None


def test_team_tab_lists_users_and_stars_them(admin_client, app, session, demo):
    page = admin_client.get("/contacts/team").data.decode()
    rows = re.findall(r'<tr id="team-user-(\d+)">(.*?)</tr>', page, re.S)
    assert len(rows) == session.query(User).count()
    alice_row = dict(rows)[str(demo["agent_id"])]
    assert "Alice Agent" in alice_row and "<td>1001</td>" in alice_row
    if "users.edit" in app.config["NAV_ENDPOINTS"]:
        assert f'href="/users/{demo["agent_id"]}"' in alice_row
    page = admin_client.get("/contacts/team?q=1003").data.decode()
    assert "Carol Chen" in page and "Alice Agent" not in page
    assert admin_client.get("/contacts/team?sort=password_hash").status_code == 400
    response = admin_client.post(
        f"/contacts/team/{demo['agent_id']}/favourite", data={"on": "1"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "★" in response.data.decode()
    assert (
        session.query(Favourite)
        .filter_by(user_id=demo["admin_id"], favourite_user_id=demo["agent_id"])
        .count()
        == 1
    )


def test_agent_gets_403(agent_client, session, demo):
    ken = _contact(session, "Thompson").id
    assert agent_client.get("/contacts/").status_code == 403
    assert agent_client.get("/contacts/team").status_code == 403
    assert agent_client.post("/contacts/new", data=_contact_form()).status_code == 403
    assert agent_client.post(f"/contacts/{ken}/delete").status_code == 403
    assert agent_client.post(f"/contacts/{ken}/favourite", data={"on": "1"}).status_code == 403
    assert session.query(Favourite).count() == 0
    assert session.get(Contact, ken) is not None


def test_do_not_call_box_opts_a_contact_out_of_broadcasts(admin_client, session, demo):
    response = admin_client.post("/contacts/new", data=_contact_form(do_not_call="on"))
    assert response.status_code == 302
    contact = session.query(Contact).filter_by(last_name="Lovelace").one()
    assert contact.do_not_call is True
    page = admin_client.get(f"/contacts/{contact.id}").data.decode()
    assert re.search(r'<input type="checkbox" id="do_not_call" name="do_not_call" checked>', page)
    assert admin_client.post(f"/contacts/{contact.id}", data=_contact_form()).status_code == 302
    session.expire_all()
    assert session.get(Contact, contact.id).do_not_call is False
