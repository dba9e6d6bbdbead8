"""The number lifecycle in the admin UI: inventory upload, rules, buy, documents and approval,
high risk, replace and keep; the ⋯ menu offers what the status allows."""

from __future__ import annotations

import io
import re

from sqlalchemy import select

from control.db import unit_of_work
from control.models import InventoryNumber, Line, PhoneNumber, User
from control.services import number_lifecycle

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _number(session, e164: str) -> PhoneNumber:
    session.expire_all()
    return session.scalars(select(PhoneNumber).where(PhoneNumber.e164 == e164)).one()


def _menu(page: str, number_id: int) -> str:
    match = re.search(rf'<article class="card number" id="number-{number_id}">.*?</article>', page, re.S)
    assert match
    return re.search(r"data-menu-panel hidden>(.*?)</div>", match.group(0), re.S).group(1)


def _labels(menu: str) -> list[str]:
    return re.findall(r'role="menuitem"[^>]*>.*?<span>([^<]+)</span>', menu, re.S)


def _upload_inventory(client, text: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/numbers/inventory",
        data={"file": (io.BytesIO(text.encode()), "numbers.csv")},
        content_type="multipart/form-data",
    )


def test_inventory_upload_rules_buy_documents_and_approval(admin_client, session, demo):
    bad = _upload_inventory(admin_client, "number\n+33123456701\nnope\n")
    assert bad.status_code == 400 and "Line 3:" in bad.data.decode()
    ok = _upload_inventory(admin_client, "number,type\n+33123456701,local\n+33123456702,local\n")
    assert ok.status_code == 302
    assert session.scalar(select(InventoryNumber).where(InventoryNumber.e164 == "+33123456702")).available

    assert admin_client.post("/numbers/rules", data={"country": "XX"}).status_code == 400
    saved = admin_client.post(
        "/numbers/rules", data={"country": "fr", "documents_required": "on", "documents": "Proof of address"}
    )
    assert saved.status_code == 302
    assert "Proof of address" in admin_client.get("/numbers/rules").data.decode()

    page = admin_client.get("/numbers/buy?country=FR").data.decode()
    assert "+33123456701" in page and "documents needed" in page
    assert admin_client.get("/numbers/buy?country=France").status_code == 200  # a message, no 500
    bought = admin_client.post("/numbers/buy", data={"e164": "+33123456701"})
    assert bought.status_code == 302 and bought.headers["Location"].endswith("#documents")
    number = _number(session, "+33123456701")
    assert number.status == "pending" and number.provider == "inventory"
    again = admin_client.post("/numbers/buy", data={"e164": "+33123456701"}, follow_redirects=True)
    assert "already in the system" in again.data.decode()

    menu = _menu(admin_client.get("/numbers/").data.decode(), number.id)
    assert "Documents" in _labels(menu) and "Approve" not in _labels(menu)
    edit = admin_client.get(f"/numbers/{number.id}").data.decode()
    assert 'id="documents"' in edit and "Proof of address" in edit and "number approver" in edit

    refused = admin_client.post(
        f"/numbers/{number.id}/documents",
        data={"document": (io.BytesIO(b"MZ\x90\x00 an executable"), "id.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Upload a PDF, PNG or JPEG file." in refused.data.decode()
    uploaded = admin_client.post(
        f"/numbers/{number.id}/documents",
        data={"document": (io.BytesIO(PDF), "id <script>.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = uploaded.data.decode()
    assert "id &lt;script&gt;.pdf" in page and "id <script>" not in page
    doc_link = re.search(r'href="(/numbers/documents/\d+)"', page).group(1)
    download = admin_client.get(doc_link)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment")

    denied = admin_client.post(f"/numbers/{number.id}/approve", follow_redirects=True)
    assert "Only a number approver may approve numbers." in denied.data.decode()
    with unit_of_work() as s:
        number_lifecycle.set_approver(s, s.get(User, demo["admin_id"]), True, None)
    menu = _menu(admin_client.get("/numbers/").data.decode(), number.id)
    assert "Approve" in _labels(menu)
    assert admin_client.post(f"/numbers/{number.id}/approve").status_code == 302
    assert _number(session, "+33123456701").status == "active"


def test_documents_are_for_the_tenants_admins_only(admin_client, agent_client, session, demo):
    with unit_of_work() as s:
        number_lifecycle.set_approver(s, s.get(User, demo["admin_id"]), False, None)
    number = _number(session, "+442071838750")  # the demo's pending London number
    admin_client.post(
        f"/numbers/{number.id}/documents",
        data={"document": (io.BytesIO(PDF), "a.pdf")},
        content_type="multipart/form-data",
    )
    link = re.search(
        r'href="(/numbers/documents/\d+)"', admin_client.get(f"/numbers/{number.id}").data.decode()
    )
    assert link
    assert agent_client.get(link.group(1)).status_code in (302, 403, 404)
    assert admin_client.get("/numbers/documents/999999").status_code == 404


def test_high_risk_replace_and_keep_through_the_menu(admin_client, session, demo):
    _upload_inventory(admin_client, "number\n+12125550150\n")
    main = _number(session, "+12125550100")
    line_id = main.line_id
    assert line_id is not None
    assert "Mark high risk" in _labels(_menu(admin_client.get("/numbers/").data.decode(), main.id))
    assert admin_client.post(f"/numbers/{main.id}/high-risk").status_code == 302
    menu = _labels(_menu(admin_client.get("/numbers/").data.decode(), main.id))
    assert menu[:2] == ["Replace", "Not high risk"] and "Mark high risk" not in menu

    page = admin_client.get(f"/numbers/{main.id}/replace").data.decode()
    assert "+12125550150" in page and "+18005550199" in page  # to buy; one of ours, unassigned
    missing = admin_client.post(f"/numbers/{main.id}/replace", data={})
    assert missing.status_code == 400 and 'id="replacement_id-error"' in missing.data.decode()
    done = admin_client.post(f"/numbers/{main.id}/replace", data={"buy": "+12125550150"})
    assert done.status_code == 302
    old, new = _number(session, "+12125550100"), _number(session, "+12125550150")
    assert old.status == "to_be_cancelled" and old.line_id == line_id and old.replaced_by_id == new.id
    assert new.status == "active" and new.line_id == line_id
    page = admin_client.get("/numbers/").data.decode()
    assert _labels(_menu(page, old.id))[0] == "Keep this number"
    assert "#6b7280" in re.search(rf'id="number-{old.id}">.*?</h2>', page, re.S).group(0)  # grey dot
    assert admin_client.post(f"/numbers/{old.id}/cancel-replacement").status_code == 302
    old = _number(session, "+12125550100")
    assert old.status == "high_risk" and old.cancel_at is None
    assert session.get(Line, line_id).default_caller_id_id == new.id


def test_actions_that_do_not_fit_the_status_say_why(admin_client, session, demo):
    main = _number(session, "+12125550100")
    response = admin_client.post(f"/numbers/{main.id}/cancel-replacement", follow_redirects=True)
    assert "is active: it cannot be kept" in response.data.decode()
    response = admin_client.post(f"/numbers/{main.id}/replace", data={"replacement_id": "1"})
    assert response.status_code == 400 and "cannot be replaced" in response.data.decode()
    assert _number(session, "+12125550100").status == "active"


def test_the_number_approver_permission_is_for_admins(admin_client, session, demo):
    agent = admin_client.post(f"/users/{demo['agent_id']}", data={"approves_numbers": "on"})
    assert agent.status_code == 400
    assert 'id="approves_numbers-error">Only an admin can be a number approver.' in agent.data.decode()
    me = admin_client.post(
        f"/users/{demo['admin_id']}", data={"approves_numbers": "on", "notifications": "on"}
    )
    assert me.status_code == 302
    session.expire_all()
    assert session.get(User, demo["admin_id"]).approves_numbers is True
    assert session.get(User, demo["agent_id"]).approves_numbers is False
