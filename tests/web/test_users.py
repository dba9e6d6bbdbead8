from __future__ import annotations

import re

from control.db import unit_of_work
from control.models import AuditLog, Line, PhoneNumber, RingGroupMember, Team, User
from control.passwords import verify_password
from control.services import numbers, users


def _user_form(**overrides: object) -> dict:
    form = {
        "name": "Frank Ford",
        "email": "frank@acme.example",
        "role": "agent",
        "extension": "1010",
        "password": "a-long-enough-password",
        "language": "en",
        "notifications": "on",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def test_create_user_with_teams_and_caller_id(admin_client, session, demo):
    support = session.query(Team).filter_by(name="Support").one()
    sales = session.query(Team).filter_by(name="Sales").one()
    main = session.query(PhoneNumber).filter_by(e164="+12125550100").one()
    form = _user_form(team_ids=[str(support.id), str(sales.id)], caller_id_number_id=str(main.id), dnd="on")
    response = admin_client.post("/users/new", data=form)
    assert response.status_code == 302
    frank = session.query(User).filter_by(email="frank@acme.example").one()
    assert frank.extension == "1010" and frank.dnd and frank.notifications
    assert {t.name for t in frank.teams} == {"Support", "Sales"}
    assert frank.caller_id_number_id == main.id
    assert verify_password(frank.password_hash, "a-long-enough-password")
    assert frank.sip_secret_enc


def test_edit_user_keeps_password_when_empty_and_clears_teams(admin_client, session, demo):
    alice = session.get(User, demo["agent_id"])
    old_hash = alice.password_hash
    form = _user_form(
        name="Alice Anders", email=demo["agent_email"], extension="1001", password="", language="fr"
    )
    assert admin_client.post(f"/users/{alice.id}", data=form).status_code == 302
    session.expire_all()
    alice = session.get(User, demo["agent_id"])
    assert alice.name == "Alice Anders" and alice.language == "fr"
    assert alice.password_hash == old_hash
    assert alice.teams == [] and alice.dnd is False


def test_caller_id_offers_only_usable_numbers(admin_client, session, demo):
    pending = session.query(PhoneNumber).filter_by(e164="+442071838750").one()
    page = admin_client.get(f"/users/{demo['agent_id']}").data.decode()
    caller_select = re.search(r'<select id="caller_id_number_id".*?</select>', page, re.S).group(0)
    assert "+12125550100" in caller_select and "+442071838750" not in caller_select
    before = session.get(User, demo["agent_id"]).caller_id_number_id
    form = _user_form(email=demo["agent_email"], extension="1001", caller_id_number_id=str(pending.id))
    response = admin_client.post(f"/users/{demo['agent_id']}", data=form)
    assert response.status_code == 400
    assert b"This number cannot be used as a caller ID." in response.data
    session.expire_all()
    assert session.get(User, demo["agent_id"]).caller_id_number_id == before


def test_bad_input_shows_messages_and_saves_nothing(admin_client, session, demo):
    before = session.query(User).count()
    cases = [
        (
            _user_form(extension="1002"),
            "extension",
            "Extension 1002 is already used by the user “Bob Baker”.",
        ),
        (
            _user_form(extension="600"),
            "extension",
            "Extension 600 is already used by the ring group “Support”.",
        ),
        (_user_form(extension="12a"), "extension", "An extension is 2 to 8 digits."),
        (_user_form(name=""), "name", "This field is required."),
        (_user_form(name="x" * 10_000), "name", "At most 120 characters"),
        (_user_form(email="bob@acme.example"), "email", "Another user already has this email address."),
        (_user_form(email="not-an-address"), "email", "Enter a valid email address."),
        (_user_form(password=""), "password", "A new user needs a password."),
        (_user_form(password="short"), "password", "A password has at least 10 characters."),
        (_user_form(avatar="javascript:alert(1)"), "avatar", "An avatar is an https:// address."),
        (_user_form(role="root"), "role", "Choose one of: admin, agent."),
        (_user_form(team_ids=["999999"]), "team_ids", "Choose teams of this tenant."),
    ]
    for form, field, message in cases:
        response = admin_client.post("/users/new", data=form)
        page = response.data.decode()
        assert response.status_code == 400, message
        assert f'<p class="error" id="{field}-error">{message}' in page, message
    assert session.query(User).count() == before


def test_failed_create_never_echoes_the_password(admin_client, demo):
    response = admin_client.post("/users/new", data=_user_form(extension="1002", password="s3cret-pass-word"))
    assert response.status_code == 400
    assert b"s3cret-pass-word" not in response.data


def test_duplicate_extension_on_edit_changes_nothing(admin_client, session, demo):
    form = _user_form(name="Renamed", email=demo["agent_email"], extension="1003")
    response = admin_client.post(f"/users/{demo['agent_id']}", data=form)
    assert response.status_code == 400
    assert "Extension 1003 is already used by the user “Carol Chen”." in response.data.decode()
    session.expire_all()
    alice = session.get(User, demo["agent_id"])
    assert alice.name == "Alice Agent" and alice.extension == "1001"


def test_list_search_filters_and_status_counts(admin_client, session, demo):
    bob = session.query(User).filter_by(email="bob@acme.example").one()
    carol = session.query(User).filter_by(email="carol@acme.example").one()
    assert admin_client.post(f"/users/{bob.id}/pause").status_code == 302
    assert admin_client.post(f"/users/{carol.id}/suspend").status_code == 302
    page = admin_client.get("/users/").data.decode()
    assert 'All <span class="count">6</span>' in page
    assert 'Active <span class="count">4</span>' in page
    assert 'Paused <span class="count">1</span>' in page
    assert 'Suspended <span class="count">1</span>' in page
    paused = admin_client.get("/users/?status=paused").data.decode()
    assert "Bob Baker" in paused and "Carol Chen" not in paused and "Alice Agent" not in paused
    assert "Carol Chen" in admin_client.get("/users/?status=suspended").data.decode()
    found = admin_client.get("/users/?q=1004").data.decode()
    assert "Dan Diaz" in found and "Erin Evans" not in found
    found = admin_client.get("/users/?q=ERIN@").data.decode()
    assert "Erin Evans" in found and "Dan Diaz" not in found
    admins = admin_client.get("/users/?role=admin").data.decode()
    assert "Ada Admin" in admins and "Bob Baker" not in admins
    support = session.query(Team).filter_by(name="Support").one()
    in_support = admin_client.get(f"/users/?team={support.id}").data.decode()
    assert "Alice Agent" in in_support and "Dan Diaz" not in in_support


def _rows(page: str) -> str:
    return page[page.index("<tbody>") :]


def test_sort_allow_list(admin_client, demo):
    rows = _rows(admin_client.get("/users/?sort=-extension").data.decode())
    assert rows.index("Erin Evans") < rows.index("Dan Diaz") < rows.index("Ada Admin")
    rows = _rows(admin_client.get("/users/?sort=extension").data.decode())
    assert rows.index("Ada Admin") < rows.index("Dan Diaz") < rows.index("Erin Evans")
    assert admin_client.get("/users/?sort=password_hash").status_code == 400
    assert admin_client.get("/users/?sort=name;DROP TABLE users").status_code == 400


def test_pagination_splits_pages(admin_client, demo):
    with unit_of_work() as s:
        for i in range(55):
            users.create_user(
                s, demo["tenant_id"], {"name": f"Temp {i:02d}", "email": f"temp{i}@acme.example"}, None
            )
    first = admin_client.get("/users/?q=temp").data.decode()
    assert "Page 1 of 2" in first and "Temp 00" in first and "Temp 54" not in first
    second = admin_client.get("/users/?q=temp&page=2").data.decode()
    assert "Temp 54" in second and "Temp 00" not in second


def test_pause_activate_suspend_unsuspend(admin_client, session, demo):
    agent_id = demo["agent_id"]
    admin_client.post(f"/users/{agent_id}/pause")
    session.expire_all()
    assert session.get(User, agent_id).routing_paused is True
    admin_client.post(f"/users/{agent_id}/activate")
    admin_client.post(f"/users/{agent_id}/suspend")
    session.expire_all()
    alice = session.get(User, agent_id)
    assert alice.routing_paused is False and alice.suspended is True
    admin_client.post(f"/users/{agent_id}/unsuspend")
    session.expire_all()
    assert session.get(User, agent_id).suspended is False
    actions = {a.action for a in session.query(AuditLog).filter_by(target_id=agent_id)}
    assert {"user.routing_paused", "user.suspended"} <= actions


def test_admin_cannot_suspend_themselves(admin_client, session, demo):
    response = admin_client.post(f"/users/{demo['admin_id']}/suspend", follow_redirects=True)
    assert "You cannot suspend yourself." in response.data.decode()
    session.expire_all()
    assert session.get(User, demo["admin_id"]).suspended is False


def test_admin_cannot_demote_themselves(admin_client, session, demo):
    form = _user_form(
        name="Ada Admin", email=demo["admin_email"], extension="1000", role="agent", password=""
    )
    response = admin_client.post(f"/users/{demo['admin_id']}", data=form)
    assert response.status_code == 400
    assert (
        '<p class="error" id="role-error">You cannot take away your own admin role.' in response.data.decode()
    )
    session.expire_all()
    assert session.get(User, demo["admin_id"]).role == "admin"
    assert admin_client.get("/users/").status_code == 200


def test_unknown_flag_action_is_404(admin_client, demo):
    assert admin_client.post(f"/users/{demo['agent_id']}/promote").status_code == 404


def test_list_offers_login_as_that_posts_to_auth(admin_client, demo):
    page = admin_client.get("/users/").data.decode()
    assert f'action="/users/{demo["agent_id"]}/login-as"' in page
    assert f'action="/users/{demo["admin_id"]}/login-as"' not in page
    response = admin_client.post(f"/users/{demo['agent_id']}/login-as")
    assert response.status_code == 302
    assert "you are logged in as <strong>Alice Agent</strong>" in admin_client.get("/").data.decode()


def test_sip_secret_is_never_in_pages_until_revealed(admin_client, session, demo):
    with unit_of_work() as s:
        secret = users.sip_secret(s, demo["tenant_id"], demo["agent_id"], None)
    assert secret
    edit = admin_client.get(f"/users/{demo['agent_id']}")
    assert edit.status_code == 200 and "Reveal SIP secret" in edit.data.decode()
    assert secret not in edit.data.decode()
    assert secret not in admin_client.get("/users/").data.decode()
    before = (
        session.query(AuditLog).filter_by(action="user.sip_secret.reveal", actor_id=demo["admin_id"]).count()
    )
    revealed = admin_client.post(f"/users/{demo['agent_id']}/sip-secret")
    assert revealed.status_code == 200
    assert f'<code id="sip-secret">{secret}</code>' in revealed.data.decode()
    assert revealed.headers["Cache-Control"] == "no-store"
    after = (
        session.query(AuditLog).filter_by(action="user.sip_secret.reveal", actor_id=demo["admin_id"]).count()
    )
    assert after == before + 1
    assert secret not in admin_client.get(f"/users/{demo['agent_id']}").data.decode()


def test_regenerate_sip_secret(admin_client, demo):
    with unit_of_work() as s:
        old = users.sip_secret(s, demo["tenant_id"], demo["agent_id"], None)
    response = admin_client.post(f"/users/{demo['agent_id']}/sip-secret/regenerate")
    assert response.status_code == 302
    with unit_of_work() as s:
        new = users.sip_secret(s, demo["tenant_id"], demo["agent_id"], None)
    assert new and new != old
    assert new not in admin_client.get(f"/users/{demo['agent_id']}").data.decode()


def test_delete_lists_dependencies_and_needs_acknowledgement(admin_client, session, demo):
    bob_id = session.query(User).filter_by(email="bob@acme.example").one().id
    page = admin_client.get(f"/users/{bob_id}/delete").data.decode()
    assert "I am aware that by deleting this user I will also remove the dependencies" in page
    assert "Ring group <strong>Support</strong>" in page and "Queue <strong>Helpdesk</strong>" in page
    response = admin_client.post(f"/users/{bob_id}/delete", data={})
    assert response.status_code == 400
    assert "dependencies; confirm to remove them too" in response.data.decode()
    session.expire_all()
    assert session.get(User, bob_id) is not None
    assert session.query(RingGroupMember).filter_by(user_id=bob_id).count() == 1
    response = admin_client.post(f"/users/{bob_id}/delete", data={"acknowledged": "on"})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(User, bob_id) is None
    assert session.query(RingGroupMember).filter_by(user_id=bob_id).count() == 0


def test_delete_user_that_is_a_line_destination_and_owns_a_number(admin_client, session, demo):
    with unit_of_work() as s:
        frank = users.create_user(
            s, demo["tenant_id"], {"name": "Frank", "email": "f@acme.example", "extension": "1011"}, None
        )
        number = numbers.create_number(s, demo["tenant_id"], {"number": "+12125550142"}, None)
        numbers.update_number(s, demo["tenant_id"], number.id, {"user_id": frank.id}, None)
        line = Line(
            tenant_id=demo["tenant_id"],
            name="Frank line",
            destination_kind="user",
            destination_user_id=frank.id,
        )
        s.add(line)
        frank_id, number_id = frank.id, number.id
    page = admin_client.get(f"/users/{frank_id}/delete").data.decode()
    assert "Line <strong>Frank line</strong>" in page and "Number <strong>+12125550142</strong>" in page
    assert admin_client.post(f"/users/{frank_id}/delete", data={"acknowledged": "on"}).status_code == 302
    session.expire_all()
    assert session.get(PhoneNumber, number_id).user_id is None
    assert session.query(Line).filter_by(name="Frank line").one().destination_user_id is None


def test_delete_user_without_dependencies(admin_client, session, demo):
    erin = session.query(User).filter_by(email="erin@acme.example").one()
    dan = session.query(User).filter_by(email="dan@acme.example").one()
    assert admin_client.get(f"/users/{dan.id}/delete").status_code == 200
    with unit_of_work() as s:
        frank = users.create_user(s, demo["tenant_id"], {"name": "Frank", "email": "f@acme.example"}, None)
        frank_id = frank.id
    assert "has no dependencies" in admin_client.get(f"/users/{frank_id}/delete").data.decode()
    assert admin_client.post(f"/users/{frank_id}/delete", data={}).status_code == 302
    session.expire_all()
    assert session.get(User, frank_id) is None and session.get(User, erin.id) is not None


def test_admin_cannot_delete_themselves(admin_client, session, demo):
    response = admin_client.post(f"/users/{demo['admin_id']}/delete", data={"acknowledged": "on"})
    assert response.status_code == 400
    assert "You cannot delete yourself." in response.data.decode()
    session.expire_all()
    assert session.get(User, demo["admin_id"]) is not None


def test_other_tenants_user_is_404(admin_client, session, demo):
    from control.services import tenants

    with unit_of_work() as s:
        other = tenants.create_tenant(s, {"name": "globex", "domain": "globex.test", "default_country": "US"})
        stranger = users.create_user(s, other.id, {"name": "Stranger", "email": "s@globex.test"}, None)
        stranger_id = stranger.id
    assert admin_client.get(f"/users/{stranger_id}").status_code == 404
    assert admin_client.post(f"/users/{stranger_id}/suspend").status_code == 404
    assert admin_client.post(f"/users/{stranger_id}/sip-secret").status_code == 404
    assert admin_client.post(f"/users/{stranger_id}/delete", data={"acknowledged": "on"}).status_code == 404
    session.expire_all()
    assert session.get(User, stranger_id).suspended is False


def test_agents_get_403(agent_client, session, demo):
    assert agent_client.get("/users/").status_code == 403
    assert agent_client.get(f"/users/{demo['admin_id']}").status_code == 403
    assert agent_client.post(f"/users/{demo['agent_id']}/sip-secret").status_code == 403
    assert agent_client.post(f"/users/{demo['admin_id']}/suspend").status_code == 403
    assert agent_client.post("/users/new", data=_user_form()).status_code == 403
    session.expire_all()
    assert session.get(User, demo["admin_id"]).suspended is False
    assert session.query(User).filter_by(email="frank@acme.example").count() == 0
