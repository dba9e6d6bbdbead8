"""The mod_xml_curl endpoint, fed the exact POSTs a real FreeSWITCH 1.11 sent.

tests/fixtures/freeswitch-wire/xmlcurl-*.txt were captured from FreeSWITCH posting to
`http://127.0.0.1:8088/fsapi` without credentials (see that folder's README). Each is replayed
over a real TCP connection to the app served by a real HTTP server, body and headers byte for
byte; only the request line's path becomes /freeswitch/xml-curl and, where the test says so,
the `Authorization: Basic` header libcurl adds after `Host` when the binding has
`gateway-credentials` is inserted. The model is made through the services: tenant domain
192.0.2.2, users 1000 and 1001 (as in the captures), 1002 suspended, a ring group 600.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from lxml import etree
from sqlalchemy import event
from werkzeug.serving import make_server

from control import config, db
from control.models import User
from control.render import names
from control.services import lines, numbers, ring_groups, tenants, users, xml_curl
from control.text import clean_text
from tests.conftest import XML_CURL_PASSWORD, XML_CURL_USER
from tests.render.hostile import FRAGMENTS

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "freeswitch-wire"
NOT_FOUND = b'<document type="freeswitch/xml"><section name="result"><result status="not found"/></section></document>'
DOMAIN = "192.0.2.2"
#: The hang-up hook every Switchboard extension sets (dialplan/kept_end.xml), as FreeSWITCH reads it.
KEPT_END_HOOK = (
    "api_hangup_hook=hash insert/switchboard_ended/${uuid}/"
    r"\\\${start_uepoch},\\\${answer_uepoch},\\\${end_uepoch},\\\${billsec},\\\${hangup_cause},"
    r"\\\${sb_ring_group},\\\${sb_queue}"
)


def captured_requests(name: str) -> list[bytes]:
    """The POSTs of one capture file, each cut by its Content-Length (a file may hold several)."""
    raw = (CAPTURES / name).read_bytes()
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        found.append(head + b"\r\n\r\n" + rest[:length])
        raw = rest[length:]
    return found


def to_endpoint(
    raw: bytes, credentials: tuple[str, str] | None = (XML_CURL_USER, XML_CURL_PASSWORD)
) -> bytes:
    assert raw.startswith(b"POST /fsapi HTTP/1.1\r\n")
    raw = b"POST /freeswitch/xml-curl HTTP/1.1\r\n" + raw[len(b"POST /fsapi HTTP/1.1\r\n") :]
    if credentials is None:
        return raw
    token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode())
    host_end = raw.index(b"\r\n", raw.index(b"\r\nHost: ") + 2) + 2
    return raw[:host_end] + b"Authorization: Basic " + token + b"\r\n" + raw[host_end:]


def with_fields(raw: bytes, **changes: str) -> bytes:
    """The captured request with some form values replaced (Content-Length follows)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    for name, value in changes.items():
        key = name.replace("_", "-") if name[0].isupper() else name
        body, count = re.subn(
            rb"(^|&)" + re.escape(key.encode()) + rb"=[^&]*",
            rb"\g<1>" + key.encode() + b"=" + value.encode(),
            body,
        )
        assert count == 1, name
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(body), head)
    return head + b"\r\n\r\n" + body


def with_added_field(raw: bytes, name: str, value: str) -> bytes:
    """The captured request with one more form field at the end (Content-Length follows)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    body += b"&" + name.encode() + b"=" + value.encode()
    head = re.sub(rb"Content-Length: \d+", b"Content-Length: %d" % len(body), head)
    return head + b"\r\n\r\n" + body


@dataclass
class Reply:
    status: int
    content_type: str
    headers: http.client.HTTPMessage
    body: bytes

    def xml(self) -> etree._Element:
        assert self.status == 200, (self.status, self.body)
        assert self.content_type.split(";")[0] == "text/xml"
        return etree.fromstring(self.body)


@dataclass
class Wire:
    port: int
    tenant_id: int
    ids: dict[str, int]

    def send(self, raw: bytes, source: str = "127.0.0.1") -> Reply:
        with socket.create_connection(
            ("127.0.0.1", self.port), timeout=10, source_address=(source, 0)
        ) as sock:
            sock.sendall(raw)
            response = http.client.HTTPResponse(sock, method="POST")
            response.begin()
            body = response.read()
            return Reply(response.status, response.headers.get("Content-Type", ""), response.headers, body)

    def replay(self, name: str, **changes: str) -> Reply:
        (raw,) = captured_requests(name)
        return self.send(to_endpoint(with_fields(raw, **changes) if changes else raw))


@pytest.fixture()
def wire(xml_curl_on: redis.Redis, app) -> Iterator[Wire]:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        tenant = tenants.create_tenant(s, {"name": "Wire capture", "domain": DOMAIN})
        made = {
            ext: users.create_user(
                s, tenant.id, {"name": name, "email": f"{ext}@wire.example", "extension": ext}, None
            )
            for ext, name in (("1000", "Alice"), ("1001", "Bob"), ("1002", "Carol"))
        }
        users.set_flag(s, tenant.id, made["1002"].id, "suspended", True, None)
        ids = {ext: user.id for ext, user in made.items()}
        group = ring_groups.create_ring_group(
            s,
            tenant.id,
            {"name": "Sales", "extension": "600", "strategy": "parallel", "timeout": 20,
             "members": [{"kind": "user", "target": str(ids["1000"]), "timeout": 15},
                         {"kind": "user", "target": str(ids["1001"]), "timeout": 15}]},
            None,
        )  # fmt: skip
        ids["600"] = group.id
        tenant_id = tenant.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield Wire(server.server_port, tenant_id, ids)
    finally:
        server.shutdown()
        thread.join(5)


def sip_secret(wire: Wire, ext: str) -> str:
    with db.unit_of_work() as s:
        return users.sip_secret(s, wire.tenant_id, wire.ids[ext], None)


def the_user(document: etree._Element, ext: str) -> etree._Element:
    (section,) = document.findall("section")
    assert document.tag == "document" and document.get("type") == "freeswitch/xml"
    assert section.get("name") == "directory"
    (domain,) = section.findall("domain")
    assert domain.get("name") == DOMAIN
    dial_string = domain.find("params/param[@name='dial-string']").get("value")
    assert (
        dial_string
        == "{presence_id=${dialed_user}@${dialed_domain}}${sofia_contact(*/${dialed_user}@${dialed_domain})}"
    )
    users = {u.get("id"): u for u in domain.findall("groups/group/users/user")}
    # a person's file: their desk phone's SIP user and their webphone's (names.webphone_user)
    owner = names.device_owner(ext)
    assert sorted(users) == [owner, names.webphone_user(owner)]
    return users[ext]


def params(user: etree._Element, kind: str) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in user.findall(f"{kind}s/{kind}")}


def test_sip_auth_on_register_answers_the_user_with_the_model_password(wire: Wire):
    reply = wire.replay("xmlcurl-directory-register.txt")
    user = the_user(reply.xml(), "1000")
    password = params(user, "param")["password"]
    assert password == sip_secret(wire, "1000") and len(password) >= 20
    assert re.fullmatch(r"[0-9]{6}", params(user, "param")["vm-password"])
    variables = params(user, "variable")
    assert variables["user_context"] == "default"
    assert variables["effective_caller_id_name"] == "Alice"
    assert variables["effective_caller_id_number"] == "1000"


def test_sip_auth_on_invite_user_call_and_user_data_answer_the_right_user(wire: Wire):
    invite = wire.replay("xmlcurl-directory-invite-auth.txt")
    assert params(the_user(invite.xml(), "1000"), "param")["password"] == sip_secret(wire, "1000")
    for name in ("xmlcurl-directory-user-call.txt", "xmlcurl-directory-user-data.txt"):
        user = the_user(wire.replay(name).xml(), "1001")
        assert params(user, "param")["password"] == sip_secret(wire, "1001")
        assert params(user, "variable")["effective_caller_id_name"] == "Bob"


def test_the_webphones_register_is_answered_with_its_own_user(wire: Wire):
    reply = wire.replay(
        "xmlcurl-directory-register.txt", user="1000-webphone", sip_auth_username="1000-webphone"
    )
    user = the_user(reply.xml(), "1000-webphone")
    assert params(user, "param") == {"password": sip_secret(wire, "1000")}
    variables = params(user, "variable")
    assert variables["effective_caller_id_number"] == "1000"
    assert variables["presence_id"] == f"1000@{DOMAIN}"


def test_the_answer_is_the_static_directory_fragment(wire: Wire):
    """Dynamic and static modes read the same render: the user element is the deployed file's."""
    from control.render import render_tenant

    with db.unit_of_work() as s:
        rendered = render_tenant(s, wire.tenant_id, "freeswitch")
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    static_user = etree.fromstring(rendered.files["directory/1000.xml"], parser).find("user")
    dynamic_user = the_user(wire.replay("xmlcurl-directory-register.txt").xml(), "1000")
    assert etree.tostring(dynamic_user) == etree.tostring(static_user)


def test_unknown_suspended_other_domain_and_unbound_lookups_are_not_found(wire: Wire):
    cases = [
        wire.replay("xmlcurl-directory-register.txt", user="1005", sip_auth_username="1005"),
        wire.replay("xmlcurl-directory-register.txt", user="1002", sip_auth_username="1002"),
        wire.replay("xmlcurl-directory-user-call.txt", user="1002"),
        wire.replay("xmlcurl-directory-register.txt", key_value="other.example", domain="other.example"),
        wire.replay("xmlcurl-directory-user-data.txt", user="..%2F1000"),
        wire.replay("xmlcurl-directory-network-list.txt"),
    ]
    cases += [wire.send(to_endpoint(raw)) for raw in captured_requests("xmlcurl-configuration.txt")]
    assert len(cases) == 9
    for reply in cases:
        assert reply.status == 200 and reply.content_type.split(";")[0] == "text/xml"
        assert reply.body == NOT_FOUND


def test_dialplan_fetch_for_a_number_switchboard_does_not_route_is_not_found(wire: Wire):
    """The captured call to 9196 (the stock echo test): not one of the tenant's extensions, so
    FreeSWITCH goes on with its static default context, exactly as the capture's answer made it."""
    assert wire.replay("xmlcurl-dialplan-call.txt").body == NOT_FOUND


def test_dialplan_fetch_for_a_tenant_extension_answers_the_default_context(wire: Wire):
    reply = wire.replay(
        "xmlcurl-dialplan-call.txt", Hunt_Destination_Number="1001", Caller_Destination_Number="1001"
    )
    document = reply.xml()
    (section,) = document.findall("section")
    assert section.get("name") == "dialplan"
    (context,) = section.findall("context")
    assert context.get("name") == "default"
    extensions = {e.get("name"): e for e in context.findall("extension")}
    assert set(extensions) == {"switchboard-group-600", "switchboard-user-1000", "switchboard-user-1001"}
    matched, dnd = extensions["switchboard-user-1001"].findall("condition")
    assert matched.get("field") == "destination_number" and matched.get("expression") == "^1001$"
    assert [(a.get("application"), a.get("data")) for a in matched.findall("action")] == [
        ("set", KEPT_END_HOOK)
    ]
    # Do Not Disturb, live: the user's entry in mod_hash, else the model's state (off).
    assert dnd.get("field") == "${hash(select/switchboard_dnd/1001@192.0.2.2)}/0"
    assert [(a.get("application"), a.get("data")) for a in dnd] == [
        ("respond", "486 Busy Here"),
        ("set", "hangup_after_bridge=true"),
        ("bridge", "{originate_timeout=30}user/1001@192.0.2.2"),
    ]
    group = extensions["switchboard-group-600"].find("condition/action[@application='bridge']").get("data")
    assert (
        group
        == "{ignore_early_media=true,originate_timeout=20}[leg_timeout=15]${sb_dial_1000},[leg_timeout=15]${sb_dial_1001}"
    )
    assert not document.findall(".//X-PRE-PROCESS")
    # The same context for the ring group; another context, or a domain not ours: not found.
    assert wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="600").body == reply.body
    assert wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="1002").body == NOT_FOUND
    assert (
        wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="1001", Hunt_Context="features").body
        == NOT_FOUND
    )
    other = wire.replay(
        "xmlcurl-dialplan-call.txt",
        Hunt_Destination_Number="1001",
        variable_domain_name="other.example",
        variable_sip_req_host="other.example",
    )
    assert other.body == NOT_FOUND


def test_an_inbound_did_is_routed_by_its_number_whatever_the_request_host(wire: Wire):
    """A carrier's INVITE on the external profile names the PBX's address (here 198.51.100.7), and
    the caller never authenticated: the dialled number alone says whose line answers."""
    with db.unit_of_work() as s:
        number = numbers.create_number(s, wire.tenant_id, {"number": "+12125550142"}, None)
        line = lines.create_line(
            s,
            wire.tenant_id,
            {"name": "Front desk", "destination_kind": "ring_group", "destination_target": str(wire.ids["600"]),
             "number_ids": [number.id]},
            None,
        )  # fmt: skip
    carrier = {
        "Hunt_Context": "public",
        "Caller_Context": "public",
        "variable_domain_name": "198.51.100.7",
        "variable_sip_req_host": "198.51.100.7",
    }
    reply = wire.replay(
        "xmlcurl-dialplan-call.txt",
        Hunt_Destination_Number="%2B12125550142",
        Caller_Destination_Number="%2B12125550142",
        **carrier,
    )
    (context,) = reply.xml().findall("section/context")
    assert context.get("name") == "public"
    (extension,) = context.findall("extension")
    assert extension.get("name") == f"switchboard-line-{line.id}"
    assert extension.find("condition").get("expression") == "^\\+?(12125550142)$"
    without_plus = wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="12125550142", **carrier)
    assert without_plus.body == reply.body
    unknown = wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="12125550143", **carrier)
    assert unknown.body == NOT_FOUND
    # The line transfers the call to 600 in "default": the DID it set (sb_did) says whose
    # context that is, the carrier's host does not.
    (raw,) = captured_requests("xmlcurl-dialplan-call.txt")
    transferred = with_fields(raw, Hunt_Destination_Number="600", **(carrier | {"Hunt_Context": "default"}))
    group = wire.send(to_endpoint(with_added_field(transferred, "variable_sb_did", "%2B12125550142")))
    (context,) = group.xml().findall("section/context")
    assert context.get("name") == "default"
    assert "switchboard-group-600" in {e.get("name") for e in context.findall("extension")}
    stranger = wire.send(to_endpoint(with_added_field(transferred, "variable_sb_did", "12125550143")))
    assert stranger.body == NOT_FOUND


def test_without_or_with_wrong_credentials_the_answer_is_401(wire: Wire):
    (raw,) = captured_requests("xmlcurl-directory-register.txt")
    for credentials in (None, (XML_CURL_USER, "wrong-password"), ("someone", XML_CURL_PASSWORD), ("", "")):
        reply = wire.send(to_endpoint(raw, credentials))
        assert reply.status == 401, credentials
        assert reply.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert b"document" not in reply.body and XML_CURL_PASSWORD.encode() not in reply.body
    bearer = to_endpoint(raw, None).replace(
        b"\r\nUser-Agent", b"\r\nAuthorization: Bearer x\r\nUser-Agent", 1
    )
    assert wire.send(bearer).status == 401


def test_an_address_outside_the_allow_list_gets_403_even_with_credentials(wire: Wire):
    (raw,) = captured_requests("xmlcurl-directory-register.txt")
    reply = wire.send(to_endpoint(raw), source="127.0.0.2")
    assert reply.status == 403 and b"document" not in reply.body
    assert wire.send(to_endpoint(raw, None), source="127.0.0.2").status == 403


def test_without_a_configured_password_the_endpoint_is_off(wire: Wire, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SWITCHBOARD_XML_CURL_PASSWORD")
    config.reset_settings()
    (raw,) = captured_requests("xmlcurl-directory-register.txt")
    for credentials in (None, (XML_CURL_USER, ""), (XML_CURL_USER, XML_CURL_PASSWORD)):
        reply = wire.send(to_endpoint(raw, credentials))
        assert reply.status == 403 and b"document" not in reply.body


def test_get_is_not_allowed_and_csrf_does_not_apply(wire: Wire, xml_curl_on: redis.Redis):
    from web.app import create_app

    # An app with CSRF protection on, as in production: the endpoint still answers.
    production_like = create_app()
    with production_like.test_client() as client:
        token = base64.b64encode(f"{XML_CURL_USER}:{XML_CURL_PASSWORD}".encode()).decode()
        (raw,) = captured_requests("xmlcurl-directory-register.txt")
        body = raw.partition(b"\r\n\r\n")[2]
        response = client.post(
            "/freeswitch/xml-curl",
            data=body,
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200 and b'<user id="1000">' in response.data
        assert (
            client.get("/freeswitch/xml-curl", headers={"Authorization": f"Basic {token}"}).status_code == 405
        )


def test_a_password_change_through_the_service_is_in_the_next_answer(wire: Wire):
    before = params(the_user(wire.replay("xmlcurl-directory-register.txt").xml(), "1000"), "param")[
        "password"
    ]
    with db.unit_of_work() as s:
        users.regenerate_sip_secret(s, wire.tenant_id, wire.ids["1000"], None)
    after = params(the_user(wire.replay("xmlcurl-directory-register.txt").xml(), "1000"), "param")["password"]
    assert after != before and after == sip_secret(wire, "1000")
    with db.unit_of_work() as s:
        users.set_flag(s, wire.tenant_id, wire.ids["1000"], "suspended", True, None)
    assert wire.replay("xmlcurl-directory-register.txt").body == NOT_FOUND
    dialplan = wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="1001").xml()
    assert "switchboard-user-1000" not in {e.get("name") for e in dialplan.iter("extension")}
    with db.unit_of_work() as s:
        created = users.create_user(
            s, wire.tenant_id, {"name": "Dan", "email": "d@wire.example", "extension": "1003"}, None
        )
        new_id = created.id
    user = the_user(wire.replay("xmlcurl-directory-register.txt", user="1003").xml(), "1003")
    with db.unit_of_work() as s:
        assert params(user, "param")["password"] == users.sip_secret(s, wire.tenant_id, new_id, None)


def test_no_database_query_while_the_model_does_not_change(wire: Wire):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        for name in ("xmlcurl-directory-register.txt", "xmlcurl-directory-user-call.txt"):
            wire.replay(name)  # the first fetches build the answers
        wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="1001")
        assert statements, "the first fetches read the model"
        statements.clear()
        for _ in range(20):
            assert wire.replay("xmlcurl-directory-register.txt").status == 200
            assert wire.replay("xmlcurl-directory-user-data.txt").status == 200
            assert wire.replay("xmlcurl-dialplan-call.txt", Hunt_Destination_Number="1001").status == 200
            assert wire.replay("xmlcurl-dialplan-call.txt").body == NOT_FOUND
            assert wire.replay("xmlcurl-directory-register.txt", user="7777").body == NOT_FOUND
            assert wire.replay("xmlcurl-directory-register.txt", key_value="x.example").body == NOT_FOUND
        assert statements == []
        with db.unit_of_work() as s:
            users.update_user(s, wire.tenant_id, wire.ids["1001"], {"name": "Bobby"}, None)
        statements.clear()
        user = the_user(wire.replay("xmlcurl-directory-user-call.txt").xml(), "1001")
        assert params(user, "variable")["effective_caller_id_name"] == "Bobby"
        assert statements, "a change is read from the database once"
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_hostile_names_are_escaped_in_the_answers(wire: Wire):
    printable = [f for f in FRAGMENTS if f.isprintable() and "\\" not in f]
    hostile = "".join(sorted(printable, key=lambda f: ("X-PRE" not in f, "$" not in f)))[:120]
    assert "X-PRE-PROCESS" in hostile and "$${domain}" in hostile and "${system(" in hostile
    with db.unit_of_work() as s:
        users.update_user(s, wire.tenant_id, wire.ids["1000"], {"name": hostile}, None)
    reply = wire.replay("xmlcurl-directory-register.txt")
    document = reply.xml()
    assert not document.findall(".//X-PRE-PROCESS") and not document.findall(".//include")
    user = the_user(document, "1000")
    # the one expression is Switchboard's own: the dial-string of the person's devices
    (dial_string,) = user.findall("params/param[@name='dial-string']")
    assert dial_string.get("value") == names.fs_devices("1000", DOMAIN)
    user.find("params").remove(dial_string)
    assert b"$" not in etree.tostring(user), "no expression can be formed from a name"
    value = params(user, "variable")["effective_caller_id_name"]
    assert value == clean_text(hostile).replace("$", "\uff04")
    webphone = the_user(document, "1000-webphone")
    assert b"$" not in etree.tostring(webphone)
    assert len(document.findall(".//user")) == 2  # the person's desk phone and webphone


def test_a_model_that_does_not_render_answers_503_and_is_not_rendered_again(wire: Wire):
    """FreeSWITCH keeps its static XML on any status but 200; the broken render is not retried
    on every fetch, only after the next change."""
    with db.new_session() as s, s.begin():  # a row the services would refuse
        s.get(User, wire.ids["1001"]).extension = "10 01"
    xml_curl.forget()  # a process that starts now
    statements: list[str] = []
    engine = db.engine()

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        first = wire.replay("xmlcurl-directory-register.txt")
        assert first.status == 503 and b"document" not in first.body
        statements.clear()
        assert wire.replay("xmlcurl-directory-register.txt").status == 503
        assert statements == []
    finally:
        event.remove(engine, "before_cursor_execute", count)
    with db.unit_of_work() as s:
        users.update_user(s, wire.tenant_id, wire.ids["1001"], {"extension": "1001"}, None)
    assert wire.replay("xmlcurl-directory-register.txt").status == 200
