"""Tenants built with ORM objects, for render tests: one small tenant covering every feature.

The golden tenant (`build_golden`), at `NOW`:

users      2001 Ann (caller ID: number 0101)     2002 Ben (DND)         2003 Cat (routing paused)
           2004 Dee (suspended: absent)          2005 Eve (chose do_not_use 0105; rung by the Sales line)
           2006 Fay (no choice, no line)         2007 Gus (chose 0103, cancelled already)
           Web Only (no extension: no phone)
numbers    0101 active        0102 active        0103 to_be_cancelled, past   0104 to_be_cancelled, future
           0105 do_not_use    0106 released      0107 pending                 0108 active (paused line)
           0109 active (hang-up line)            0110 active (external line)
lines      Main (0101 0103 0104 0105) -> queue 700, caller ID 0101
           Sales (0102) -> user 2005, caller ID 0102      Paused (0108, paused) -> group 600
           Support (0107 pending only: no config)          Closed (0109) -> hang up
           Forward (0110) -> external +14155550100
groups     600 parallel 25 s: 2001 (20 s), 2002 (DND), 2003 (paused), 2006 (30 s), +14155550111 (15 s);
               fallback queue 700
           601 sequential: 2005 (15 s), group 600 (20 s), extension 2006 (10 s), DID 0101 (20 s),
               sip:desk@partner.example.com (20 s); fallback +14155550199
           602 parallel: only 2004 (suspended); fallback hang up
queues     700 longest idle: 2001 active, 2005 inactive, 2002 active but DND, 2004 suspended;
               fallback group 601
           701 linear: 2006, 2001; no fallback
trunk      203.0.113.10:5060, registers as goldtrunk with a secret holding ';'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from control import crypto
from control.models import (
    Line,
    PhoneNumber,
    Queue,
    QueueMember,
    RingGroup,
    RingGroupMember,
    Team,
    Tenant,
    User,
)

NOW = datetime(2026, 6, 1, 12, 0, 0)
TRUNK_SECRET = "trunk;sec#ret!"


def secret_of(extension: str) -> str:
    return f"secret-{extension}-abcdef"


@dataclass
class Golden:
    tenant_id: int
    users: dict[str, int]
    numbers: dict[str, int]
    lines: dict[str, int]
    groups: dict[str, int]
    queues: dict[str, int]


def make_tenant(session: Session, name: str = "golden", *, trunk: bool = True) -> Tenant:
    tenant = Tenant(name=name, domain=f"{name}.switchboard.test", default_country="US")
    if trunk:
        tenant.trunk_host = "203.0.113.10"
        tenant.trunk_port = 5060
        tenant.trunk_username = "goldtrunk"
        tenant.trunk_secret_enc = crypto.encrypt(TRUNK_SECRET)
    session.add(tenant)
    session.flush()
    return tenant


def make_user(session: Session, tenant: Tenant, extension: str | None, name: str, **flags: object) -> User:
    user = User(
        tenant_id=tenant.id,
        name=name,
        email=f"{(extension or name).lower().replace(' ', '.')}@{tenant.domain}",
        role="agent",
        extension=extension,
        sip_secret_enc=crypto.encrypt(secret_of(extension)) if extension else None,
        **flags,
    )
    session.add(user)
    return user


def make_number(
    session: Session, tenant: Tenant, e164: str, status: str = "active", **fields: object
) -> PhoneNumber:
    number = PhoneNumber(
        tenant_id=tenant.id,
        e164=e164,
        country="US",
        number_type="fixed_line_or_mobile",
        status=status,
        **fields,
    )
    session.add(number)
    return number


def build_golden(session: Session, name: str = "golden") -> Golden:
    tenant = make_tenant(session, name)
    support = Team(tenant_id=tenant.id, name="Support")
    sales = Team(tenant_id=tenant.id, name="Sales")
    session.add_all([support, sales])
    session.flush()
    users = {
        "2001": make_user(session, tenant, "2001", "Ann Admin"),
        "2002": make_user(session, tenant, "2002", "Ben Busy", dnd=True),
        "2003": make_user(session, tenant, "2003", "Cat Paused", routing_paused=True),
        "2004": make_user(session, tenant, "2004", "Dee Suspended", suspended=True),
        "2005": make_user(session, tenant, "2005", "Eve O'Neil, Sales & Co"),
        "2006": make_user(session, tenant, "2006", "Fay Fallback"),
        "2007": make_user(session, tenant, "2007", "Gus Gone"),
        "web": make_user(session, tenant, None, "Web Only"),
    }
    session.flush()
    users["2001"].teams = [support]
    users["2002"].teams = [support, sales]
    users["2005"].teams = [sales]

    lines = {
        "main": Line(tenant_id=tenant.id, name="Main line", destination_kind="queue"),
        "sales": Line(tenant_id=tenant.id, name="Sales line", destination_kind="user"),
        "paused": Line(
            tenant_id=tenant.id, name="Paused line", status="paused", destination_kind="ring_group"
        ),
        "support": Line(tenant_id=tenant.id, name="Support line", destination_kind="ring_group"),
        "closed": Line(tenant_id=tenant.id, name="Closed line", destination_kind="hangup"),
        "forward": Line(
            tenant_id=tenant.id,
            name="Forward line",
            destination_kind="external",
            destination_value="+14155550100",
        ),
    }
    for line in lines.values():
        session.add(line)
    session.flush()
    numbers = {
        "0101": make_number(session, tenant, "+12025550101", line_id=lines["main"].id),
        "0102": make_number(session, tenant, "+12025550102", line_id=lines["sales"].id),
        "0103": make_number(
            session,
            tenant,
            "+12025550103",
            "to_be_cancelled",
            cancel_at=NOW - timedelta(days=1),
            line_id=lines["main"].id,
        ),
        "0104": make_number(
            session,
            tenant,
            "+12025550104",
            "to_be_cancelled",
            cancel_at=NOW + timedelta(days=1),
            line_id=lines["main"].id,
        ),
        "0105": make_number(session, tenant, "+12025550105", do_not_use=True, line_id=lines["main"].id),
        "0106": make_number(session, tenant, "+12025550106", "released"),
        "0107": make_number(session, tenant, "+12025550107", "pending", line_id=lines["support"].id),
        "0108": make_number(session, tenant, "+12025550108", line_id=lines["paused"].id),
        "0109": make_number(session, tenant, "+12025550109", line_id=lines["closed"].id),
        "0110": make_number(session, tenant, "+12025550110", line_id=lines["forward"].id),
    }
    session.flush()
    lines["main"].default_caller_id_id = numbers["0101"].id
    lines["sales"].default_caller_id_id = numbers["0102"].id
    lines["sales"].destination_user_id = users["2005"].id
    users["2001"].caller_id_number_id = numbers["0101"].id
    users["2005"].caller_id_number_id = numbers["0105"].id
    users["2007"].caller_id_number_id = numbers["0103"].id

    groups = {
        "600": RingGroup(
            tenant_id=tenant.id, name="Support", extension="600", strategy="parallel", timeout=25
        ),
        "601": RingGroup(
            tenant_id=tenant.id, name="Sales hunt", extension="601", strategy="sequential", timeout=60
        ),
        "602": RingGroup(
            tenant_id=tenant.id, name="Nobody home", extension="602", strategy="parallel", timeout=30
        ),
    }
    queues = {
        "700": Queue(
            tenant_id=tenant.id,
            name="Helpdesk",
            extension="700",
            strategy="longest_idle",
            wrap_up_time=15,
            max_wait=120,
            ring_timeout=20,
        ),
        "701": Queue(
            tenant_id=tenant.id,
            name="Sales queue",
            extension="701",
            strategy="linear",
            wrap_up_time=5,
            max_wait=60,
            ring_timeout=25,
        ),
    }
    session.add_all([*groups.values(), *queues.values()])
    session.flush()
    member = RingGroupMember
    groups["600"].members = [
        member(position=0, kind="user", user_id=users["2001"].id, timeout=20),
        member(position=1, kind="user", user_id=users["2002"].id, timeout=20),
        member(position=2, kind="user", user_id=users["2003"].id, timeout=20),
        member(position=3, kind="user", user_id=users["2006"].id, timeout=30),
        member(position=4, kind="external", value="+14155550111", timeout=15),
    ]
    groups["600"].fallback_kind, groups["600"].fallback_queue_id = "queue", queues["700"].id
    groups["601"].members = [
        member(position=0, kind="user", user_id=users["2005"].id, timeout=15),
        member(position=1, kind="ring_group", member_ring_group_id=groups["600"].id, timeout=20),
        member(position=2, kind="extension", value="2006", timeout=10),
        member(position=3, kind="did", number_id=numbers["0101"].id, timeout=20),
        member(position=4, kind="sip_uri", value="sip:desk@partner.example.com", timeout=20),
    ]
    groups["601"].fallback_kind, groups["601"].fallback_value = "external", "+14155550199"
    groups["602"].members = [member(position=0, kind="user", user_id=users["2004"].id, timeout=20)]
    groups["602"].fallback_kind = "hangup"
    queues["700"].members = [
        QueueMember(user_id=users["2001"].id, position=0, active=True),
        QueueMember(user_id=users["2005"].id, position=1, active=False),
        QueueMember(user_id=users["2002"].id, position=2, active=True),
        QueueMember(user_id=users["2004"].id, position=3, active=True),
    ]
    queues["700"].fallback_kind, queues["700"].fallback_ring_group_id = "ring_group", groups["601"].id
    queues["701"].members = [
        QueueMember(user_id=users["2006"].id, position=0, active=True),
        QueueMember(user_id=users["2001"].id, position=1, active=True),
    ]
    lines["main"].destination_queue_id = queues["700"].id
    lines["paused"].destination_ring_group_id = groups["600"].id
    lines["support"].destination_ring_group_id = groups["601"].id
    session.flush()
    return Golden(
        tenant_id=tenant.id,
        users={k: u.id for k, u in users.items()},
        numbers={k: n.id for k, n in numbers.items()},
        lines={k: line.id for k, line in lines.items()},
        groups={k: g.id for k, g in groups.items()},
        queues={k: q.id for k, q in queues.items()},
    )
