"""The number lifecycle through /api/v1: inventory, rules, search and buy, documents, approval,
high risk, replacement; the status is never written directly."""

from __future__ import annotations

import io

from control.db import unit_of_work
from control.models import User
from control.services import number_lifecycle

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _inventory(api, text: str):  # type: ignore[no-untyped-def]
    return api.post(
        "/api/v1/numbers/inventory",
        data={"file": (io.BytesIO(text.encode()), "n.csv")},
        content_type="multipart/form-data",
    )


def test_buy_documents_approve_replace(api, agent_api, demo):
    loaded = _inventory(api, "number,type\n+33123456701,local\n+12125550150,\n")
    assert loaded.status_code == 200 and loaded.json["added"] == 2, loaded.json
    bad = _inventory(api, "number\nnope\n")
    assert bad.status_code == 422 and "Line 2:" in bad.json["errors"]["file"][0]

    assert api.put("/api/v1/number-rules/FR", json={"documents_required": True}).status_code == 200
    assert api.put("/api/v1/number-rules/ZZ", json={"documents_required": True}).status_code == 422
    assert [r["country"] for r in api.get("/api/v1/number-rules").json] == ["FR", "GB"]

    found = api.get("/api/v1/numbers/available", query_string={"country": "FR"}).json
    assert found == [
        {"e164": "+33123456701", "country": "FR", "number_type": "local", "documents_required": True}
    ]
    assert api.get("/api/v1/numbers/available", query_string={"country": "QQ"}).status_code == 422
    assert api.put("/api/v1/number-rules/fr", json={"documents_required": True}).status_code == 422
    assert agent_api.get("/api/v1/numbers/available").status_code == 403

    bought = api.post("/api/v1/numbers/buy", json={"e164": "+33123456701"})
    assert bought.status_code == 201 and bought.json["status"] == "pending"
    number_id = bought.json["id"]
    assert api.post("/api/v1/numbers/buy", json={"e164": "+33123456701"}).status_code == 409
    for body in ({"status": "active"}, {"cancel_at": "2031-01-01T00:00:00Z"}):
        refused = api.patch(f"/api/v1/numbers/{number_id}", json=body)
        assert refused.status_code == 422 and set(refused.json["errors"]) == set(body)

    assert api.post(f"/api/v1/numbers/{number_id}/approve").status_code == 403
    with unit_of_work() as s:
        number_lifecycle.set_approver(s, s.get(User, demo["admin_id"]), True, None)
    no_docs = api.post(f"/api/v1/numbers/{number_id}/approve")
    assert no_docs.status_code == 409 and "no documents yet" in no_docs.json["message"]
    not_a_doc = api.post(
        f"/api/v1/numbers/{number_id}/documents",
        data={"document": (io.BytesIO(b"GIF89a..."), "a.gif")},
        content_type="multipart/form-data",
    )
    assert not_a_doc.status_code == 422 and "document" in not_a_doc.json["errors"]
    doc = api.post(
        f"/api/v1/numbers/{number_id}/documents",
        data={"document": (io.BytesIO(PDF), "a.pdf")},
        content_type="multipart/form-data",
    )
    assert doc.status_code == 201 and doc.json["content_type"] == "application/pdf"
    assert [d["id"] for d in api.get(f"/api/v1/numbers/{number_id}/documents").json] == [doc.json["id"]]
    assert api.get(f"/api/v1/numbers/documents/{doc.json['id']}").data == PDF
    assert agent_api.get(f"/api/v1/numbers/documents/{doc.json['id']}").status_code == 403
    approved = api.post(f"/api/v1/numbers/{number_id}/approve")
    assert approved.status_code == 200 and approved.json["status"] == "active"

    assert api.post(f"/api/v1/numbers/{number_id}/replace", json={"buy": "+12125550150"}).status_code == 409
    assert api.post(f"/api/v1/numbers/{number_id}/high-risk").json["status"] == "high_risk"
    both = api.post(f"/api/v1/numbers/{number_id}/replace", json={"buy": "+12125550150", "replacement_id": 1})
    assert both.status_code == 422 and "replacement_id" in both.json["errors"]
    new = api.post(f"/api/v1/numbers/{number_id}/replace", json={"buy": "+12125550150"})
    assert new.status_code == 200 and new.json["e164"] == "+12125550150"
    old = api.get(f"/api/v1/numbers/{number_id}").json
    assert old["status"] == "to_be_cancelled" and old["replaced_by_id"] == new.json["id"] and old["cancel_at"]
    kept = api.post(f"/api/v1/numbers/{number_id}/cancel-replacement")
    assert kept.status_code == 200 and kept.json["status"] == "high_risk" and kept.json["cancel_at"] is None
    assert api.delete("/api/v1/number-rules/FR").status_code == 204
    assert api.delete("/api/v1/number-rules/FR").status_code == 404
