from __future__ import annotations

import re

from control.db import unit_of_work
from control.models import AuditLog, Line, PhoneNumber, Team, User
from control.services import number_lifecycle, numbers, users


def _number(session, e164: str) -> PhoneNumber:
    return session.query(PhoneNumber).filter_by(e164=e164).one()


def _box(page: str, number_id: int) -> str:
    match = re.search(rf'<article class="card number" id="number-{number_id}">.*?</article>', page, re.S)
    assert match, f"no box for number {number_id}"
    return match.group(0)


def test_add_number_is_normalised_to_e164(admin_client, session, demo):
    response = admin_client.post("/numbers/new", data={"number": "(212) 555-0123"})
    assert response.status_code == 302
    number = _number(session, "+12125550123")
    assert number.country == "US" and number.status == "active"
    assert number.number_type == "fixed_line_or_mobile" and number.do_not_use is False
    response = admin_client.post("/numbers/new", data={"number": "+44 20 7946 0999", "do_not_use": "on"})
    assert response.status_code == 302
    london = _number(session, "+442079460999")
    assert london.country == "GB" and london.number_type == "local" and london.do_not_use is True


def test_bad_numbers_show_a_message_next_to_the_field_and_save_nothing(admin_client, session, demo):
    before = session.query(PhoneNumber).count()
    cases = [
        ({"number": ""}, "number", "A phone number is required."),
        ({"number": "hello"}, "number", "“hello” is not a phone number."),
        ({"number": "+1 212 555"}, "number", "is not a valid phone number."),
        ({"number": "1" * 10_000}, "number", "A phone number has at most 32 characters."),
        ({"number": "+12125550100"}, "number", "+12125550100 is already in the system."),
        ({"number": "+12125550124", "status": "active"}, "status", "The status is not edited"),
        (
            {"number": "+12125550124", "cancel_at": "2031-01-01T00:00"},
            "cancel_at",
            "The status is not edited",
        ),
        ({"number": "+12125550124", "team_id": "999999"}, "team_id", "Choose an entry of this tenant."),
    ]
    for form, field, message in cases:
        response = admin_client.post("/numbers/new", data=form)
        page = response.data.decode()
        assert response.status_code == 400, message
        assert re.search(rf'<p class="error" id="{field}-error">[^<]*{re.escape(message)}', page), message
    assert session.query(PhoneNumber).count() == before


def test_list_shows_boxes_with_status_dot_type_and_assignment(admin_client, session, demo):
    with unit_of_work() as s:
        risky = numbers.create_number(s, demo["tenant_id"], {"number": "+12125550130"}, None)
        number_lifecycle.flag_high_risk(s, demo["tenant_id"], risky.id, None)
        support = s.query(Team).filter_by(name="Support").one()
        numbers.update_number(s, demo["tenant_id"], risky.id, {"team_id": support.id}, None)
        risky_id = risky.id
    page = admin_client.get("/numbers/").data.decode()
    main = _box(page, _number(session, "+12125550100").id)
    assert 'style="background: #22c55e"' in main  # green: active
    assert "Line: Main line" in main and "US · Fixed line or mobile" in main
    assert 'style="background: #eab308"' in _box(page, _number(session, "+442071838750").id)  # yellow
    risky_box = _box(page, risky_id)
    assert 'style="background: #ef4444"' in risky_box and "Team: Support" in risky_box  # red
    assert "Toll free" in _box(page, _number(session, "+18005550199").id)
    assert "Unassigned" in _box(page, _number(session, "+18005550199").id)


def test_search_by_any_digits_and_filters(admin_client, session, demo):
    page = admin_client.get("/numbers/?q=555-0199").data.decode()
    assert "+18005550199" in page and "+12125550100" not in page
    page = admin_client.get("/numbers/?q=7183").data.decode()
    assert "+442071838750" in page and "+18005550199" not in page
    page = admin_client.get("/numbers/?status=pending").data.decode()
    assert "+442071838750" in page and "+12125550100" not in page
    page = admin_client.get("/numbers/?type=toll_free").data.decode()
    assert "+18005550199" in page and "+12125550101" not in page
    page = admin_client.get("/numbers/?country=GB").data.decode()
    assert "+442071838750" in page and "+12125550100" not in page
    page = admin_client.get("/numbers/?assigned=yes").data.decode()
    assert "+12125550100" in page and "+18005550199" not in page
    page = admin_client.get("/numbers/?assigned=no").data.decode()
    assert "+18005550199" in page and "+12125550101" not in page


def test_status_counts(admin_client, session, demo):
    with unit_of_work() as s:
        risky = numbers.create_number(s, demo["tenant_id"], {"number": "+12125550131"}, None)
        number_lifecycle.flag_high_risk(s, demo["tenant_id"], risky.id, None)
    page = admin_client.get("/numbers/").data.decode()
    assert 'All <span class="count">5</span>' in page
    assert 'Active <span class="count">3</span>' in page
    assert 'Pending <span class="count">1</span>' in page
    assert 'High risk <span class="count">1</span>' in page
    assert 'Released <span class="count">0</span>' in page


def test_sort_allow_list(admin_client, demo):
    page = admin_client.get("/numbers/?sort=-number").data.decode()
    assert page.index("+442071838750") < page.index("+18005550199") < page.index("+12125550100")
    assert admin_client.get("/numbers/?sort=country").status_code == 200
    assert admin_client.get("/numbers/?sort=tenant_id").status_code == 400


def test_edit_assignment_but_never_the_status(admin_client, session, demo):
    number = _number(session, "+18005550199")
    alice = session.get(User, demo["agent_id"])
    line = session.query(Line).filter_by(name="Support line").one()
    form = {"user_id": str(alice.id), "line_id": str(line.id), "team_id": ""}
    assert admin_client.post(f"/numbers/{number.id}", data=form).status_code == 302
    session.expire_all()
    number = session.get(PhoneNumber, number.id)
    assert number.user_id == alice.id and number.line_id == line.id and number.team_id is None
    page = admin_client.get(f"/numbers/{number.id}").data.decode()
    assert 'id="status"' not in page and 'id="cancel_at"' not in page
    for form in ({"status": "to_be_cancelled"}, {"cancel_at": "2031-05-01T09:30"}):
        response = admin_client.post(f"/numbers/{number.id}", data=form | {"line_id": ""})
        field = next(iter(form))
        assert response.status_code == 400
        assert re.search(
            rf'<p class="error" id="{field}-error">The status is not edited', response.data.decode()
        )
    session.expire_all()
    number = session.get(PhoneNumber, number.id)
    assert number.status == "active" and number.line_id == line.id and number.cancel_at is None


def test_transfer_to_another_line(admin_client, session, demo):
    number = _number(session, "+12125550100")
    main = session.query(Line).filter_by(name="Main line").one()
    support = session.query(Line).filter_by(name="Support line").one()
    assert main.default_caller_id_id == number.id
    response = admin_client.post(f"/numbers/{number.id}/transfer", data={"transfer_line_id": str(support.id)})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(PhoneNumber, number.id).line_id == support.id
    assert session.get(Line, main.id).default_caller_id_id is None
    assert session.query(AuditLog).filter_by(action="number.transfer", target_id=number.id).count() == 1


def test_transfer_needs_another_line(admin_client, session, demo):
    number = _number(session, "+12125550100")
    main_id = number.line_id
    response = admin_client.post(f"/numbers/{number.id}/transfer", data={"transfer_line_id": ""})
    assert response.status_code == 400
    assert '<p class="error" id="transfer_line_id-error">Choose the line' in response.data.decode()
    response = admin_client.post(f"/numbers/{number.id}/transfer", data={"transfer_line_id": str(main_id)})
    assert response.status_code == 400 and "already on this line" in response.data.decode()
    response = admin_client.post(f"/numbers/{number.id}/transfer", data={"transfer_line_id": "999999"})
    assert response.status_code == 400 and "Choose an entry of this tenant." in response.data.decode()
    session.expire_all()
    assert session.get(PhoneNumber, number.id).line_id == main_id


def test_do_not_use_toggle_stops_caller_id_use(admin_client, session, demo):
    number = _number(session, "+12125550101")
    with unit_of_work() as s:
        users.update_user(s, demo["tenant_id"], demo["agent_id"], {"caller_id_number_id": number.id}, None)
    assert admin_client.post(f"/numbers/{number.id}/do-not-use").status_code == 302
    session.expire_all()
    assert session.get(PhoneNumber, number.id).do_not_use is True
    assert session.get(User, demo["agent_id"]).caller_id_number_id is None
    page = admin_client.get("/numbers/").data.decode()
    assert "Do not use" in _box(page, number.id) and "Allow use" in _box(page, number.id)
    admin_client.post(f"/numbers/{number.id}/do-not-use")
    session.expire_all()
    assert session.get(PhoneNumber, number.id).do_not_use is False


def test_release_is_confirmed_irreversible_and_detaches(admin_client, session, demo):
    number = _number(session, "+12125550100")
    page = admin_client.get("/numbers/").data.decode()
    assert 'data-confirm="Unrent +12125550100? This is irreversible' in _box(page, number.id)
    assert admin_client.post(f"/numbers/{number.id}/release").status_code == 302
    session.expire_all()
    number = session.get(PhoneNumber, number.id)
    assert number.status == "released" and number.line_id is None
    response = admin_client.post(f"/numbers/{number.id}", data={"status": "active"})
    assert response.status_code == 400
    assert "The status is not edited" in response.data.decode()
    line = session.query(Line).filter_by(name="Support line").one()
    response = admin_client.post(f"/numbers/{number.id}/transfer", data={"transfer_line_id": str(line.id)})
    assert response.status_code == 400
    assert "A released number cannot be assigned to a team, user or line." in response.data.decode()
    session.expire_all()
    number = session.get(PhoneNumber, number.id)
    assert number.status == "released" and number.line_id is None
    assert "This number was released" in admin_client.get(f"/numbers/{number.id}").data.decode()


def test_delete_number(admin_client, session, demo):
    number = _number(session, "+12125550100")
    before = session.query(PhoneNumber).count()
    assert admin_client.post(f"/numbers/{number.id}/delete").status_code == 302
    session.expire_all()
    assert session.query(PhoneNumber).count() == before - 1
    assert session.query(Line).filter_by(name="Main line").one().default_caller_id_id is None


def test_agents_get_403(agent_client, session, demo):
    number = _number(session, "+12125550100")
    assert agent_client.get("/numbers/").status_code == 403
    assert agent_client.post("/numbers/new", data={"number": "+12125550150"}).status_code == 403
    assert agent_client.post(f"/numbers/{number.id}/release").status_code == 403
    assert agent_client.post(f"/numbers/{number.id}/delete").status_code == 403
    session.expire_all()
    assert _number(session, "+12125550100").status == "active"
    assert session.query(PhoneNumber).filter_by(e164="+12125550150").count() == 0
