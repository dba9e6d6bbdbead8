"""The portal phonebook: each agent's own contacts, searched, added, edited and deleted."""

from __future__ import annotations

import re

import pytest

from control.db import unit_of_work
from control.models import Contact
from tests.web.portal_data import BOB, logged_in


@pytest.fixture()
def bob_client(app, demo):  # type: ignore[no-untyped-def]
    return logged_in(app, BOB, demo["password"])


def _add(client, name: str, number: str, email: str = "") -> int:  # type: ignore[no-untyped-def]
    response = client.post("/portal/phonebook/new", data={"name": name, "number": number, "email": email})
    assert response.status_code == 302, response.data[:500]
    page = client.get("/portal/phonebook", query_string={"q": name}).get_data(as_text=True)
    found = re.search(r'id="phonebook-(\d+)"', page)
    assert found, page
    return int(found.group(1))


def test_add_search_edit_delete(agent_client) -> None:  # type: ignore[no-untyped-def]
    contact_id = _add(agent_client, "Dana Doctor", "+44 20 7946 0958", "dana@example.com")
    _add(agent_client, "Plumber Pete", "+1 202 555 0143")
    page = agent_client.get("/portal/phonebook").get_data(as_text=True)
    assert "Dana Doctor" in page and "+442079460958" in page and "Plumber Pete" in page

    by_digits = agent_client.get("/portal/phonebook?q=7946").get_data(as_text=True)
    assert "Dana Doctor" in by_digits and "Plumber Pete" not in by_digits
    by_name = agent_client.get("/portal/phonebook?q=pete").get_data(as_text=True)
    assert "Plumber Pete" in by_name and "Dana Doctor" not in by_name

    form = agent_client.get(f"/portal/phonebook/{contact_id}").get_data(as_text=True)
    assert 'value="Dana Doctor"' in form and "Delete contact" in form and "data-confirm" in form
    saved = agent_client.post(
        f"/portal/phonebook/{contact_id}",
        data={"name": "Dana Dentist", "number": "+442079460958", "email": ""},
    )
    assert saved.status_code == 302
    with unit_of_work() as s:
        contact = s.get(Contact, contact_id)
        assert contact is not None
        assert (contact.display_name, contact.email) == ("Dana Dentist", "")

    assert agent_client.post(f"/portal/phonebook/{contact_id}/delete").status_code == 302
    with unit_of_work() as s:
        assert s.get(Contact, contact_id) is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "number": "+12025550143"}, "name", "Enter a name."),
        ({"name": "Nobody", "number": ""}, "number", "A phone number is required."),
        ({"name": "Nobody", "number": "12"}, "number", "is not a valid phone number"),
        ({"name": "Nobody", "number": "+12025550143", "email": "not-an-email"}, "email", "valid email"),
    ],
)
def test_invalid_entries_name_the_field(agent_client, data, field, message) -> None:  # type: ignore[no-untyped-def]
    response = agent_client.post("/portal/phonebook/new", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page and message in page


def test_add_contact_prefills_the_number(agent_client) -> None:  # type: ignore[no-untyped-def]
    page = agent_client.get("/portal/phonebook/new?number=%2B12025550199").get_data(as_text=True)
    assert 'value="+12025550199"' in page


def test_two_agents_never_see_each_others_phonebook(agent_client, bob_client) -> None:  # type: ignore[no-untyped-def]
    alice_id = _add(agent_client, "Alice Friend", "+12025550111")
    bob_id = _add(bob_client, "Bob Friend", "+12025550122")
    assert "Bob Friend" not in agent_client.get("/portal/phonebook").get_data(as_text=True)
    assert "Alice Friend" not in bob_client.get("/portal/phonebook").get_data(as_text=True)
    assert "Bob Friend" not in agent_client.get("/portal/phonebook?q=0122").get_data(as_text=True)
    # bob's id in alice's requests: 404, and nothing changes
    assert agent_client.get(f"/portal/phonebook/{bob_id}").status_code == 404
    assert (
        agent_client.post(
            f"/portal/phonebook/{bob_id}", data={"name": "X", "number": "+12025550122"}
        ).status_code
        == 404
    )
    assert agent_client.post(f"/portal/phonebook/{bob_id}/delete").status_code == 404
    assert bob_client.get(f"/portal/phonebook/{alice_id}").status_code == 404
    with unit_of_work() as s:
        bobs = s.get(Contact, bob_id)
        assert bobs is not None and bobs.display_name == "Bob Friend"


def test_the_shared_directory_is_not_editable_here(agent_client, admin_client) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as s:
        shared = s.query(Contact).filter(Contact.owner_user_id.is_(None)).first()
        assert shared is not None
        shared_id = shared.id
    assert agent_client.get(f"/portal/phonebook/{shared_id}").status_code == 404
    assert agent_client.post(f"/portal/phonebook/{shared_id}/delete").status_code == 404
