"""The rules the services enforce reach the admin forms as a message next to the field (400,
nothing saved): invisible names, node folders, SIP URIs the renderer would refuse, ring groups
that loop through the tenant's own numbers, sequential groups longer than their timeout."""

from __future__ import annotations

import html
import re

import pytest

from control.models import Line, PbxNode, PhoneNumber, Queue, RingGroup, Team, User
from control.validators import SIP_URI
from tests.web.test_nodes import NODE

INVISIBLE = "Only invisible characters (zero-width or formatting marks): type visible text."


def _error(response, field: str) -> str:  # type: ignore[no-untyped-def]
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', response.data.decode())
    return html.unescape(match.group(1)) if match else ""


def _counts(session) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return tuple(session.query(model).count() for model in (User, Team, Line, Queue, RingGroup, PbxNode))


@pytest.mark.parametrize("name", ["\u200b", "\u200b\u2060\ufeff", "\u202e\u200f", " \u00ad\u200c "])
def test_names_of_only_invisible_characters_are_refused_next_to_the_field(admin_client, session, name):
    before = _counts(session)
    forms = [
        ("/users/new", {"name": name, "email": "frank@acme.example", "role": "agent", "language": "en"}),
        ("/teams/new", {"name": name}),
        ("/lines/new", {"name": name, "destination_kind": "hangup"}),
        ("/queues/new", {"name": name, "extension": "710", "strategy": "round_robin"}),
        ("/ring-groups/new", {"name": name, "extension": "650", "strategy": "parallel", "timeout": "30"}),
    ]
    for path, form in forms:
        response = admin_client.post(path, data=form)
        assert response.status_code == 400, path
        assert _error(response, "name") == INVISIBLE, path
    assert _counts(session) == before


@pytest.mark.parametrize(
    ("config_dir", "message"),
    [
        ("/", "/ is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/etc", "/etc is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/usr", "/usr is a system directory: name a folder of its own, like /etc/asterisk."),
        ("/etc/asterisk/..", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("/etc/asterisk/", "A normalised path: no '.' or '..' parts, no '//' and no '/' at the end."),
        ("/srv/pbx;reboot", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("/srv/$(id)", "Letters, digits and . _ + - between the slashes only: no blanks or shell characters."),
        ("etc/asterisk", "An absolute path on the PBX host, like /etc/asterisk."),
    ],
)  # fmt: skip
def test_node_folder_messages(admin_client, session, config_dir, message):
    before = _counts(session)
    response = admin_client.post("/nodes/new", data=NODE | {"config_dir": config_dir})
    assert response.status_code == 400
    assert _error(response, "config_dir") == message
    assert _counts(session) == before


def test_a_node_moved_into_a_system_directory_keeps_its_folder(admin_client, session):
    assert admin_client.post("/nodes/new", data=NODE | {"config_dir": "/etc/asterisk"}).status_code == 302
    node = session.query(PbxNode).filter_by(name="pbx-1").one()
    response = admin_client.post(f"/nodes/{node.id}/edit", data=NODE | {"secret": "", "config_dir": "/var"})
    assert response.status_code == 400 and _error(response, "config_dir").startswith(
        "/var is a system directory"
    )
    session.expire_all()
    assert session.get(PbxNode, node.id).config_dir == "/etc/asterisk"


def _group(**fields: str) -> dict:
    return {"name": "Partners", "extension": "650", "strategy": "parallel", "timeout": "30"} | fields


@pytest.mark.parametrize(
    "uri",
    [
        "sip:desk@-partner.example.com",
        "sip:desk@partner.example.com.",
        f"sip:{'u' * 65}@x.example",
        "sip:d@x.example:0",
    ],
)
def test_sip_uris_the_renderer_refuses_are_refused_in_the_form(admin_client, session, uri):
    before = _counts(session)
    response = admin_client.post(
        "/ring-groups/new", data=_group(**{"members-0-kind": "sip_uri", "members-0-target": uri})
    )
    assert response.status_code == 400
    assert _error(response, "members-0-target") == SIP_URI.message
    assert _counts(session) == before
    for kind in ("freeswitch", "asterisk"):
        assert admin_client.get(f"/render/{kind}").status_code == 200


def test_a_group_ringing_its_own_number_is_refused_naming_the_member(admin_client, session, demo):
    number = session.query(PhoneNumber).filter_by(e164="+18005550199").one()
    number.line_id = session.query(Line).filter_by(name="Support line").one().id
    session.commit()
    support = session.query(RingGroup).filter_by(name="Support").one()
    form = {
        "name": "Support",
        "strategy": "parallel",
        "timeout": "30",
        "members-0-kind": "external",
        "members-0-target": "1-800-555-0199",
    }
    response = admin_client.post(f"/ring-groups/{support.id}", data=form)
    assert response.status_code == 400
    assert (
        _error(response, "members-0-target")
        == "This member makes a loop: Support → +18005550199 on line Support line → Support."
    )
    session.expire_all()
    assert [m.kind for m in session.get(RingGroup, support.id).members] == ["user", "user"]


def test_a_sequential_group_longer_than_its_timeout_shows_the_numbers(admin_client, session, demo):
    bob = str(session.query(User).filter_by(extension="1002").one().id)
    form = _group(
        strategy="sequential",
        timeout="40",
        **{
            "members-0-kind": "user",
            "members-0-target": bob,
            "members-0-timeout": "25",
            "members-1-kind": "extension",
            "members-1-target": "700",
            "members-1-timeout": "20",
        },
    )
    response = admin_client.post("/ring-groups/new", data=form)
    assert response.status_code == 400
    assert _error(response, "timeout") == (
        "The members ring one after another for 25 + 20 = 45 seconds, longer than the group's timeout "
        "of 40 seconds: raise the timeout to 45 or shorten the members' timeouts."
    )
    assert admin_client.post("/ring-groups/new", data=form | {"timeout": "45"}).status_code == 302
