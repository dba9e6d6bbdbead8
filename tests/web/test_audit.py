from __future__ import annotations

import re

from control.db import unit_of_work
from control.models import AuditLog
from control.services import audit, tags


def _rows(page: str) -> list[str]:
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    return re.findall(r"<tr>.*?</tr>", body, re.S)


def test_lists_who_did_what_to_which_target(admin_client, session, demo):
    admin_client.post(f"/users/{demo['agent_id']}/pause")
    rows = _rows(admin_client.get("/audit/").data.decode())
    newest = rows[0]
    assert "<code>user.routing_paused</code>" in newest
    assert "Ada Admin" in newest and f"User #{demo['agent_id']}" in newest
    assert '<span class="muted">value</span> True' in newest


def test_filter_by_action_prefix(admin_client, session, demo):
    admin_client.post(f"/users/{demo['agent_id']}/pause")
    page = admin_client.get("/audit/?action=user.routing").data.decode()
    rows = _rows(page)
    assert len(rows) == 1 and "user.routing_paused" in rows[0]
    page = admin_client.get("/audit/?action=tag").data.decode()
    rows = _rows(page)
    assert len(rows) == 3 and all("<code>tag.create</code>" in row for row in rows)
    assert '<a class="tab active" href="/audit/?action=tag">tag</a>' in page
    assert len(_rows(admin_client.get("/audit/?action=line.").data.decode())) == 2


def test_prefix_is_literal_not_a_pattern(admin_client, demo):
    page = admin_client.get("/audit/?action=%25").data.decode()
    assert "No entries match." in page
    page = admin_client.get("/audit/?action=_ser").data.decode()
    assert "No entries match." in page


def test_shows_only_the_tenants_entries_newest_first_and_paginates(admin_client, session, demo):
    with unit_of_work() as s:
        for i in range(60):
            tags.create_tag(s, demo["tenant_id"], {"name": f"Bulk {i:02d}"}, None)
        audit.write(s, None, "tenant.elsewhere", tenant_id=None)
    page = admin_client.get("/audit/?action=tag.create").data.decode()
    assert "Page 1 of 2" in page
    rows = _rows(page)
    assert len(rows) == 50 and '<span class="muted">system</span>' in rows[0]
    assert "tenant.elsewhere" not in admin_client.get("/audit/?action=tenant").data.decode()
    total = session.query(AuditLog).filter_by(tenant_id=demo["tenant_id"]).count()
    assert f"{total} in all" in admin_client.get("/audit/?page=2").data.decode()


def test_sort_allow_list(admin_client, demo):
    assert admin_client.get("/audit/?sort=action").status_code == 200
    assert admin_client.get("/audit/?sort=detail").status_code == 400


def test_read_only_and_admin_only(admin_client, agent_client, demo):
    assert agent_client.get("/audit/").status_code == 403
    assert admin_client.post("/audit/").status_code == 405
