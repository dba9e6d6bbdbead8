"""A number's life through the services: the inventory provider, buying, documents and approval,
high risk, replacement and the release at cancel_at, and the status-change hook."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta
from importlib.metadata import EntryPoint

import pytest
from sqlalchemy import select

from control import number_providers
from control.db import new_session, unit_of_work
from control.errors import Conflict, Forbidden, Invalid
from control.models import AuditLog, AutomationRun, InventoryNumber, Line, PhoneNumber, User
from control.number_providers import InventoryProvider, NumberQuery
from control.services import automations, lines, number_documents, number_lifecycle, number_rules, numbers

INVENTORY = """number,type
+33 1 23 45 67 01,local
+33123456702,local
+33612345603,mobile
+12125550150,
+12125550151,
"""
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20 + b"IEND\xaeB`\x82"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20 + b"\xff\xd9"
NOW = datetime(2030, 3, 1, 12, 0, 0)


@pytest.fixture()
def tenant(demo) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work() as s:
        number_providers.load_inventory(s, demo["tenant_id"], INVENTORY)
    return demo["tenant_id"]


@pytest.fixture()
def approver(demo) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work() as s:
        number_lifecycle.set_approver(s, s.get(User, demo["admin_id"]), True, None)
    return demo["admin_id"]


def _status(e164: str) -> str:
    with unit_of_work() as s:
        return s.scalar(select(PhoneNumber.status).where(PhoneNumber.e164 == e164)) or ""


def _for_sale(tenant_id: int, e164: str) -> bool:
    with unit_of_work() as s:
        row = s.scalar(
            select(InventoryNumber).where(
                InventoryNumber.tenant_id == tenant_id, InventoryNumber.e164 == e164
            )
        )
        return row is not None and row.available


def test_the_inventory_loads_reports_bad_lines_and_searches(tenant):
    with unit_of_work() as s:
        again = number_providers.load_inventory(s, tenant, INVENTORY + "+33123456704,local\n")
    assert (again.added, again.already) == (1, 5)
    for bad, message in [
        ("phone\n+33123456705\n", "column"),
        ("number\n+33123456705\nnot a number\n", "Line 3:"),
        ("number,type\n+33123456706,satellite\n", "Line 2: type must be one of"),
        ("number\n\n", "no numbers"),
    ]:
        with pytest.raises(Invalid) as caught, unit_of_work() as s:
            number_providers.load_inventory(s, tenant, bad)
        assert message in " ".join(caught.value.errors["file"]), bad
    assert not _for_sale(tenant, "+33123456705")
    with unit_of_work() as s:
        seller = number_providers.provider(s, tenant)
        assert isinstance(seller, InventoryProvider)
        french = [n.e164 for n in seller.search(NumberQuery(country="fr"))]
        mobile = [n.e164 for n in seller.search(NumberQuery(country="FR", number_type="mobile"))]
        by_digits = [n.e164 for n in seller.search(NumberQuery(digits="67 02"))]
        us = seller.search(NumberQuery(country="US"))
    assert french == ["+33123456701", "+33123456702", "+33123456704", "+33612345603"]
    assert mobile == ["+33612345603"] and by_digits == ["+33123456702"]
    assert {n.e164: n.number_type for n in us}["+12125550150"] == "fixed_line_or_mobile"  # the plan's


def test_buying_is_active_at_once_or_pending_where_the_country_needs_documents(tenant):
    with unit_of_work() as s:
        number_rules.set_rule(s, tenant, {"country": "fr", "documents": "Proof of address"}, None)
        us = number_lifecycle.buy_number(s, tenant, "+12125550150", None)
        fr = number_lifecycle.buy_number(s, tenant, "+33123456701", None)
        assert (us.status, us.provider, fr.status) == ("active", "inventory", "pending")
    assert not _for_sale(tenant, "+12125550150") and not _for_sale(tenant, "+33123456701")
    with pytest.raises(Conflict, match="already in the system"), unit_of_work() as s:
        number_lifecycle.buy_number(s, tenant, "+12125550150", None)
    with pytest.raises(Conflict, match="no longer for sale"), unit_of_work() as s:
        number_lifecycle.buy_number(s, tenant, "+12125550199", None)
    with pytest.raises(Invalid) as caught, unit_of_work() as s:
        number_lifecycle.buy_number(s, tenant, "not a number", None)
    assert "e164" in caught.value.errors


def test_documents_are_told_by_content_capped_and_stored_privately(tenant, data_dir):
    with unit_of_work() as s:
        number_rules.set_rule(s, tenant, {"country": "FR"}, None)
        number_id = number_lifecycle.buy_number(s, tenant, "+33123456701", None).id
    for content in (PDF, PNG, JPEG):
        with unit_of_work() as s:
            number_documents.add_document(s, tenant, number_id, "../../etc/passwd\\scan.pdf", content, None)
    for content, message in [
        (b"<html>not a pdf</html>", "PDF, PNG or JPEG"),
        (b"%PDF-1.4 but cut short", "PDF, PNG or JPEG"),
        (PDF[:-6] + b"x" * number_documents.MAX_DOCUMENT_BYTES + b"%%EOF\n", "at most 5 MB"),
    ]:
        with pytest.raises(Invalid) as caught, unit_of_work() as s:
            number_documents.add_document(s, tenant, number_id, "x.pdf", content, None)
        assert message in caught.value.errors["document"][0]
    with unit_of_work() as s:
        stored = number_documents.list_documents(s, tenant, number_id)
        paths = [number_documents.document_path(d) for d in stored]
        kinds = [d.content_type for d in stored]
        names = {d.filename for d in stored}
    assert kinds == ["application/pdf", "image/png", "image/jpeg"] and names == {"scan.pdf"}
    for path in paths:
        assert path.is_relative_to(data_dir) and "passwd" not in path.name and "scan" not in path.name
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert paths[0].read_bytes() == PDF
    with pytest.raises(Conflict), unit_of_work() as s:  # an active number needs none
        active = number_lifecycle.buy_number(s, tenant, "+12125550150", None)
        s.flush()
        number_documents.add_document(s, tenant, active.id, "a.pdf", PDF, None)


def test_only_a_number_approver_approves_and_only_with_documents(tenant, demo):
    with unit_of_work() as s:
        number_rules.set_rule(s, tenant, {"country": "FR"}, None)
        number_id = number_lifecycle.buy_number(s, tenant, "+33123456701", None).id
    with pytest.raises(Forbidden), unit_of_work() as s:
        number_lifecycle.approve_number(s, tenant, number_id, s.get(User, demo["admin_id"]))
    with pytest.raises(Invalid), unit_of_work() as s:
        number_lifecycle.set_approver(s, s.get(User, demo["agent_id"]), True, None)
    with unit_of_work() as s:
        number_lifecycle.set_approver(s, s.get(User, demo["admin_id"]), True, None)
    with pytest.raises(Conflict, match="no documents yet"), unit_of_work() as s:
        number_lifecycle.approve_number(s, tenant, number_id, s.get(User, demo["admin_id"]))
    with unit_of_work() as s:
        number_documents.add_document(s, tenant, number_id, "id.pdf", PDF, None)
    with unit_of_work() as s:
        approved = number_lifecycle.approve_number(s, tenant, number_id, s.get(User, demo["admin_id"]))
        assert approved.status == "active" and approved.approved_by_id == demo["admin_id"]
    with pytest.raises(Conflict), unit_of_work() as s:
        number_lifecycle.approve_number(s, tenant, number_id, s.get(User, demo["admin_id"]))


def _line_with(s, tenant_id: int, number_id: int, user_id: int) -> Line:  # type: ignore[no-untyped-def]
    return lines.create_line(
        s,
        tenant_id,
        {
            "name": "Sales direct",
            "destination_kind": "user",
            "destination_target": str(user_id),
            "number_ids": [number_id],
            "default_caller_id_id": number_id,
        },
        None,
    )


def test_replace_moves_everything_at_once_and_releases_at_cancel_at(tenant, demo):
    with unit_of_work() as s:
        old = number_lifecycle.buy_number(s, tenant, "+12125550150", None)
        s.flush()
        line = _line_with(s, tenant, old.id, demo["agent_id"])
        numbers.update_number(s, tenant, old.id, {"user_id": demo["agent_id"]}, None)
        s.get(User, demo["agent_id"]).caller_id_number_id = old.id
        old_id, line_id = old.id, line.id
    with pytest.raises(Conflict, match="cannot be replaced"), unit_of_work() as s:
        number_lifecycle.replace_number(s, tenant, old_id, {"buy": "+12125550151"}, None, NOW)
    with unit_of_work() as s:
        number_lifecycle.flag_high_risk(s, tenant, old_id, None)
    with pytest.raises(Invalid) as caught, unit_of_work() as s:
        number_lifecycle.replace_number(s, tenant, old_id, {}, None, NOW)
    assert "replacement_id" in caught.value.errors
    with unit_of_work() as s:
        new = number_lifecycle.replace_number(s, tenant, old_id, {"buy": "+12125550151"}, None, NOW)
        new_id = new.id
    with unit_of_work() as s:
        old, new = s.get(PhoneNumber, old_id), s.get(PhoneNumber, new_id)
        assert (new.status, new.line_id, new.user_id) == ("active", line_id, demo["agent_id"])
        assert old.status == "to_be_cancelled" and old.cancel_at == NOW + timedelta(days=30)
        assert old.line_id == line_id and old.replaced_by_id == new_id  # still answers on its line
        assert s.get(Line, line_id).default_caller_id_id == new_id
        assert s.get(User, demo["agent_id"]).caller_id_number_id == new_id
        routed = {n.e164 for n in s.get(Line, line_id).numbers}
    assert routed == {"+12125550150", "+12125550151"}
    assert not _for_sale(tenant, "+12125550151")

    with unit_of_work() as s:  # a day early: nothing happens
        assert number_lifecycle.finish_cancellation(s, old_id, NOW + timedelta(days=29)) is None
    assert _status("+12125550150") == "to_be_cancelled"
    with unit_of_work() as s:
        assert number_lifecycle.finish_cancellation(s, old_id, NOW + timedelta(days=30)) is not None
    with unit_of_work() as s:
        old = s.get(PhoneNumber, old_id)
        assert old.status == "released" and old.line_id is None and old.user_id is None
        assert [n.e164 for n in s.get(Line, line_id).numbers] == ["+12125550151"]
        actions = list(s.scalars(select(AuditLog.action).where(AuditLog.target_id == old_id)))
    assert "number.cancelled" in actions and "number.replace" in actions
    assert _for_sale(tenant, "+12125550150")  # back in the inventory


def test_a_replacement_from_the_tenants_numbers_and_its_cancellation(tenant, demo):
    with unit_of_work() as s:
        old = number_lifecycle.buy_number(s, tenant, "+12125550150", None)
        spare = number_lifecycle.buy_number(s, tenant, "+12125550151", None)
        s.flush()
        number_lifecycle.flag_high_risk(s, tenant, old.id, None)
        old_id, spare_id = old.id, spare.id
        used = numbers.create_number(s, tenant, {"number": "+12125550160", "team_id": None}, None)
        numbers.update_number(s, tenant, used.id, {"line_id": s.scalars(select(Line.id)).first()}, None)
        used_id = used.id
    with pytest.raises(Invalid) as caught, unit_of_work() as s:  # assigned already
        number_lifecycle.replace_number(s, tenant, old_id, {"replacement_id": used_id}, None, NOW)
    assert "replacement_id" in caught.value.errors
    with unit_of_work() as s:
        number_rules.set_rule(s, tenant, {"country": "FR"}, None)
    with pytest.raises(Invalid) as caught, unit_of_work() as s:  # would be pending: not a replacement
        number_lifecycle.replace_number(s, tenant, old_id, {"buy": "+33123456701"}, None, NOW)
    assert "buy" in caught.value.errors and _for_sale(tenant, "+33123456701")
    with unit_of_work() as s:
        number_lifecycle.replace_number(s, tenant, old_id, {"replacement_id": spare_id}, None, NOW)
    with unit_of_work() as s:
        kept = number_lifecycle.cancel_replacement(s, tenant, old_id, None)
        assert (kept.status, kept.cancel_at, kept.replaced_by_id) == ("high_risk", None, None)
    with unit_of_work() as s:
        assert number_lifecycle.finish_cancellation(s, old_id, NOW + timedelta(days=31)) is None
    assert _status("+12125550150") == "high_risk"


def test_every_status_move_starts_the_number_status_automations_in_its_unit_of_work(tenant, demo):
    with unit_of_work() as s:
        automation_id = automations.create_automation(
            s,
            tenant,
            {
                "name": "Any move",
                "trigger": "number_status",
                "steps": [{"action": "webhook", "value": "https://hooks.example/numbers"}],
            },
            None,
        ).id

    def moves() -> list[tuple[str, str, str]]:
        with unit_of_work() as s:
            runs = s.scalars(
                select(AutomationRun)
                .where(AutomationRun.automation_id == automation_id)
                .order_by(AutomationRun.id)
            )
            return [(r.context["number"], r.context["old_status"], r.context["status"]) for r in runs]

    with pytest.raises(RuntimeError), unit_of_work() as s:
        number_lifecycle.buy_number(s, tenant, "+12125550150", None)
        raise RuntimeError("rolled back")
    assert moves() == []
    with unit_of_work() as s:
        number_id = number_lifecycle.buy_number(s, tenant, "+12125550150", None).id
        s.flush()
        number_lifecycle.flag_high_risk(s, tenant, number_id, None)
    assert moves() == [("+12125550150", "", "active"), ("+12125550150", "active", "high_risk")]


def test_release_returns_the_number_and_delete_too(tenant):
    with unit_of_work() as s:
        a = number_lifecycle.buy_number(s, tenant, "+12125550150", None)
        b = number_lifecycle.buy_number(s, tenant, "+12125550151", None)
        s.flush()
        a_id, b_id = a.id, b.id
    with unit_of_work() as s:
        numbers.release_number(s, tenant, a_id, None)
        numbers.delete_number(s, tenant, b_id, None)
    assert _for_sale(tenant, "+12125550150") and _for_sale(tenant, "+12125550151")
    with pytest.raises(Conflict), unit_of_work() as s:
        numbers.release_number(s, tenant, a_id, None)


class _Carrier:
    """A provider as a carrier package would ship it (test double of a third party)."""

    name = "carrier"

    def __init__(self, context: number_providers.ProviderContext) -> None:
        self.context = context

    def search(self, query: NumberQuery) -> list[number_providers.AvailableNumber]:
        return [number_providers.AvailableNumber("+33123456799", "FR", "local")]

    def buy(self, e164: str) -> number_providers.AvailableNumber:
        return number_providers.AvailableNumber(e164, "FR", "local")

    def release(self, e164: str) -> None:
        released.append(e164)


released: list[str] = []


def test_providers_are_found_through_entry_points(monkeypatch, tenant):
    entry = EntryPoint("carrier", f"{__name__}:_Carrier", number_providers.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        number_providers, "entry_points", lambda group: [entry] if group == entry.group else []
    )
    assert set(number_providers.factories()) == {"inventory", "carrier"}
    session = new_session()
    try:
        carrier = number_providers.provider(session, tenant, "carrier")
        assert isinstance(carrier, number_providers.NumberProvider)
        assert [n.e164 for n in carrier.search(NumberQuery())] == ["+33123456799"]
        with pytest.raises(number_providers.ProviderError, match="No number provider named 'nope'"):
            number_providers.provider(session, tenant, "nope")
    finally:
        session.close()
