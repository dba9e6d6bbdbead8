"""Ring groups: ordered members with their own ring timeouts; cycles are rejected."""

from __future__ import annotations

from typing import cast

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from control.errors import Conflict, Invalid, NotFound
from control.models import Line, PhoneNumber, Queue, RingGroup, RingGroupMember, User
from control.models.ring_groups import MEMBER_KINDS, RING_STRATEGIES
from control.phone import parse_number
from control.services import audit, config_changes, destinations, extensions
from control.services.listing import Page, like_pattern, paginate
from control.services.tenants import get_tenant
from control.validators import (
    EXTENSION_RE,
    MEMBER_TIMEOUT,
    RING_GROUP_TIMEOUT,
    SIP_URI_RE,
    Errors,
    add,
    choice,
    extension,
    integer,
    row_id,
    text,
)

SORTS = {"name": RingGroup.name, "extension": RingGroup.extension, "strategy": RingGroup.strategy}
MAX_MEMBERS = 50


def get_ring_group(session: Session, tenant_id: int, group_id: int) -> RingGroup:
    group = session.get(RingGroup, group_id)
    if group is None or group.tenant_id != tenant_id:
        raise NotFound("ring group", group_id)
    return group


def list_ring_groups(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    strategy: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[RingGroup]:
    stmt = select(RingGroup).where(RingGroup.tenant_id == tenant_id).options(selectinload(RingGroup.members))
    if q:
        pattern = like_pattern(q.lower())
        stmt = stmt.where(
            or_(
                func.lower(RingGroup.name).like(pattern, escape="\\"),
                RingGroup.extension.like(pattern, escape="\\"),
            )
        )
    if strategy in RING_STRATEGIES:
        stmt = stmt.where(RingGroup.strategy == strategy)
    return paginate(
        session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="extension"
    )


def all_ring_groups(session: Session, tenant_id: int) -> list[RingGroup]:
    return list(
        session.scalars(select(RingGroup).where(RingGroup.tenant_id == tenant_id).order_by(RingGroup.name))
    )


def _member(
    session: Session, errors: Errors, tenant_id: int, country: str, index: int, raw: dict
) -> RingGroupMember:
    field = f"members-{index}"
    kind = str(raw.get("kind") or "").strip()
    target = str(raw.get("target") or "").strip()
    member = RingGroupMember(kind=kind, position=index)
    member.timeout = integer(errors, raw, "timeout", 20, *MEMBER_TIMEOUT)
    if "timeout" in errors:
        errors[f"{field}-timeout"] = errors.pop("timeout")
    if kind not in MEMBER_KINDS:
        add(errors, f"{field}-kind", f"Choose one of: {', '.join(MEMBER_KINDS)}.")
        return member
    owned: dict[str, type[User] | type[RingGroup] | type[PhoneNumber]] = {
        "user": User,
        "ring_group": RingGroup,
        "did": PhoneNumber,
    }
    if kind in owned:
        found = session.get(owned[kind], row_id(target)) if row_id(target) else None
        obj = cast("User | RingGroup | PhoneNumber | None", found)
        if obj is None or obj.tenant_id != tenant_id:
            add(errors, f"{field}-target", f"Choose a {kind.replace('_', ' ')} of this tenant.")
        elif isinstance(obj, User):
            member.user_id = obj.id
            if not obj.extension:
                add(errors, f"{field}-target", f"{obj.name} has no extension.")
        elif isinstance(obj, RingGroup):
            member.member_ring_group_id = obj.id
        else:
            member.number_id = obj.id
    elif kind == "extension":
        if not EXTENSION_RE.match(target):
            add(errors, f"{field}-target", "An extension is 2 to 8 digits.")
        member.value = target
    elif kind == "external":
        try:
            member.value = parse_number(target, country, f"{field}-target").e164
        except Invalid as exc:
            errors.update(exc.errors)
    elif kind == "sip_uri":
        if not SIP_URI_RE.match(target) or len(target) > 255:
            add(errors, f"{field}-target", "A SIP URI like sip:alice@example.com.")
        member.value = target
    return member


def _reaches(session: Session, tenant_id: int, member: RingGroupMember) -> int | None:
    """The ring group a member leads to, if any (directly, by extension, or by a DID's line)."""
    if member.kind == "ring_group":
        return member.member_ring_group_id
    if member.kind == "extension" and member.value:
        return session.scalar(
            select(RingGroup.id).where(RingGroup.tenant_id == tenant_id, RingGroup.extension == member.value)
        )
    if member.kind == "did" and member.number_id:
        return session.scalar(
            select(Line.destination_ring_group_id)
            .join(PhoneNumber, PhoneNumber.line_id == Line.id)
            .where(PhoneNumber.id == member.number_id, Line.destination_kind == "ring_group")
        )
    return None


def _check_cycle(session: Session, group: RingGroup, members: list[RingGroupMember], errors: Errors) -> None:
    """Reject members through which the group would ring itself again."""
    for index, member in enumerate(members):
        start = _reaches(session, group.tenant_id, member)
        path = [group.name]
        seen: set[int] = set()
        stack = [(start, path)] if start is not None else []
        while stack:
            current, trail = stack.pop()
            if current == group.id and group.id is not None:
                add(
                    errors,
                    f"members-{index}-target",
                    f"This member makes a loop: {' → '.join(trail + [group.name])}.",
                )
                break
            if current in seen:
                continue
            seen.add(current)
            target = session.get(RingGroup, current)
            if target is None:
                continue
            for sub in target.members:
                reached = _reaches(session, group.tenant_id, sub)
                if reached is not None:
                    stack.append((reached, trail + [target.name]))


def _apply(session: Session, group: RingGroup, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    tenant = get_tenant(session, tenant_id)
    group.name = text(errors, data, "name", required=True)
    group.extension = extension(errors, data) or ""
    group.strategy = choice(errors, data, "strategy", RING_STRATEGIES, group.strategy or "parallel")
    group.timeout = integer(errors, data, "timeout", 30, *RING_GROUP_TIMEOUT)
    extensions.check_free(session, errors, tenant_id, group.extension, own=group)
    destinations.apply(session, errors, tenant, group, "fallback", data, required=False)
    raw_members = data.get("members")
    if raw_members is not None:
        if len(raw_members) > MAX_MEMBERS:
            add(errors, "members", f"At most {MAX_MEMBERS} members.")
            raw_members = raw_members[:MAX_MEMBERS]
        members = [
            _member(session, errors, tenant_id, tenant.default_country, i, dict(raw))
            for i, raw in enumerate(raw_members)
        ]
        if group.id is not None:
            _check_cycle(session, group, members, errors)
        if not errors:
            group.members = members
    if errors:
        raise Invalid(errors)


def member_data(group: RingGroup) -> list[dict]:
    """Members as the plain dicts that create/update accept."""
    out = []
    for m in group.members:
        target = {
            "user": m.user_id,
            "ring_group": m.member_ring_group_id,
            "did": m.number_id,
        }.get(m.kind, m.value)
        out.append({"kind": m.kind, "target": "" if target is None else str(target), "timeout": m.timeout})
    return out


def _current(group: RingGroup) -> dict:
    return {
        "name": group.name,
        "extension": group.extension,
        "strategy": group.strategy,
        "timeout": group.timeout,
        "fallback_kind": group.fallback_kind,
        "fallback_target": destinations.target_of(group, "fallback"),
    }


def create_ring_group(session: Session, tenant_id: int, data: dict, actor: User | None) -> RingGroup:
    group = RingGroup(tenant_id=tenant_id)
    group.members = []
    with session.no_autoflush:
        _apply(session, group, tenant_id, data)
    session.add(group)
    session.flush()
    audit.write(session, actor, "ring_group.create", group)
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
    return group


def update_ring_group(
    session: Session, tenant_id: int, group_id: int, data: dict, actor: User | None
) -> RingGroup:
    group = get_ring_group(session, tenant_id, group_id)
    if "extension" in data and str(data["extension"] or "").strip() != group.extension:
        raise Invalid({"extension": ["The extension of an existing group cannot be changed."]})
    with session.no_autoflush:
        _apply(session, group, tenant_id, _current(group) | dict(data))
    session.flush()
    audit.write(session, actor, "ring_group.update", group)
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
    return group


def delete_ring_group(session: Session, tenant_id: int, group_id: int, actor: User | None) -> None:
    group = get_ring_group(session, tenant_id, group_id)
    users = session.scalars(
        select(RingGroup.name)
        .join(RingGroupMember, RingGroupMember.ring_group_id == RingGroup.id)
        .where(RingGroupMember.member_ring_group_id == group.id)
    ).all()
    lines = session.scalars(select(Line.name).where(Line.destination_ring_group_id == group.id)).all()
    if users or lines:
        raise Conflict(
            f"{group.name} is still used.",
            [f"ring group {n}" for n in users] + [f"line {n}" for n in lines],
        )
    for model in (RingGroup, Queue):
        session.execute(
            update(model)
            .where(model.fallback_ring_group_id == group.id)
            .values(fallback_kind=None, fallback_ring_group_id=None)
        )
    audit.write(session, actor, "ring_group.delete", group, name=group.name)
    session.delete(group)
    session.flush()
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
