"""Phone numbers (DIDs): add, assign, transfer between lines, release.

The status is never edited: it moves only through the actions of control/services/
number_lifecycle.py (buy, approve, flag high risk, replace, release), each of which starts the
automations triggered by a number status change."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from control.errors import Invalid, NotFound
from control.models import Line, PhoneNumber, Team, User
from control.models.numbers import NUMBER_STATUSES, NUMBER_TYPES
from control.phone import digits_only, parse_number
from control.services import audit, config_changes, number_lifecycle, ring_groups
from control.services.listing import Page, like_pattern, paginate, status_counts
from control.services.tenants import get_tenant
from control.validators import Errors, add, boolean, optional_id

SORTS = {
    "number": PhoneNumber.e164,
    "country": PhoneNumber.country,
    "status": PhoneNumber.status,
    "created": PhoneNumber.created_at,
}


def get_number(session: Session, tenant_id: int, number_id: int) -> PhoneNumber:
    number = session.get(PhoneNumber, number_id)
    if number is None or number.tenant_id != tenant_id:
        raise NotFound("number", number_id)
    return number


def find_number(session: Session, e164: str) -> PhoneNumber | None:
    return session.scalar(select(PhoneNumber).where(PhoneNumber.e164 == e164))


def list_numbers(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    status: str = "",
    number_type: str = "",
    country: str = "",
    assigned: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[PhoneNumber]:
    stmt = select(PhoneNumber).where(PhoneNumber.tenant_id == tenant_id)
    if digits := digits_only(q):
        stmt = stmt.where(PhoneNumber.e164.like(like_pattern(digits), escape="\\"))
    if status in NUMBER_STATUSES:
        stmt = stmt.where(PhoneNumber.status == status)
    if number_type in NUMBER_TYPES:
        stmt = stmt.where(PhoneNumber.number_type == number_type)
    if country:
        stmt = stmt.where(PhoneNumber.country == country.upper()[:2])
    unassigned = (PhoneNumber.team_id.is_(None), PhoneNumber.user_id.is_(None), PhoneNumber.line_id.is_(None))
    if assigned == "yes":
        stmt = stmt.where(
            or_(*(c.is_not(None) for c in (PhoneNumber.team_id, PhoneNumber.user_id, PhoneNumber.line_id)))
        )
    elif assigned == "no":
        stmt = stmt.where(*unassigned)
    return paginate(
        session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="number"
    )


def number_status_counts(session: Session, tenant_id: int) -> dict[str, int]:
    return status_counts(session, PhoneNumber.status, PhoneNumber.tenant_id, tenant_id)


def usable_caller_ids(session: Session, tenant_id: int) -> list[PhoneNumber]:
    return list(
        session.scalars(
            select(PhoneNumber)
            .where(
                PhoneNumber.tenant_id == tenant_id,
                PhoneNumber.do_not_use.is_(False),
                PhoneNumber.status.in_(("active", "to_be_cancelled")),
            )
            .order_by(PhoneNumber.e164)
        )
    )


def unreleased_numbers(session: Session, tenant_id: int) -> list[PhoneNumber]:
    """Numbers that can still be put on a line."""
    return list(
        session.scalars(
            select(PhoneNumber)
            .where(PhoneNumber.tenant_id == tenant_id, PhoneNumber.status != "released")
            .order_by(PhoneNumber.e164)
        )
    )


def number_countries(session: Session, tenant_id: int) -> list[str]:
    return list(
        session.scalars(
            select(PhoneNumber.country)
            .where(PhoneNumber.tenant_id == tenant_id)
            .distinct()
            .order_by(PhoneNumber.country)
        )
    )


def _owned(session: Session, errors: Errors, model: type, tenant_id: int, ident: int | None, field: str):
    if ident is None:
        return None
    obj = session.get(model, ident)
    if obj is None or obj.tenant_id != tenant_id:
        add(errors, field, "Choose an entry of this tenant.")
        return None
    return obj.id


def _apply(session: Session, number: PhoneNumber, tenant_id: int, data: dict, *, creating: bool) -> None:
    errors: Errors = {}
    for field in ("status", "cancel_at"):
        if field in data:
            add(errors, field, number_lifecycle.STATUS_MOVES)
    tenant = get_tenant(session, tenant_id)
    if creating:
        try:
            parsed = parse_number(str(data.get("number") or ""), tenant.default_country)
        except Invalid as exc:
            errors.update(exc.errors)
        else:
            if find_number(session, parsed.e164) is not None:
                add(errors, "number", f"{parsed.e164} is already in the system.")
            number.e164, number.country, number.number_type = parsed.e164, parsed.country, parsed.number_type
    number.do_not_use = boolean(data, "do_not_use", number.do_not_use or False)
    number.team_id = _owned(session, errors, Team, tenant_id, optional_id(errors, data, "team_id"), "team_id")
    number.user_id = _owned(session, errors, User, tenant_id, optional_id(errors, data, "user_id"), "user_id")
    number.line_id = _owned(session, errors, Line, tenant_id, optional_id(errors, data, "line_id"), "line_id")
    if number.status == "released" and number.assigned:
        add(errors, "line_id", "A released number cannot be assigned to a team, user or line.")
    if errors:
        raise Invalid(errors)


def _refuse_loops(session: Session, number: PhoneNumber) -> None:
    """A number may not go on a line that routes it to a ring group that rings it."""
    session.flush()
    line = session.get(Line, number.line_id) if number.line_id else None
    loops = ring_groups.line_loops(session, line) if line is not None else []
    if loops:
        raise Invalid({"line_id": [f"Calls to this number would loop: {way_round}." for way_round in loops]})


def _current(number: PhoneNumber) -> dict:
    return {
        "do_not_use": number.do_not_use,
        "team_id": number.team_id,
        "user_id": number.user_id,
        "line_id": number.line_id,
    }


def create_number(session: Session, tenant_id: int, data: dict, actor: User | None) -> PhoneNumber:
    """Add a number the tenant already has (ported, or rented elsewhere): pending when its
    country needs documents, else active."""
    number = PhoneNumber(tenant_id=tenant_id, status="", do_not_use=False)
    with session.no_autoflush:
        _apply(session, number, tenant_id, data, creating=True)
    session.add(number)
    number_lifecycle.start(session, number, actor, "create")
    _refuse_loops(session, number)
    audit.write(session, actor, "number.create", number, e164=number.e164)
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
    return number


def update_number(
    session: Session, tenant_id: int, number_id: int, data: dict, actor: User | None
) -> PhoneNumber:
    number = get_number(session, tenant_id, number_id)
    with session.no_autoflush:
        _apply(session, number, tenant_id, _current(number) | dict(data), creating=False)
    release_caller_id_uses(session, number)
    _refuse_loops(session, number)
    audit.write(session, actor, "number.update", number, e164=number.e164)
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN, config_changes.ENDPOINTS)
    return number


def transfer_number(
    session: Session, tenant_id: int, number_id: int, line_id: int, actor: User | None
) -> PhoneNumber:
    """Move a number to another line (seed: Line settings → Transfer)."""
    number = get_number(session, tenant_id, number_id)
    source_line_id = number.line_id
    updated = update_number(session, tenant_id, number_id, {"line_id": line_id}, actor)
    if source_line_id:
        session.execute(
            update(Line)
            .where(Line.id == source_line_id, Line.default_caller_id_id == number.id)
            .values(default_caller_id_id=None)
        )
    audit.write(session, actor, "number.transfer", number, from_line=source_line_id, to_line=line_id)
    return updated


def release_number(session: Session, tenant_id: int, number_id: int, actor: User | None) -> PhoneNumber:
    """'Unrent': the number is released for good and returned to its provider; it stops routing
    and leaves every assignment."""
    number = get_number(session, tenant_id, number_id)
    number_lifecycle.release(session, number, actor, "release")
    return number


def release_caller_id_uses(session: Session, number: PhoneNumber) -> None:
    """A number that can no longer present as caller ID stops being anyone's caller ID."""
    if number.do_not_use or number.status not in ("active", "to_be_cancelled"):
        session.execute(
            update(User).where(User.caller_id_number_id == number.id).values(caller_id_number_id=None)
        )
        session.execute(
            update(Line).where(Line.default_caller_id_id == number.id).values(default_caller_id_id=None)
        )


def delete_number(session: Session, tenant_id: int, number_id: int, actor: User | None) -> None:
    """Forget the number; one still rented from a provider is returned to it first."""
    number = get_number(session, tenant_id, number_id)
    if number.status != "released":
        number_lifecycle.release(session, number, actor, "release")
    session.execute(
        update(User).where(User.caller_id_number_id == number.id).values(caller_id_number_id=None)
    )
    session.execute(
        update(Line).where(Line.default_caller_id_id == number.id).values(default_caller_id_id=None)
    )
    audit.write(session, actor, "number.delete", number, e164=number.e164)
    session.delete(number)
    session.flush()
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN, config_changes.ENDPOINTS)
