"""Bad input is a 4xx with the field and the forms' message; nothing is saved; never a 500."""

from __future__ import annotations

import pytest

from control.models import Contact, Line, PbxNode, PhoneNumber, RingGroup, RingGroupMember, Team, User
from control.validators import SIP_URI


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
        ("/api/v1/automations", {"name": "A", "trigger": "call_ended", "conditions": {"min_duration": "x"}, "steps": [{"action": "wait", "value": 5}]}, "conditions-min_duration", "Not a valid integer."),
        ("/api/v1/automations", {"name": "A", "trigger": "schedule", "schedule": "every day", "steps": [{"action": "wait", "value": 5}]}, "schedule", None),
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


# The SIP URIs an outside audit got past the services that the renderer then refused: from then
# on every render of the tenant failed (409 on preview, every deploy blocked).
BAD_SIP_URIS = [
    "sip:desk@-partner.example.com",
    "sip:desk@partner-.example.com",
    "sip:desk@.partner.example.com",
    "sip:desk@partner.example.com.",
    "sip:desk@partner..example.com",
    "sip:desk@partner.-example.com",
    f"sip:{'u' * 65}@partner.example.com",
    "sip:desk@partner.example.com:0",
    "sip:desk@partner.example.com:65536",
    "sip:desk@partner.example.com:99999",
]


def _previews(api) -> list[int]:  # type: ignore[no-untyped-def]
    return [api.get(f"/api/v1/render/{kind}").status_code for kind in ("freeswitch", "asterisk")]


@pytest.mark.parametrize("uri", BAD_SIP_URIS)
def test_sip_uri_members_the_renderer_refuses_are_422_and_the_tenant_still_renders(api, session, uri):
    before = _counts(session)
    created = api.post(
        "/api/v1/ring-groups",
        json={"name": "Partner", "extension": "650", "members": [{"kind": "sip_uri", "target": uri}]},
    )
    assert created.status_code == 422, created.json
    assert created.json["errors"] == {"members-0-target": [SIP_URI.message]}
    support = session.query(RingGroup).filter_by(name="Support").one()
    updated = api.patch(
        f"/api/v1/ring-groups/{support.id}", json={"members": [{"kind": "sip_uri", "target": uri}]}
    )
    assert updated.status_code == 422 and list(updated.json["errors"]) == ["members-0-target"]
    assert _counts(session) == before
    assert _previews(api) == [200, 200]


def test_sip_uris_at_the_limits_are_accepted_and_render(api):
    uris = [
        f"sip:{'u' * 64}@partner.example.com",
        "sips:a.b_c!~*'+-@x-1.example.com:65535",
        "sip:d@10.0.0.1:1",
    ]
    created = api.post(
        "/api/v1/ring-groups",
        json={
            "name": "Partners",
            "extension": "650",
            "timeout": 60,
            "members": [{"kind": "sip_uri", "target": uri} for uri in uris],
        },
    )
    assert created.status_code == 201, created.json
    assert [m["target"] for m in created.json["members"]] == uris
    assert _previews(api) == [200, 200]


INVISIBLE_NAMES = ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", "\u202e\u200f\u2066", " \u200b \u00ad "]
INVISIBLE = "Only invisible characters (zero-width or formatting marks): type visible text."


@pytest.mark.parametrize("name", INVISIBLE_NAMES)
def test_names_of_only_invisible_characters_are_422_with_the_field(api, session, demo, name):
    before = _counts(session)
    bodies = [
        ("/api/v1/users", _frank(name=name)),
        ("/api/v1/teams", {"name": name}),
        ("/api/v1/lines", {"name": name, "destination_kind": "hangup"}),
        ("/api/v1/ring-groups", {"name": name, "extension": "650"}),
        ("/api/v1/queues", {"name": name, "extension": "750"}),
    ]
    for path, body in bodies:
        response = api.post(path, json=body)
        assert response.status_code == 422, (path, response.json)
        assert response.json["errors"] == {"name": [INVISIBLE]}, path
    renamed = api.patch(f"/api/v1/users/{demo['agent_id']}", json={"name": name})
    assert renamed.status_code == 422 and renamed.json["errors"] == {"name": [INVISIBLE]}
    assert _counts(session) == before
    session.expire_all()
    assert session.get(User, demo["agent_id"]).name == "Alice Agent"


def test_names_with_invisible_characters_among_visible_ones_are_kept(api):
    response = api.post("/api/v1/teams", json={"name": "Night\u200bshift"})
    assert response.status_code == 201 and response.json["name"] == "Night\u200bshift"


def _node(config_dir: str) -> dict:
    return {
        "name": "edge",
        "kind": "asterisk",
        "host": "pbx.internal",
        "username": "switchboard",
        "secret": "ami-secret",
        "config_dir": config_dir,
    }


@pytest.mark.parametrize(
    ("config_dir", "message"),
    [
        ("relative/path", "An absolute path on the PBX host, like /etc/asterisk."),
        ("/etc/asterisk/../..", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("/srv/../etc", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("/srv/./pbx", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("/srv//pbx", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("//srv/pbx", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("/srv/pbx/", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("/", "/ is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/etc", "/etc is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/usr", "/usr is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/var", "/var is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/home", "/home is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/bin", "/bin is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/usr/local", "/usr/local is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/var/lib", "/var/lib is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/srv/pbx;rm -rf /", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("/srv/$(id)", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("/srv/`id`", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("/srv/pbx conf", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("/srv/a|b&c", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("/srv/~root", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("/srv/pbx*", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
    ],
)  # fmt: skip
def test_node_config_dir_must_be_a_plain_absolute_folder_of_its_own(api, session, demo, config_dir, message):
    before = session.query(PbxNode).count()
    response = api.post("/api/v1/nodes", json=_node(config_dir))
    assert response.status_code == 422, response.json
    assert response.json["errors"] == {"config_dir": [message]}
    assert session.query(PbxNode).count() == before


def test_node_config_dirs_of_their_own_are_accepted_and_moves_are_checked_too(api, session, demo):
    created = api.post("/api/v1/nodes", json=_node("/etc/asterisk"))
    assert created.status_code == 201, created.json
    for good in ("/usr/local/freeswitch/conf", "/srv/pbx-1/switch_board.d", "/opt/asterisk+test/etc"):
        moved = api.patch(f"/api/v1/nodes/{created.json['id']}", json={"config_dir": good})
        assert moved.status_code == 200 and moved.json["config_dir"] == good
    refused = api.patch(f"/api/v1/nodes/{created.json['id']}", json={"config_dir": "/etc/.."})
    assert refused.status_code == 422 and list(refused.json["errors"]) == ["config_dir"]
    session.expire_all()
    assert session.get(PbxNode, created.json["id"]).config_dir == "/opt/asterisk+test/etc"


def _support_line_gets(session, e164: str) -> PhoneNumber:  # type: ignore[no-untyped-def]
    """Put a number of the demo tenant on the Support line (which rings the Support group)."""
    number = session.query(PhoneNumber).filter_by(e164=e164).one()
    number.line_id = session.query(Line).filter_by(name="Support line").one().id
    session.commit()
    return number


def test_a_group_that_rings_its_own_number_is_a_loop_naming_the_member(api, session, demo):
    number = _support_line_gets(session, "+18005550199")
    support = session.query(RingGroup).filter_by(name="Support").one()
    members_before = [(m.kind, m.user_id) for m in support.members]
    loop = "This member makes a loop: Support → +18005550199 on line Support line → Support."
    for member in (
        {"kind": "external", "target": "(800) 555-0199"},  # out through the trunk and back in
        {"kind": "did", "target": number.id},
    ):
        response = api.patch(
            f"/api/v1/ring-groups/{support.id}",
            json={"members": [{"kind": "user", "target": demo["agent_id"]}, member]},
        )
        assert response.status_code == 422, response.json
        assert response.json["errors"] == {"members-1-target": [loop]}
    # Through another group: Sales hunt rings Support, so Support may not ring Sales hunt's number.
    hunt = session.query(RingGroup).filter_by(name="Sales hunt").one()
    hunt_line = api.post(
        "/api/v1/lines",
        json={"name": "Hunt line", "destination_kind": "ring_group", "destination_target": hunt.id},
    )
    main = session.query(PhoneNumber).filter_by(e164="+18005550199").one()
    assert (
        api.patch(f"/api/v1/lines/{hunt_line.json['id']}", json={"number_ids": [main.id]}).status_code == 200
    )
    through = api.patch(
        f"/api/v1/ring-groups/{support.id}",
        json={"members": [{"kind": "external", "target": "+18005550199"}]},
    )
    assert through.status_code == 422
    assert through.json["errors"] == {
        "members-0-target": [
            "This member makes a loop: Support → +18005550199 on line Hunt line → Sales hunt → Support."
        ]
    }
    session.expire_all()
    assert [(m.kind, m.user_id) for m in session.get(RingGroup, support.id).members] == members_before


def test_a_new_group_that_rings_its_own_extension_is_a_loop(api, session):
    before = _counts(session)
    response = api.post(
        "/api/v1/ring-groups",
        json={"name": "Echo", "extension": "650", "members": [{"kind": "extension", "target": "650"}]},
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"members-0-target": ["This member makes a loop: Echo → Echo."]}
    assert _counts(session) == before


def test_external_numbers_that_are_not_the_tenants_own_are_no_loop(api, session):
    support = session.query(RingGroup).filter_by(name="Support").one()
    response = api.patch(
        f"/api/v1/ring-groups/{support.id}",
        json={"members": [{"kind": "external", "target": "+14155550188"}]},
    )
    assert response.status_code == 200, response.json


def test_a_sequential_group_longer_than_its_timeout_is_refused_with_the_numbers(api, session, demo):
    before = _counts(session)
    members = [
        {"kind": "user", "target": demo["agent_id"], "timeout": 20},
        {"kind": "external", "target": "+14155550188", "timeout": 30},
        {"kind": "extension", "target": "700", "timeout": 15},
    ]
    body = {"name": "Hunt", "extension": "650", "strategy": "sequential", "timeout": 60, "members": members}
    response = api.post("/api/v1/ring-groups", json=body)
    assert response.status_code == 422
    assert response.json["errors"] == {
        "timeout": [
            "The members ring one after another for 20 + 30 + 15 = 65 seconds, longer than the group's "
            "timeout of 60 seconds: raise the timeout to 65 or shorten the members' timeouts."
        ]
    }
    assert _counts(session) == before
    assert api.post("/api/v1/ring-groups", json=body | {"timeout": 65}).status_code == 201
    # Parallel members ring at once: their timeouts do not add up.
    parallel = body | {"extension": "651", "strategy": "parallel", "timeout": 30}
    assert api.post("/api/v1/ring-groups", json=parallel).status_code == 201
    # Turning a parallel group sequential checks the members it already has.
    group = session.query(RingGroup).filter_by(extension="651").one()
    turned = api.patch(f"/api/v1/ring-groups/{group.id}", json={"strategy": "sequential"})
    assert turned.status_code == 422 and "20 + 30 + 15 = 65 seconds" in turned.json["errors"]["timeout"][0]


def test_a_sequential_group_without_a_timeout_rings_as_long_as_its_members(api, demo):
    members = [
        {"kind": "user", "target": demo["agent_id"], "timeout": 25},
        {"kind": "extension", "target": "700"},
    ]
    response = api.post(
        "/api/v1/ring-groups",
        json={"name": "Hunt", "extension": "650", "strategy": "sequential", "members": members},
    )
    assert response.status_code == 201 and response.json["timeout"] == 45


def test_a_line_or_number_change_that_closes_a_loop_is_refused(api, session, demo):
    """The loop closed from the other side: the group already rings the number, then the number
    is routed to the group."""
    support = session.query(RingGroup).filter_by(name="Support").one()
    line = session.query(Line).filter_by(name="Support line").one()
    number = session.query(PhoneNumber).filter_by(e164="+18005550199").one()
    rings = api.patch(
        f"/api/v1/ring-groups/{support.id}",
        json={
            "members": [
                {"kind": "user", "target": demo["agent_id"]},
                {"kind": "external", "target": "+18005550199"},
            ]
        },
    )
    assert rings.status_code == 200, rings.json
    way_round = "Support → +18005550199 on line Support line → Support."
    through_line = api.patch(f"/api/v1/lines/{line.id}", json={"number_ids": [number.id]})
    assert through_line.status_code == 422
    assert through_line.json["errors"] == {
        "destination_target": [f"Calls to this line would loop: {way_round}"]
    }
    through_number = api.patch(f"/api/v1/numbers/{number.id}", json={"line_id": line.id})
    assert through_number.status_code == 422
    assert through_number.json["errors"] == {"line_id": [f"Calls to this number would loop: {way_round}"]}
    session.expire_all()
    assert session.get(PhoneNumber, number.id).line_id is None
    # Routed elsewhere, the number is fine.
    elsewhere = api.post(
        "/api/v1/lines",
        json={"name": "Desk", "destination_kind": "user", "destination_target": demo["agent_id"]},
    )
    assert (
        api.patch(f"/api/v1/numbers/{number.id}", json={"line_id": elsewhere.json["id"]}).status_code == 200
    )
    to_group = api.patch(
        f"/api/v1/lines/{elsewhere.json['id']}",
        json={"destination_kind": "ring_group", "destination_target": support.id},
    )
    assert to_group.status_code == 422 and "would loop: Support → +18005550199 on line Desk" in str(
        to_group.json
    )
