"""Ring groups: ordered members with their own ring timeouts; loops (through other groups, or out
through the trunk and back in on one of the tenant's own numbers) are rejected."""

from __future__ import annotations

from typing import NamedTuple, cast

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
    EXTENSION,
    MEMBER_TIMEOUT,
    RING_GROUP_TIMEOUT,
    SIP_URI,
    Errors,
    add,
    check,
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
        check(errors, f"{field}-target", target, EXTENSION)
        member.value = target
    elif kind == "external":
        try:
            member.value = parse_number(target, country, f"{field}-target").e164
        except Invalid as exc:
            errors.update(exc.errors)
    elif kind == "sip_uri":
        check(errors, f"{field}-target", target, SIP_URI)
        member.value = target
    return member


class _Step(NamedTuple):
    """Where a member leads: the extension of a ring group (maybe the group being edited), and
    how, when it is through one of the tenant's numbers ("+1… on line Main")."""

    extension: str
    via: str = ""


def _leads_to(session: Session, tenant_id: int, member: RingGroupMember) -> _Step | None:
    """The ring group a member rings, if any: directly, by extension, or by one of the tenant's
    numbers (a DID member, or an external number that is a DID: out through the trunk and back
    in) whose line routes to a group."""
    if member.kind == "ring_group" and member.member_ring_group_id:
        target = session.get(RingGroup, member.member_ring_group_id)
        return _Step(target.extension) if target is not None else None
    if member.kind == "extension" and member.value:
        return _Step(member.value)
    number = None
    if member.kind == "did" and member.number_id:
        number = session.get(PhoneNumber, member.number_id)
    elif member.kind == "external" and member.value:
        number = session.scalar(
            select(PhoneNumber).where(PhoneNumber.tenant_id == tenant_id, PhoneNumber.e164 == member.value)
        )
    line = session.get(Line, number.line_id) if number is not None and number.line_id else None
    if line is None:
        return None
    via = f"{number.e164} on line {line.name}"  # type: ignore[union-attr]
    if line.destination_kind == "ring_group" and line.destination_ring_group_id:
        target = session.get(RingGroup, line.destination_ring_group_id)
        return _Step(target.extension, via) if target is not None else None
    if line.destination_kind == "extension" and line.destination_value:
        return _Step(line.destination_value, via)
    return None


def _loop(session: Session, group: RingGroup, member: RingGroupMember) -> str | None:
    """The way round ("Support → +1… on line Main → Support") when ringing `member` rings
    `group` again, else None."""
    first = _leads_to(session, group.tenant_id, member)
    stack = [(first, [group.name])] if first is not None else []
    seen: set[str] = set()
    while stack:
        step, trail = stack.pop()
        assert step is not None
        trail = trail + [step.via] if step.via else trail
        if step.extension == group.extension:
            return " → ".join(trail + [group.name])
        if step.extension in seen:
            continue
        seen.add(step.extension)
        target = session.scalar(
            select(RingGroup).where(
                RingGroup.tenant_id == group.tenant_id, RingGroup.extension == step.extension
            )
        )
        if target is None:
            continue
        for sub in target.members:
            reached = _leads_to(session, group.tenant_id, sub)
            if reached is not None:
                stack.append((reached, trail + [target.name]))
    return None


def _check_loops(session: Session, group: RingGroup, members: list[RingGroupMember], errors: Errors) -> None:
    """Reject members through which the group would ring itself again, naming the way round."""
    for index, member in enumerate(members):
        way_round = _loop(session, group, member)
        if way_round is not None:
            add(errors, f"members-{index}-target", f"This member makes a loop: {way_round}.")


def line_loops(session: Session, line: Line) -> list[str]:
    """The loops a line would close, as ways round: the ring group it routes to (directly or by
    extension) ringing, through its members, a number that routes back to it. The model is read
    as flushed, with the line's new numbers and destination."""
    if line.destination_kind == "ring_group" and line.destination_ring_group_id:
        group = session.get(RingGroup, line.destination_ring_group_id)
    elif line.destination_kind == "extension" and line.destination_value:
        group = session.scalar(
            select(RingGroup).where(
                RingGroup.tenant_id == line.tenant_id, RingGroup.extension == line.destination_value
            )
        )
    else:
        return []
    if group is None:
        return []
    return [way for member in group.members if (way := _loop(session, group, member)) is not None]


def _check_sequential_timeout(
    group: RingGroup, members: list[RingGroupMember], errors: Errors, *, timeout_given: bool
) -> None:
    """A sequential group rings its members one after another: together they must fit in the
    group's timeout, or the timeout shown would not be how long the group rings. Without a
    timeout given, the group rings as long as its members take (at least the default)."""
    if group.strategy != "sequential" or not members or "timeout" in errors:
        return
    if any(key.endswith("-timeout") for key in errors):
        return
    total = sum(m.timeout for m in members)
    if not timeout_given and total <= RING_GROUP_TIMEOUT.hi:
        group.timeout = max(group.timeout, total)
    elif total > group.timeout:
        add(
            errors,
            "timeout",
            f"The members ring one after another for {' + '.join(str(m.timeout) for m in members)} = "
            f"{total} seconds, longer than the group's timeout of {group.timeout} seconds: "
            f"raise the timeout to {total} or shorten the members' timeouts.",
        )


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
        _check_loops(session, group, members, errors)
    else:
        members = list(group.members)
    _check_sequential_timeout(group, members, errors, timeout_given=data.get("timeout") not in (None, ""))
    if raw_members is not None and not errors:
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
