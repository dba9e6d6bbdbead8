from __future__ import annotations

import pytest
from sqlalchemy import func, select

from control import effects
from control.db import unit_of_work
from control.errors import Conflict, Invalid
from control.models import AuditLog, Line, PhoneNumber, QueueMember, RingGroup, RingGroupMember, User
from control.services import lines, numbers, ring_groups, users


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_duplicate_extension_is_rejected_across_users_groups_and_queues(session, demo):
    t = demo["tenant_id"]
    for ext, holder in (("1001", "user"), ("600", "ring group"), ("700", "queue")):
        with pytest.raises(Invalid) as exc:
            users.create_user(session, t, {"name": "X", "email": f"x{ext}@a.example", "extension": ext}, None)
        assert holder in exc.value.errors["extension"][0]
        session.rollback()


def test_ten_kilobyte_name_and_empty_required_fields(session, demo):
    with pytest.raises(Invalid) as exc:
        users.create_user(session, demo["tenant_id"], {"name": "n" * 10_240, "email": ""}, None)
    assert "At most 120" in exc.value.errors["name"][0]
    assert exc.value.errors["email"] == ["This field is required."]


def test_ring_group_cycle_is_rejected_with_the_path(session, demo):
    t = demo["tenant_id"]
    a = ring_groups.create_ring_group(session, t, {"name": "A", "extension": "650", "members": []}, None)
    b = ring_groups.create_ring_group(
        session,
        t,
        {"name": "B", "extension": "651", "members": [{"kind": "ring_group", "target": a.id}]},
        None,
    )
    with pytest.raises(Invalid) as exc:
        ring_groups.update_ring_group(
            session, t, a.id, {"members": [{"kind": "extension", "target": "651", "timeout": 5}]}, None
        )
    assert "A → B → A" in exc.value.errors["members-0-target"][0]
    assert b.members[0].member_ring_group_id == a.id


def test_ring_group_self_member_is_a_cycle(session, demo):
    t = demo["tenant_id"]
    a = ring_groups.create_ring_group(session, t, {"name": "Solo", "extension": "652", "members": []}, None)
    with pytest.raises(Invalid):
        ring_groups.update_ring_group(
            session, t, a.id, {"members": [{"kind": "ring_group", "target": a.id}]}, None
        )


def test_delete_user_with_dependencies_needs_acknowledgement(session, demo):
    t, agent = demo["tenant_id"], demo["agent_id"]
    deps = users.dependencies(session, t, agent)
    assert {d.kind for d in deps} >= {"ring_group", "queue"}
    with pytest.raises(Conflict) as exc:
        users.delete_user(session, t, agent, None)
    assert any("Support" in d for d in exc.value.details)
    users.delete_user(session, t, agent, None, acknowledged=True)
    session.flush()
    assert session.get(User, agent) is None
    assert session.scalar(select(func.count()).where(RingGroupMember.user_id == agent)) == 0
    assert session.scalar(select(func.count()).where(QueueMember.user_id == agent)) == 0


def test_duplicate_line_copies_settings_never_numbers(session, demo):
    t = demo["tenant_id"]
    main = session.scalar(select(Line).where(Line.name == "Main line"))
    assert len(main.numbers) == 2
    copy = lines.duplicate_line(session, t, main.id, None)
    assert copy.destination_kind == main.destination_kind == "queue"
    assert copy.destination_queue_id == main.destination_queue_id
    assert copy.numbers == [] and copy.default_caller_id_id is None


def test_default_caller_id_must_be_a_line_number(session, demo):
    t = demo["tenant_id"]
    other = numbers.create_number(session, t, {"number": "+12125550177"}, None)
    main = session.scalar(select(Line).where(Line.name == "Main line"))
    with pytest.raises(Invalid) as exc:
        lines.update_line(session, t, main.id, {"default_caller_id_id": other.id}, None)
    assert "default_caller_id_id" in exc.value.errors


def test_release_number_detaches_it_and_stops_caller_id_use(session, demo):
    t = demo["tenant_id"]
    number = session.scalar(select(PhoneNumber).where(PhoneNumber.e164 == "+12125550100"))
    numbers.release_number(session, t, number.id, None)
    session.flush()
    main = session.scalar(select(Line).where(Line.name == "Main line"))
    assert number.status == "released" and number.line_id is None
    assert main.default_caller_id_id is None


def test_effects_run_after_commit_merged_and_never_after_rollback(database_url, demo):
    seen: list[list] = []
    effects.register(effects.ConfigChanged, seen.append)
    try:
        with unit_of_work() as s:
            for i in range(10):
                users.update_user(s, demo["tenant_id"], demo["agent_id"], {"name": f"Alice {i}"}, None)
            assert seen == []
        assert len(seen) == 1
        assert sorted(e.reload for e in seen[0]) == ["dialplan", "endpoints", "queues"]
        with pytest.raises(RuntimeError), unit_of_work() as s:
            users.update_user(s, demo["tenant_id"], demo["agent_id"], {"name": "Never"}, None)
            raise RuntimeError("boom")
        assert len(seen) == 1
    finally:
        effects.clear_handlers()


def test_writes_are_audited(session, demo):
    before = _count(session, AuditLog)
    ring_groups.create_ring_group(session, demo["tenant_id"], {"name": "Audit", "extension": "653"}, None)
    session.flush()
    assert _count(session, AuditLog) == before + 1
    assert session.scalar(select(RingGroup).where(RingGroup.extension == "653")).name == "Audit"


@pytest.mark.parametrize("target", ["9" * 20, "²", "-1", "0x10"])
def test_hostile_ids_are_field_errors_never_crashes(session, demo, target):
    t = demo["tenant_id"]
    with pytest.raises(Invalid) as exc:
        lines.create_line(
            session, t, {"name": "L", "destination_kind": "user", "destination_target": target}, None
        )
    assert "destination_target" in exc.value.errors
    session.rollback()
    with pytest.raises(Invalid) as exc:
        ring_groups.create_ring_group(
            session,
            t,
            {"name": "G", "extension": "654", "members": [{"kind": "user", "target": target}]},
            None,
        )
    assert "members-0-target" in exc.value.errors
    session.rollback()
    with pytest.raises(Invalid):
        users.create_user(session, t, {"name": "N", "email": "n@a.example", "team_ids": [target]}, None)


@pytest.mark.parametrize("secret", ["has space", "${system(x)}", "é-secret", "x" * 200])
def test_trunk_secret_is_checked_before_it_can_reach_a_config(session, demo, secret):
    from control.services import tenants

    with pytest.raises(Invalid) as exc:
        tenants.update_tenant(
            session,
            demo["tenant_id"],
            {"name": "acme", "domain": "acme.switchboard.test", "trunk_secret": secret},
            None,
        )
    assert "trunk_secret" in exc.value.errors
