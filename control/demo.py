"""The demo tenant: a small company with users, numbers, lines, groups, queues and contacts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from control.models import Tenant, User
from control.number_providers import load_inventory
from control.services import (
    automations,
    broadcasts,
    contacts,
    lines,
    number_rules,
    numbers,
    queues,
    ring_groups,
    tags,
    teams,
    tenants,
    users,
)

# What the demo's inventory provider sells (Numbers → Buy a number).
DEMO_INVENTORY = """number,type
+12125550140,fixed_line_or_mobile
+12125550141,fixed_line_or_mobile
+12125550142,fixed_line_or_mobile
+18005550143,toll_free
+442071838760,local
+442071838761,local
"""
DEMO_TENANT = "acme"
DEMO_ADMIN = "admin@acme.example"
DEMO_AGENT = "alice@acme.example"
DEMO_PASSWORD = "switchboard-demo"

_PEOPLE = [
    ("Ada Admin", DEMO_ADMIN, "admin", "1000"),
    ("Alice Agent", DEMO_AGENT, "agent", "1001"),
    ("Bob Baker", "bob@acme.example", "agent", "1002"),
    ("Carol Chen", "carol@acme.example", "agent", "1003"),
    ("Dan Diaz", "dan@acme.example", "agent", "1004"),
    ("Erin Evans", "erin@acme.example", "agent", "1005"),
]
_CONTACTS = [
    ("Grace", "Hopper", "Navy Labs", "Rear Admiral", "+12025550143", "VIP"),
    ("Linus", "Torvalds", "Kernel Co", "Maintainer", "+14155550188", "Partner"),
    ("Margaret", "Hamilton", "Apollo Ltd", "Director", "+442079460321", "VIP"),
    ("Ken", "Thompson", "Bell Works", "Engineer", "+16465550171", "Lead"),
    ("Barbara", "Liskov", "MIT Systems", "Professor", "+16175550110", "Lead"),
]


def seed_demo(session: Session) -> Tenant:
    """Create the demo tenant once; a second call returns the existing one unchanged."""
    existing = tenants.find_tenant_by_name(session, DEMO_TENANT)
    if existing is not None:
        return existing
    tenant = tenants.create_tenant(
        session, {"name": DEMO_TENANT, "domain": "acme.switchboard.test", "default_country": "US"}
    )
    support = teams.create_team(session, tenant.id, {"name": "Support"}, None)
    sales = teams.create_team(session, tenant.id, {"name": "Sales"}, None)
    people: dict[str, User] = {}
    for name, email, role, ext in _PEOPLE:
        team = support if ext in ("1001", "1002", "1003") else sales
        people[ext] = users.create_user(
            session,
            tenant.id,
            {
                "name": name,
                "email": email,
                "role": role,
                "extension": ext,
                "password": DEMO_PASSWORD,
                "team_ids": [team.id],
            },
            None,
        )
    admin = people["1000"]
    main = numbers.create_number(session, tenant.id, {"number": "+12125550100"}, admin)
    sales_no = numbers.create_number(session, tenant.id, {"number": "+12125550101"}, admin)
    numbers.create_number(session, tenant.id, {"number": "+18005550199"}, admin)
    # British numbers need documents here: the demo's London number waits for its approval.
    number_rules.set_rule(
        session, tenant.id, {"country": "GB", "documents": "Proof of a UK business address"}, admin
    )
    numbers.create_number(session, tenant.id, {"number": "+442071838750"}, admin)
    load_inventory(session, tenant.id, DEMO_INVENTORY)
    support_group = ring_groups.create_ring_group(
        session,
        tenant.id,
        {
            "name": "Support",
            "extension": "600",
            "strategy": "parallel",
            "timeout": 30,
            "members": [
                {"kind": "user", "target": people["1001"].id, "timeout": 20},
                {"kind": "user", "target": people["1002"].id, "timeout": 20},
            ],
            "fallback_kind": "user",
            "fallback_target": admin.id,
        },
        admin,
    )
    ring_groups.create_ring_group(
        session,
        tenant.id,
        {
            "name": "Sales hunt",
            "extension": "601",
            "strategy": "sequential",
            "timeout": 60,
            "members": [
                {"kind": "user", "target": people["1004"].id, "timeout": 15},
                {"kind": "user", "target": people["1005"].id, "timeout": 15},
                {"kind": "ring_group", "target": support_group.id, "timeout": 20},
            ],
        },
        admin,
    )
    helpdesk = queues.create_queue(
        session,
        tenant.id,
        {
            "name": "Helpdesk",
            "extension": "700",
            "strategy": "longest_idle",
            "members": [
                {"user_id": people["1001"].id, "active": True},
                {"user_id": people["1002"].id, "active": True},
                {"user_id": people["1003"].id, "active": False},
            ],
        },
        admin,
    )
    lines.create_line(
        session,
        tenant.id,
        {
            "name": "Main line",
            "destination_kind": "queue",
            "destination_target": helpdesk.id,
            "number_ids": [main.id, sales_no.id],
            "default_caller_id_id": main.id,
        },
        admin,
    )
    lines.create_line(
        session,
        tenant.id,
        {"name": "Support line", "destination_kind": "ring_group", "destination_target": support_group.id},
        admin,
    )
    tag_ids = {}
    for name, color in (("VIP", "#b45309"), ("Partner", "#1d4ed8"), ("Lead", "#047857")):
        tag_ids[name] = tags.create_tag(session, tenant.id, {"name": name, "color": color}, admin).id
    for first, last, company, title, number, tag in _CONTACTS:
        contacts.create_contact(
            session,
            tenant.id,
            {
                "first_name": first,
                "last_name": last,
                "company": company,
                "job_title": title,
                "numbers": [{"label": "work", "number": number}],
                "tag_ids": [tag_ids[tag]],
            },
            admin,
        )
    contacts.create_contact(
        session,
        tenant.id,
        {"first_name": "Mum", "numbers": [{"label": "mobile", "number": "+12025550177"}]},
        people["1001"],
        owner_user_id=people["1001"].id,
    )
    broadcasts.create_broadcast(
        session,
        tenant.id,
        {
            "name": "Maintenance notice",
            "kind": "text",
            "message": "Our lines are down Sunday 02:00-03:00.",
            "tag_ids": [tag_ids["VIP"]],
        },
        admin,
    )
    automations.create_automation(
        session,
        tenant.id,
        {
            "name": "Tag missed VIP callers",
            "trigger": "call_missed",
            "steps": [
                {"action": "add_tag", "value": str(tag_ids["Lead"])},
                {"action": "callback", "value": ""},
            ],
        },
        admin,
    )
    return tenant
