"""CRUD and actions of every resource, checked in the database afterwards."""

from __future__ import annotations

from control import crypto
from control.models import (
    AuditLog,
    Automation,
    Broadcast,
    Contact,
    Favourite,
    Line,
    PbxNode,
    PhoneNumber,
    Queue,
    QueueMember,
    RingGroup,
    RingGroupMember,
    Tag,
    Team,
    User,
)
from control.passwords import verify_password


def _id(session, model, **filters) -> int:  # type: ignore[no-untyped-def]
    return session.query(model).filter_by(**filters).one().id


def test_users_crud_and_actions(api, session, demo):
    support = _id(session, Team, name="Support")
    created = api.post(
        "/api/v1/users",
        json={
            "name": "Frank Ford",
            "email": "Frank@acme.example",
            "extension": "1010",
            "password": "a-long-enough-password",
            "team_ids": [support],
            "language": "fr",
        },
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert body["email"] == "frank@acme.example" and body["extension"] == "1010"
    assert body["team_ids"] == [support] and body["status"] == "active" and body["role"] == "agent"
    assert "password" not in body and "password_hash" not in body
    assert created.headers["Location"].endswith(f"/api/v1/users/{body['id']}")
    frank = session.get(User, body["id"])
    assert verify_password(frank.password_hash, "a-long-enough-password") and frank.language == "fr"

    assert api.get(f"/api/v1/users/{frank.id}").json["name"] == "Frank Ford"
    found = api.get("/api/v1/users", query_string={"q": "frank"}).json
    assert found["total"] == 1 and found["items"][0]["id"] == frank.id
    agents = api.get("/api/v1/users", query_string={"role": "admin"}).json
    assert [u["email"] for u in agents["items"]] == [demo["admin_email"]]

    updated = api.patch(f"/api/v1/users/{frank.id}", json={"name": "Frank F.", "dnd": True, "team_ids": []})
    assert updated.status_code == 200
    session.expire_all()
    frank = session.get(User, frank.id)
    assert (frank.name, frank.dnd, frank.teams, frank.extension) == ("Frank F.", True, [], "1010")

    assert api.post(f"/api/v1/users/{frank.id}/pause").json["status"] == "paused"
    assert api.get("/api/v1/users", query_string={"status": "paused"}).json["total"] == 1
    assert api.post(f"/api/v1/users/{frank.id}/activate").json["routing_paused"] is False
    assert api.post(f"/api/v1/users/{frank.id}/suspend").json["status"] == "suspended"
    session.expire_all()
    assert session.get(User, frank.id).suspended
    assert api.post(f"/api/v1/users/{frank.id}/unsuspend").json["suspended"] is False

    frank_id = frank.id
    assert api.delete(f"/api/v1/users/{frank_id}").status_code == 204
    session.expire_all()
    assert session.get(User, frank_id) is None
    assert api.get(f"/api/v1/users/{frank_id}").status_code == 404


def test_delete_user_with_dependencies_needs_acknowledge(api, session, demo):
    alice = demo["agent_id"]
    refused = api.delete(f"/api/v1/users/{alice}")
    assert refused.status_code == 409
    assert "ring group Support (member)" in refused.json["details"]
    assert "queue Helpdesk (member)" in refused.json["details"]
    session.expire_all()
    assert session.get(User, alice) is not None
    assert api.delete(f"/api/v1/users/{alice}", query_string={"acknowledge": "true"}).status_code == 204
    session.expire_all()
    assert session.get(User, alice) is None
    assert session.query(RingGroupMember).filter_by(user_id=alice).count() == 0
    yourself = api.delete(f"/api/v1/users/{demo['admin_id']}", query_string={"acknowledge": "true"})
    assert yourself.status_code == 409 and yourself.json["message"] == "You cannot delete yourself."


def test_sip_secret_reveal_is_audited(api, session, demo):
    response = api.post(f"/api/v1/users/{demo['agent_id']}/sip-secret")
    assert response.status_code == 200
    stored = session.get(User, demo["agent_id"]).sip_secret_enc
    assert response.json == {"sip_secret": crypto.decrypt(stored)}
    reveal = session.query(AuditLog).filter_by(action="user.sip_secret.reveal").one()
    assert reveal.actor_id == demo["admin_id"]


def test_teams_crud(api, session):
    created = api.post("/api/v1/teams", json={"name": "Night shift"})
    assert created.status_code == 201
    team_id = created.json["id"]
    assert session.get(Team, team_id).name == "Night shift"
    assert api.patch(f"/api/v1/teams/{team_id}", json={"name": "Late shift"}).json["name"] == "Late shift"
    session.expire_all()
    assert session.get(Team, team_id).name == "Late shift"
    assert api.get("/api/v1/teams", query_string={"q": "late"}).json["items"][0]["id"] == team_id
    assert api.delete(f"/api/v1/teams/{team_id}").status_code == 204
    session.expire_all()
    assert session.get(Team, team_id) is None


def test_numbers_crud_transfer_release(api, session):
    created = api.post("/api/v1/numbers", json={"number": "(212) 555-0142"})
    assert created.status_code == 201, created.json
    assert created.json["e164"] == "+12125550142" and created.json["country"] == "US"
    number_id = created.json["id"]

    for body in ({"status": "to_be_cancelled"}, {"cancel_at": "2030-05-01T12:00", "do_not_use": True}):
        refused = api.patch(f"/api/v1/numbers/{number_id}", json=body)
        assert refused.status_code == 422
        field = next(iter(body))
        assert refused.json["errors"][field][0].startswith("The status is not edited"), refused.json
    session.expire_all()
    number = session.get(PhoneNumber, number_id)
    assert number.status == "active" and number.cancel_at is None and number.do_not_use is False

    support_line = _id(session, Line, name="Support line")
    moved = api.post(f"/api/v1/numbers/{number_id}/transfer", json={"line_id": support_line})
    assert moved.status_code == 200 and moved.json["line_id"] == support_line
    session.expire_all()
    assert session.get(PhoneNumber, number_id).line_id == support_line
    listed = api.get("/api/v1/numbers", query_string={"q": "5550142", "assigned": "yes"}).json
    assert [n["id"] for n in listed["items"]] == [number_id]

    released = api.post(f"/api/v1/numbers/{number_id}/release")
    assert released.json["status"] == "released" and released.json["line_id"] is None
    back = api.patch(f"/api/v1/numbers/{number_id}", json={"status": "active"})
    assert back.status_code == 422 and "status" in back.json["errors"]

    assert api.delete(f"/api/v1/numbers/{number_id}").status_code == 204
    session.expire_all()
    assert session.get(PhoneNumber, number_id) is None


def test_lines_crud_pause_duplicate(api, session, demo):
    number = api.post("/api/v1/numbers", json={"number": "+12125550150"}).json["id"]
    created = api.post(
        "/api/v1/lines",
        json={
            "name": "Direct to Alice",
            "destination_kind": "user",
            "destination_target": demo["agent_id"],
            "number_ids": [number],
            "default_caller_id_id": number,
        },
    )
    assert created.status_code == 201, created.json
    line = created.json
    assert line["destination_target"] == str(demo["agent_id"]) and line["number_ids"] == [number]
    assert session.get(PhoneNumber, number).line_id == line["id"]

    assert api.post(f"/api/v1/lines/{line['id']}/pause").json["status"] == "paused"
    assert api.get("/api/v1/lines", query_string={"status": "paused"}).json["total"] == 1
    assert api.post(f"/api/v1/lines/{line['id']}/activate").json["status"] == "active"

    copy = api.post(f"/api/v1/lines/{line['id']}/duplicate")
    assert copy.status_code == 201
    assert copy.json["name"] == "Direct to Alice (copy)" and copy.json["number_ids"] == []
    assert copy.json["destination_target"] == str(demo["agent_id"])

    external = api.patch(
        f"/api/v1/lines/{line['id']}",
        json={"destination_kind": "external", "destination_target": "202-555-0100"},
    )
    assert external.status_code == 200 and external.json["destination_target"] == "+12025550100"
    session.expire_all()
    assert session.get(Line, line["id"]).destination_value == "+12025550100"

    assert api.delete(f"/api/v1/lines/{line['id']}").status_code == 204
    session.expire_all()
    assert session.get(Line, line["id"]) is None
    assert session.get(PhoneNumber, number).line_id is None


def test_ring_groups_crud(api, session, demo):
    created = api.post(
        "/api/v1/ring-groups",
        json={
            "name": "Escalation",
            "extension": "650",
            "strategy": "sequential",
            "members": [
                {"kind": "user", "target": demo["agent_id"], "timeout": 15},
                {"kind": "external", "target": "+12025550111"},
            ],
            "fallback_kind": "hangup",
        },
    )
    assert created.status_code == 201, created.json
    group = created.json
    assert group["members"] == [
        {"kind": "user", "target": str(demo["agent_id"]), "timeout": 15},
        {"kind": "external", "target": "+12025550111", "timeout": 20},
    ]
    members = session.query(RingGroupMember).filter_by(ring_group_id=group["id"]).order_by("position").all()
    assert [m.kind for m in members] == ["user", "external"]

    updated = api.patch(
        f"/api/v1/ring-groups/{group['id']}",
        json={"timeout": 45, "members": [{"kind": "extension", "target": "700", "timeout": 30}]},
    )
    assert updated.status_code == 200, updated.json
    session.expire_all()
    saved = session.get(RingGroup, group["id"])
    assert saved.timeout == 45 and [(m.kind, m.value) for m in saved.members] == [("extension", "700")]
    assert api.get("/api/v1/ring-groups", query_string={"q": "650"}).json["items"][0]["name"] == "Escalation"

    support = _id(session, RingGroup, name="Support")
    used = api.delete(f"/api/v1/ring-groups/{support}")
    assert used.status_code == 409 and "line Support line" in used.json["details"]
    assert api.delete(f"/api/v1/ring-groups/{group['id']}").status_code == 204
    session.expire_all()
    assert session.get(RingGroup, group["id"]) is None


def test_queues_crud_and_membership(api, session, demo):
    bob = _id(session, User, email="bob@acme.example")
    created = api.post(
        "/api/v1/queues",
        json={"name": "Billing", "extension": "750", "members": [{"user_id": bob, "active": True}]},
    )
    assert created.status_code == 201, created.json
    queue = created.json
    assert queue["members"] == [{"user_id": bob, "active": True}] and queue["strategy"] == "longest_idle"

    paused = api.put(f"/api/v1/queues/{queue['id']}/members/{bob}", json={"active": False})
    assert paused.status_code == 200 and paused.json["members"] == [{"user_id": bob, "active": False}]
    session.expire_all()
    assert session.query(QueueMember).filter_by(queue_id=queue["id"], user_id=bob).one().active is False
    stranger = api.put(f"/api/v1/queues/{queue['id']}/members/{demo['admin_id']}", json={"active": True})
    assert stranger.status_code == 404
    assert api.put(f"/api/v1/queues/{queue['id']}/members/{bob}", json={}).status_code == 422

    assert api.patch(f"/api/v1/queues/{queue['id']}", json={"max_wait": 120}).json["max_wait"] == 120
    helpdesk = _id(session, Queue, name="Helpdesk")
    assert api.delete(f"/api/v1/queues/{helpdesk}").status_code == 409
    assert api.delete(f"/api/v1/queues/{queue['id']}").status_code == 204
    session.expire_all()
    assert session.get(Queue, queue["id"]) is None


def test_contacts_crud_and_favourites(api, session, demo):
    vip = _id(session, Tag, name="VIP")
    created = api.post(
        "/api/v1/contacts",
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Engines Ltd",
            "numbers": [{"label": "work", "number": "+442079460000"}],
            "tag_ids": [vip],
        },
    )
    assert created.status_code == 201, created.json
    contact = created.json
    assert contact["numbers"] == [{"label": "work", "number": "+442079460000"}]
    assert contact["tag_ids"] == [vip] and contact["favourite"] is False and contact["owner_user_id"] is None
    assert api.get("/api/v1/contacts", query_string={"q": "lovelace"}).json["total"] == 1
    assert api.get("/api/v1/contacts", query_string={"q": "2079460000"}).json["total"] == 1
    assert api.get("/api/v1/contacts", query_string={"tag_id": vip}).json["total"] == 3

    starred = api.post(f"/api/v1/contacts/{contact['id']}/favourite")
    assert starred.status_code == 200 and starred.json["favourite"] is True
    assert session.query(Favourite).filter_by(user_id=demo["admin_id"], contact_id=contact["id"]).count() == 1
    assert api.delete(f"/api/v1/contacts/{contact['id']}/favourite").json["favourite"] is False
    assert session.query(Favourite).filter_by(contact_id=contact["id"]).count() == 0

    updated = api.patch(f"/api/v1/contacts/{contact['id']}", json={"company": "Analytical Engines"})
    assert updated.status_code == 200 and updated.json["numbers"][0]["number"] == "+442079460000"
    session.expire_all()
    assert session.get(Contact, contact["id"]).company == "Analytical Engines"
    assert api.delete(f"/api/v1/contacts/{contact['id']}").status_code == 204
    session.expire_all()
    assert session.get(Contact, contact["id"]) is None


def test_tags_crud_and_pagination(api, session):
    for index in range(7):
        assert (
            api.post("/api/v1/tags", json={"name": f"Batch {index}", "color": "#123456"}).status_code == 201
        )
    page = api.get("/api/v1/tags", query_string={"page": 2, "per_page": 3, "sort": "name"}).json
    assert page["total"] == 10 and page["page"] == 2 and page["per_page"] == 3
    assert [t["name"] for t in page["items"]] == ["Batch 3", "Batch 4", "Batch 5"]
    last = api.get("/api/v1/tags", query_string={"page": 4, "per_page": 3, "sort": "name"}).json
    assert [t["name"] for t in last["items"]] == ["VIP"]
    newest = api.get("/api/v1/tags", query_string={"sort": "-name", "per_page": 1}).json
    assert newest["items"][0]["name"] == "VIP"
    assert api.get("/api/v1/tags", query_string={"q": "batch"}).json["total"] == 7

    tag_id = page["items"][0]["id"]
    assert api.patch(f"/api/v1/tags/{tag_id}", json={"color": "#abcdef"}).json["color"] == "#abcdef"
    session.expire_all()
    assert session.get(Tag, tag_id).color == "#abcdef" and session.get(Tag, tag_id).name == "Batch 3"
    assert api.delete(f"/api/v1/tags/{tag_id}").status_code == 204
    session.expire_all()
    assert session.get(Tag, tag_id) is None


def test_broadcasts_crud_and_actions(api, session):
    lead = _id(session, Tag, name="Lead")
    line = _id(session, Line, name="Main line")
    created = api.post(
        "/api/v1/broadcasts",
        json={
            "name": "Outage",
            "kind": "text",
            "message": "We are down.",
            "tag_ids": [lead],
            "line_id": line,
            "retry_count": 1,
            "retry_delay": 60,
        },
    )
    assert created.status_code == 201, created.json
    broadcast = created.json
    assert broadcast["status"] == "draft" and broadcast["tag_ids"] == [lead] and broadcast["line_id"] == line
    assert (broadcast["retry_count"], broadcast["retry_delay"], broadcast["ring_seconds"]) == (1, 60, 30)
    assert broadcast["if_missed"] == "start"
    url = f"/api/v1/broadcasts/{broadcast['id']}"
    assert api.patch(url, json={"if_missed": "missed"}).json["if_missed"] == "missed"
    late = api.patch(url, json={"if_missed": "tomorrow"})
    assert late.status_code == 422 and late.json["errors"] == {"if_missed": ["Choose one of: start, missed."]}

    early = api.post(f"{url}/action", json={"action": "schedule"})
    assert early.status_code == 422 and early.json["errors"] == {
        "scheduled_at": ["Set a time before scheduling."]
    }
    assert api.patch(url, json={"scheduled_at": "2030-01-01T09:00"}).status_code == 200
    wrong = api.post(f"{url}/action", json={"action": "pause"})
    assert wrong.status_code == 422 and wrong.json["errors"]["action"] == ["A draft broadcast cannot pause."]
    bad = api.patch(url, json={"retry_count": 9})
    assert bad.status_code == 422 and "retry_count" in bad.json["errors"]
    assert api.get(f"{url}/results").json == {
        "progress": {
            "total": 0,
            "sent": 0,
            "answered": 0,
            "delivered": 0,
            "busy": 0,
            "no_answer": 0,
            "failed": 0,
            "skipped": 0,
            "invalid": 0,
            "cancelled": 0,
            "remaining": 0,
        },
        "recipients": [],
    }
    session.expire_all()
    saved = session.get(Broadcast, broadcast["id"])
    assert saved.status == "draft" and saved.message == "We are down." and saved.retry_count == 1
    assert api.delete(url).status_code == 204
    session.expire_all()
    assert session.get(Broadcast, broadcast["id"]) is None


def test_automations_crud_pause(api, session, demo):
    created = api.post(
        "/api/v1/automations",
        json={
            "name": "Ping CRM",
            "trigger": "call_ended",
            "conditions": {"direction": "inbound", "min_duration": 10},
            "steps": [
                {"action": "webhook", "value": "https://crm.example/hook"},
                {"action": "callback", "value": demo["agent_id"]},
            ],
        },
    )
    assert created.status_code == 201, created.json
    automation = created.json
    assert automation["steps"] == [
        {"action": "webhook", "value": "https://crm.example/hook"},
        {"action": "callback", "value": str(demo["agent_id"])},
    ]
    assert automation["conditions"] == {"direction": "inbound", "min_duration": 10, "max_duration": 0}
    # The signing secret is answered this once, and never again.
    secret = automation["webhook_secret"]
    assert secret.startswith("whsec_") and automation["has_webhook_secret"] is True
    shown = api.get(f"/api/v1/automations/{automation['id']}")
    assert "webhook_secret" not in shown.json and secret not in shown.data.decode()
    rotated = api.post(f"/api/v1/automations/{automation['id']}/webhook-secret")
    assert rotated.status_code == 200 and rotated.json["webhook_secret"] not in (None, secret)
    assert api.get(f"/api/v1/automations/{automation['id']}/runs").json == {
        "items": [],
        "total": 0,
        "page": 1,
        "per_page": 50,
    }
    url = f"/api/v1/automations/{automation['id']}"
    assert api.post(f"{url}/pause").json["status"] == "paused"
    session.expire_all()
    assert session.get(Automation, automation["id"]).status == "paused"
    assert api.get("/api/v1/automations", query_string={"status": "paused"}).json["total"] == 1
    assert api.post(f"{url}/activate").json["status"] == "active"
    renamed = api.patch(url, json={"name": "Ping the CRM"})
    assert renamed.status_code == 200 and len(renamed.json["steps"]) == 2
    assert api.delete(url).status_code == 204
    session.expire_all()
    assert session.get(Automation, automation["id"]) is None


def test_nodes_crud_with_write_only_secret(api, session, demo):
    payload = {
        "name": "ast-1",
        "kind": "asterisk",
        "host": "127.0.0.1",
        "port": 5038,
        "username": "switchboard",
        "secret": "ami-secret-value",
        "config_dir": "/etc/asterisk",
    }
    created = api.post("/api/v1/nodes", json=payload)
    assert created.status_code == 201, created.json
    node = created.json
    assert "secret" not in node and "secret_enc" not in node and b"ami-secret-value" not in created.data
    saved = session.get(PbxNode, node["id"])
    assert saved.tenant_id == demo["tenant_id"] and crypto.decrypt(saved.secret_enc) == "ami-secret-value"

    moved = api.patch(f"/api/v1/nodes/{node['id']}", json={"host": "pbx.internal"})
    assert moved.status_code == 200 and moved.json["host"] == "pbx.internal"
    session.expire_all()
    assert crypto.decrypt(session.get(PbxNode, node["id"]).secret_enc) == "ami-secret-value"
    assert api.patch(f"/api/v1/nodes/{node['id']}", json={"secret": "rotated-secret"}).status_code == 200
    session.expire_all()
    assert crypto.decrypt(session.get(PbxNode, node["id"]).secret_enc) == "rotated-secret"
    assert api.get("/api/v1/nodes", query_string={"kind": "freeswitch"}).json["total"] == 0
    assert api.get("/api/v1/nodes", query_string={"q": "pbx.int"}).json["items"][0]["id"] == node["id"]

    no_secret = api.post("/api/v1/nodes", json=payload | {"name": "ast-2", "secret": ""})
    assert no_secret.status_code == 422 and no_secret.json["errors"]["secret"] == ["This field is required."]
    tenant_field = api.patch(f"/api/v1/nodes/{node['id']}", json={"tenant_id": 99})
    assert tenant_field.status_code == 422 and tenant_field.json["errors"] == {
        "tenant_id": ["Unknown field."]
    }
    assert api.delete(f"/api/v1/nodes/{node['id']}").status_code == 204
    session.expire_all()
    assert session.get(PbxNode, node["id"]) is None


def test_contacts_opt_out_of_broadcasts(api, session, demo):
    created = api.post(
        "/api/v1/contacts", json={"first_name": "Opt", "numbers": [{"number": "+14155550166"}]}
    )
    assert created.status_code == 201 and created.json["do_not_call"] is False
    url = f"/api/v1/contacts/{created.json['id']}"
    assert api.patch(url, json={"do_not_call": True}).json["do_not_call"] is True
    # Another edit keeps the choice.
    assert api.patch(url, json={"company": "Opt Inc"}).json["do_not_call"] is True
    refused = api.patch(url, json={"do_not_call": "yes"})
    assert refused.status_code == 422 and "do_not_call" in refused.json["errors"]
