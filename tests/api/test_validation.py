"""Bad input is a 4xx with the field and the forms' message; nothing is saved; never a 500."""

from __future__ import annotations

import pytest

from control.models import Contact, Line, PhoneNumber, RingGroup, RingGroupMember, Team, User


def _counts(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return {
        model.__name__: session.query(model).count()
        for model in (User, Team, PhoneNumber, Line, RingGroup, RingGroupMember, Contact)
    }


def _frank(**overrides: object) -> dict:
    return {"name": "Frank Ford", "email": "frank@acme.example", "extension": "1010"} | overrides


def test_duplicate_extension(api, session):
    before = _counts(session)
    response = api.post("/api/v1/users", json=_frank(extension="1001"))
    assert response.status_code == 422
    assert response.json["errors"] == {
        "extension": ["Extension 1001 is already used by the user “Alice Agent”."]
    }
    group = api.post("/api/v1/ring-groups", json={"name": "Clash", "extension": "700"})
    assert group.status_code == 422
    assert group.json["errors"]["extension"] == ["Extension 700 is already used by the queue “Helpdesk”."]
    assert _counts(session) == before


def test_invalid_phone_numbers(api, session):
    before = _counts(session)
    response = api.post("/api/v1/numbers", json={"number": "12"})
    assert response.status_code == 422
    assert response.json["errors"] == {"number": ["“12” is not a valid phone number."]}
    line = api.post(
        "/api/v1/lines", json={"name": "Out", "destination_kind": "external", "destination_target": "+1 555"}
    )
    assert line.status_code == 422 and list(line.json["errors"]) == ["destination_target"]
    contact = api.post(
        "/api/v1/contacts", json={"first_name": "Zed", "numbers": [{"label": "work", "number": "hello"}]}
    )
    assert contact.status_code == 422
    assert contact.json["errors"] == {"numbers-0-number": ["“hello” is not a phone number."]}
    assert _counts(session) == before


def test_ring_group_cycle_is_refused_and_nothing_changes(api, session):
    support = session.query(RingGroup).filter_by(name="Support").one()
    sales_hunt = session.query(RingGroup).filter_by(name="Sales hunt").one()
    members_before = [(m.kind, m.user_id) for m in support.members]
    response = api.patch(
        f"/api/v1/ring-groups/{support.id}",
        json={"name": "Renamed", "members": [{"kind": "ring_group", "target": sales_hunt.id}]},
    )
    assert response.status_code == 422
    assert list(response.json["errors"]) == ["members-0-target"]
    assert response.json["errors"]["members-0-target"][0].startswith("This member makes a loop:")
    assert "Sales hunt" in response.json["errors"]["members-0-target"][0]
    session.expire_all()
    support = session.get(RingGroup, support.id)
    assert support.name == "Support" and [(m.kind, m.user_id) for m in support.members] == members_before


def test_empty_required_fields(api, session):
    before = _counts(session)
    empty = api.post("/api/v1/teams", json={"name": ""})
    assert empty.status_code == 422 and empty.json["errors"] == {"name": ["This field is required."]}
    missing = api.post("/api/v1/users", json={"email": "x@acme.example"})
    assert missing.status_code == 422 and missing.json["errors"] == {"name": ["This field is required."]}
    blank = api.patch("/api/v1/teams/1", json={"name": "   "})
    assert blank.status_code == 422 and blank.json["errors"] == {"name": ["This field is required."]}
    line = api.post("/api/v1/lines", json={"name": "No destination", "destination_kind": ""})
    assert line.status_code == 422
    assert line.json["errors"] == {
        "destination_kind": ["Choose one of: user, ring_group, queue, extension, external, hangup."]
    }
    assert _counts(session) == before
    assert session.get(Team, 1).name == "Support"


def test_ten_kilobyte_name(api, session):
    before = _counts(session)
    response = api.post("/api/v1/users", json=_frank(name="x" * 10_240))
    assert response.status_code == 422
    assert response.json["errors"] == {"name": ["At most 120 characters (got 10240)."]}
    assert api.post("/api/v1/teams", json={"name": "y" * 10_240}).status_code == 422
    assert _counts(session) == before


def test_body_that_is_not_a_json_object_is_400(api, session):
    before = _counts(session)
    for kwargs, reason in (
        ({"json": ["Frank"]}, "The body must be a JSON object."),
        ({"json": "Frank"}, "The body must be a JSON object."),
        ({"data": '{"name": ', "content_type": "application/json"}, "The body is not valid JSON"),
        ({"data": b'{"name": "\xff"}', "content_type": "application/json"}, "The body is not valid JSON"),
        ({"data": {"name": "Frank"}}, "Send the body as JSON"),
    ):
        response = api.post("/api/v1/teams", **kwargs)
        assert response.status_code == 400, kwargs
        assert response.json["message"].startswith(reason)
    assert _counts(session) == before


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/api/v1/teams", {"name": 5}, "name", "Not a valid string."),
        ("/api/v1/teams", {"name": "Ok", "colour": "red"}, "colour", "Unknown field."),
        ("/api/v1/users", _frank(team_ids=["a"]), "team_ids-0", "Not a valid integer."),
        ("/api/v1/users", _frank(team_ids="1"), "team_ids", "Not a valid list."),
        ("/api/v1/users", _frank(dnd="maybe"), "dnd", "Not a valid boolean."),
        ("/api/v1/users", _frank(caller_id_number_id=10**20), "caller_id_number_id", None),
        ("/api/v1/ring-groups", {"name": "G", "extension": "660", "members": "abc"}, "members", None),
        ("/api/v1/ring-groups", {"name": "G", "extension": "660", "members": [1]}, "members-0", None),
        ("/api/v1/ring-groups", {"name": "G", "extension": "660", "members": [{"target": "1"}]}, "members-0-kind", "This field is required."),
        ("/api/v1/ring-groups", {"name": "G", "extension": "660", "members": [{"kind": "user", "target": "99999999999999999999"}]}, "members-0-target", None),
        ("/api/v1/lines", {"name": "L", "destination_kind": "user", "destination_target": "99999999999999999999"}, "destination_target", None),
        ("/api/v1/queues", {"name": "Q", "extension": "760", "members": [{"user_id": "x"}]}, "members-0-user_id", None),
        ("/api/v1/contacts", {"first_name": "A", "numbers": [{"number": ["1"]}]}, "numbers-0-number", None),
        ("/api/v1/lines", {"name": "L", "destination_kind": "user", "destination_target": "²"}, "destination_target", None),
        ("/api/v1/automations", {"name": "A", "steps": [{"action": "add_tag", "value": "99999999999999999999"}]}, "steps-0-value", None),
        ("/api/v1/broadcasts", {"name": "B", "message": "m", "tag_ids": [1], "scheduled_at": "tomorrow"}, "scheduled_at", "An ISO 8601 date and time (UTC unless an offset is given), years 2000 to 2099."),
        ("/api/v1/nodes", {"name": "n", "host": "h", "secret": "s", "config_dir": "/x", "port": "abc"}, "port", "Not a valid integer."),
    ],
)  # fmt: skip
def test_wrong_types_are_422_with_the_field(api, session, path, body, field, message):
    before = _counts(session)
    response = api.post(path, json=body)
    assert response.status_code == 422, response.data
    assert field in response.json["errors"], response.json
    if message is not None:
        assert response.json["errors"][field] == [message]
    assert _counts(session) == before


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"per_page": 500}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"sort": "name;DROP TABLE users"}, "sort"),
        ({"status": "bogus"}, "status"),
        ({"team_id": 10**20}, "team_id"),
    ],
)
def test_bad_list_arguments_are_422(api, query, field):
    response = api.get("/api/v1/users", query_string=query)
    assert response.status_code == 422 and field in response.json["errors"]
