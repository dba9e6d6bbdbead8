"""The mod_xml_curl answer cache: current after every committed change, whichever process made
it, and free of database queries while nothing changed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from lxml import etree
from sqlalchemy import event
from sqlalchemy.orm import Session

from control import crypto, db, effects, jobs, model_changes
from control.db import utcnow
from control.models import User
from control.services import lines, number_lifecycle, numbers, tenants, users, xml_curl

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "pbx.cache.example"


def sip_auth(user: str, domain: str = DOMAIN) -> dict[str, str]:
    return {
        "section": "directory",
        "tag_name": "domain",
        "key_name": "name",
        "key_value": domain,
        "action": "sip_auth",
        "key": "id",
        "user": user,
        "domain": domain,
    }


def inbound(number: str, request_host: str = DOMAIN) -> dict[str, str]:
    return {
        "section": "dialplan",
        "Hunt-Context": "public",
        "Hunt-Destination-Number": number,
        "variable_sip_req_host": request_host,
    }


class OneSession:
    """The session factory a request gives the service: one session, made on first use."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.calls = 0

    def __call__(self) -> Session:
        self.calls += 1
        if self.session is None:
            self.session = db.new_session()
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


@pytest.fixture()
def world(xml_curl_on: redis.Redis) -> Iterator[dict]:
    client = xml_curl_on
    jobs.register_apply_handlers()
    with db.unit_of_work() as s:
        tenant = tenants.create_tenant(s, {"name": "Cache", "domain": DOMAIN})
        other = tenants.create_tenant(s, {"name": "Other", "domain": "other.cache.example"})
        alice = users.create_user(
            s, tenant.id, {"name": "Alice", "email": "a@cache.example", "extension": "100"}, None
        )
        olga = users.create_user(
            s, other.id, {"name": "Olga", "email": "o@cache.example", "extension": "100"}, None
        )
        ids = {"tenant": tenant.id, "other": other.id, "alice": alice.id, "olga": olga.id}
    sessions = OneSession()
    try:
        yield ids | {"sessions": sessions, "redis": client}
    finally:
        sessions.close()
        effects.clear_handlers()


def password(document: bytes) -> str:
    return etree.fromstring(document).find(".//user/params/param[@name='password']").get("value")


def secret(tenant_id: int, user_id: int) -> str:
    with db.unit_of_work() as s:
        return users.sip_secret(s, tenant_id, user_id, None)


@pytest.fixture()
def statements(database_url: str) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_each_domain_answers_its_own_tenant(world):
    mine = xml_curl.answer(sip_auth("100"), world["sessions"])
    theirs = xml_curl.answer(sip_auth("100", "other.cache.example"), world["sessions"])
    assert password(mine) == secret(world["tenant"], world["alice"])
    assert password(theirs) == secret(world["other"], world["olga"])
    assert etree.fromstring(theirs).find(".//domain").get("name") == "other.cache.example"
    assert xml_curl.answer(sip_auth("100", "PBX.Cache.Example"), world["sessions"]) == mine


def test_a_change_committed_by_another_process_is_in_the_next_answer(world, statements):
    before = password(xml_curl.answer(sip_auth("100"), world["sessions"]))
    statements.clear()
    assert password(xml_curl.answer(sip_auth("100"), world["sessions"])) == before
    assert statements == []
    script = (
        "import sys\n"
        "from control import db, jobs\n"
        "from control.services import users\n"
        "jobs.register_apply_handlers()\n"
        "with db.unit_of_work() as s:\n"
        "    users.regenerate_sip_secret(s, int(sys.argv[1]), int(sys.argv[2]), None)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(world["tenant"]), str(world["alice"])],
        cwd=ROOT,
        env=os.environ.copy(),
        check=True,
        timeout=60,
    )
    after = password(xml_curl.answer(sip_auth("100"), world["sessions"]))
    assert after != before and after == secret(world["tenant"], world["alice"])


def test_a_change_to_another_tenant_keeps_this_tenants_documents(world, statements):
    sessions = world["sessions"]
    first = xml_curl.answer(sip_auth("100"), sessions)
    answers = xml_curl._model().tenants[world["tenant"]]
    with db.unit_of_work() as s:
        users.regenerate_sip_secret(s, world["other"], world["olga"], None)
    statements.clear()
    assert xml_curl.answer(sip_auth("100"), sessions) is first
    assert xml_curl._model().tenants[world["tenant"]] is answers, "nothing of this tenant changed"
    assert statements, "the changed rows were read once"
    statements.clear()
    assert password(xml_curl.answer(sip_auth("100", "other.cache.example"), sessions)) == secret(
        world["other"], world["olga"]
    )


def test_a_new_tenant_and_a_domain_change_are_seen(world):
    sessions = world["sessions"]
    assert xml_curl.answer(sip_auth("100", "new.cache.example"), sessions) == xml_curl.NOT_FOUND
    with db.unit_of_work() as s:
        tenants.update_tenant(s, world["other"], {"name": "Other", "domain": "new.cache.example"}, None)
    document = xml_curl.answer(sip_auth("100", "new.cache.example"), sessions)
    assert password(document) == secret(world["other"], world["olga"])
    assert xml_curl.answer(sip_auth("100", "other.cache.example"), sessions) == xml_curl.NOT_FOUND


def test_a_new_change_log_starts_over(world):
    """Redis flushed (or another Redis): the log cannot say what changed, so everything is re-read."""
    sessions = world["sessions"]
    xml_curl.answer(sip_auth("100"), sessions)
    world["redis"].flushdb()
    with db.new_session() as s, s.begin():  # a write that bypasses the log, then a new log
        s.get(User, world["alice"]).sip_secret_enc = crypto.encrypt("rotated-outside-the-log")
    assert password(xml_curl.answer(sip_auth("100"), sessions)) == "rotated-outside-the-log"
    assert model_changes.generation()[1] == 0


def test_a_number_stops_routing_at_its_date_without_a_query(world, statements):
    sessions = world["sessions"]
    now = utcnow()
    with db.unit_of_work() as s:
        number = numbers.create_number(s, world["tenant"], {"number": "+12125550177"}, None)
        spare = numbers.create_number(s, world["tenant"], {"number": "+12125550179"}, None)
        number_lifecycle.flag_high_risk(s, world["tenant"], number.id, None)
        # Replaced 30 days less an hour ago: it is to be cancelled in an hour.
        replaced_at = now + timedelta(hours=1) - timedelta(days=number_lifecycle.CANCELLATION_DAYS)
        number_lifecycle.replace_number(
            s, world["tenant"], number.id, {"replacement_id": spare.id}, None, replaced_at
        )
        lines.create_line(
            s,
            world["tenant"],
            {
                "name": "Main",
                "destination_kind": "user",
                "destination_target": str(world["alice"]),
                "number_ids": [number.id],
            },
            None,
        )
    document = xml_curl.answer(inbound("+12125550177"), sessions, now=now)
    extension = etree.fromstring(document).find("section/context[@name='public']/extension")
    assert extension.find("condition").get("expression") == "^\\+?(12125550177)$"
    assert xml_curl.answer(inbound("12125550177"), sessions, now=now) == document
    assert xml_curl.answer(inbound("12125550178"), sessions, now=now) == xml_curl.NOT_FOUND
    statements.clear()
    later = xml_curl.answer(inbound("+12125550177"), sessions, now=now + timedelta(hours=2))
    assert later == xml_curl.NOT_FOUND
    assert statements == []


def test_lookups_that_are_not_answered(world):
    sessions = world["sessions"]
    unbound = [
        {
            "section": "configuration",
            "tag_name": "configuration",
            "key_name": "name",
            "key_value": "acl.conf",
        },
        sip_auth("100") | {"purpose": "network-list"},
        sip_auth("100") | {"action": "reverse-auth-lookup"},
        sip_auth("100") | {"key": "number-alias"},
        sip_auth(""),
        inbound("+12125550177") | {"Hunt-Context": "features"},
        {"section": "phrases"},
        {},
    ]
    for fields in unbound:
        assert xml_curl.lookup(fields) is None, fields
        assert xml_curl.answer(fields, sessions) == xml_curl.NOT_FOUND
    assert sessions.calls == 0, "nothing was read for them"


def a_line(tenant_id: int, user_id: int, e164: str) -> int:
    with db.unit_of_work() as s:
        number = numbers.create_number(s, tenant_id, {"number": e164}, None)
        line = lines.create_line(
            s,
            tenant_id,
            {
                "name": "Main",
                "destination_kind": "user",
                "destination_target": str(user_id),
                "number_ids": [number.id],
            },
            None,
        )
        return line.id


def line_names(document: bytes) -> list[str]:
    return [
        e.get("name") for e in etree.fromstring(document).findall("section/context[@name='public']/extension")
    ]


def test_an_inbound_number_is_found_by_itself_whatever_the_request_host(world, statements):
    """A carrier's INVITE names the PBX's address, not a tenant's domain: the number says whose it is."""
    sessions = world["sessions"]
    mine = a_line(world["tenant"], world["alice"], "+12125550188")
    theirs = a_line(world["other"], world["olga"], "+12125550199")
    by_address = xml_curl.answer(inbound("+12125550188", "203.0.113.5"), sessions)
    assert line_names(by_address) == [f"switchboard-line-{mine}"]
    assert xml_curl.answer(inbound("12125550188", "203.0.113.5"), sessions) == by_address
    # The same bytes as when the request named the tenant's domain; the number wins over a domain.
    assert xml_curl.answer(inbound("+12125550188"), sessions) == by_address
    assert line_names(xml_curl.answer(inbound("+12125550199"), sessions)) == [f"switchboard-line-{theirs}"]
    assert xml_curl.answer(inbound("+12125550177", "203.0.113.5"), sessions) == xml_curl.NOT_FOUND
    assert xml_curl.answer(inbound("+12125550188", "") | {"Hunt-Context": "default"}, sessions) == (
        xml_curl.NOT_FOUND
    )
    statements.clear()
    assert xml_curl.answer(inbound("+12125550188", "203.0.113.5"), sessions) == by_address
    assert xml_curl.answer(inbound("+12125550177", "203.0.113.5"), sessions) == xml_curl.NOT_FOUND
    assert statements == [], "an unchanged model costs no query"
    # A number added (or moved) later is found at the next fetch.
    newer = a_line(world["other"], world["olga"], "+12125550177")
    assert line_names(xml_curl.answer(inbound("+12125550177", "203.0.113.5"), sessions)) == [
        f"switchboard-line-{theirs}",
        f"switchboard-line-{newer}",
    ]
