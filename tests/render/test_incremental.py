"""TenantRender.refresh after each kind of change gives exactly what a full render gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from control import crypto
from control.models import Line, PhoneNumber, Queue, QueueMember, RingGroup, Tenant, User
from control.render import PBX_KINDS, Changes, RenderError, open_render, render_tenant
from tests.render.factories import NOW, make_number


def check(session, live, tenant_id, diff, now=NOW):  # type: ignore[no-untyped-def]
    session.commit()
    full = render_tenant(session, tenant_id, live.kind, now=now)
    assert dict(live.rendered.files) == dict(full.files)
    assert live.rendered.content_hash == full.content_hash
    assert diff.written or diff.removed, "the change should have changed some file"


@pytest.mark.parametrize("kind", PBX_KINDS)
def test_every_change_matches_a_full_render(session, golden, kind):
    g, tid = golden, golden.tenant_id
    live = open_render(session, tid, kind, now=NOW)
    users, numbers, lines, groups, queues = g.users, g.numbers, g.lines, g.groups, g.queues

    def apply(statement, **changes):  # type: ignore[no-untyped-def]
        if statement is not None:
            session.execute(statement)
        session.commit()
        diff = live.refresh(session, Changes(**{k: frozenset(v) for k, v in changes.items()}))
        check(session, live, tid, diff)
        return diff

    diff = apply(
        update(User).where(User.id == users["2001"]).values(name="Ann Renamed"), users={users["2001"]}
    )
    assert all("2001" in path or path.startswith("queues.d") for path in diff.written)
    apply(update(User).where(User.id == users["2006"]).values(suspended=True), users={users["2006"]})
    apply(
        update(User).where(User.id == users["2005"]).values(caller_id_number_id=numbers["0101"]),
        users={users["2005"]},
    )
    apply(
        update(User).where(User.id == users["2003"]).values(routing_paused=False, dnd=True),
        users={users["2003"]},
    )
    apply(update(Line).where(Line.id == lines["main"]).values(status="paused"), lines={lines["main"]})
    apply(
        update(PhoneNumber).where(PhoneNumber.id == numbers["0104"]).values(line_id=lines["sales"]),
        numbers={numbers["0104"]},
    )
    # releasing the main number: 2001's caller ID, the tenant default, a DID leg of group 601 all move
    apply(
        update(PhoneNumber).where(PhoneNumber.id == numbers["0101"]).values(status="released", line_id=None),
        numbers={numbers["0101"]},
    )
    apply(
        update(Line)
        .where(Line.id == lines["sales"])
        .values(destination_kind="hangup", destination_user_id=None),
        lines={lines["sales"]},
    )
    apply(
        update(RingGroup).where(RingGroup.id == groups["600"]).values(strategy="sequential"),
        groups={groups["600"]},
    )
    apply(
        update(QueueMember).where(QueueMember.queue_id == queues["700"]).values(active=True),
        queues={queues["700"]},
    )
    apply(
        update(Queue).where(Queue.id == queues["701"]).values(ring_timeout=5, strategy="random"),
        queues={queues["701"]},
    )

    tenant = session.get(Tenant, tid)
    newcomer = User(
        tenant_id=tid,
        name="Neo New",
        email="neo@golden.test",
        extension="2008",
        sip_secret_enc=crypto.encrypt("secret-2008-abcdef"),
    )
    session.add(newcomer)
    session.flush()
    session.add(QueueMember(queue_id=queues["701"], user_id=newcomer.id, position=5, active=True))
    apply(None, users={newcomer.id}, queues={queues["701"]})

    fresh = Line(tenant_id=tid, name="Fresh line", destination_kind="user", destination_user_id=newcomer.id)
    session.add(fresh)
    session.flush()
    number = make_number(session, tenant, "+12025550199", line_id=fresh.id)
    session.flush()
    fresh.default_caller_id_id = number.id
    apply(None, lines={fresh.id}, numbers={number.id})

    apply(delete(RingGroup).where(RingGroup.id == groups["602"]), groups={groups["602"]})
    apply(delete(User).where(User.id == users["2002"]), users={users["2002"]}, queues={queues["700"]})

    later = NOW + timedelta(days=2)  # number 0104 (to be cancelled tomorrow) stops routing
    diff = live.refresh(session, Changes(), now=later)
    check(session, live, tid, diff, now=later)

    session.execute(update(Tenant).where(Tenant.id == tid).values(trunk_host=None))
    session.commit()
    diff = live.refresh(session, Changes(tenant=True))
    check(session, live, tid, diff, now=later)


def test_unchanged_rows_change_nothing(session, golden):
    live = open_render(session, golden.tenant_id, "asterisk", now=NOW)
    before = live.rendered
    diff = live.refresh(
        session, Changes(users=frozenset(golden.users.values()), lines=frozenset(golden.lines.values()))
    )
    assert diff.written == () and diff.removed == ()
    assert live.rendered.content_hash == before.content_hash


def test_a_one_shot_render_cannot_be_refreshed(session, golden):
    from control.render import renderer
    from control.render.incremental import TenantRender

    one_shot = TenantRender.full(session, golden.tenant_id, renderer("asterisk"), now=NOW, incremental=False)
    with pytest.raises(RenderError, match="incremental=False"):
        one_shot.refresh(session, Changes())
