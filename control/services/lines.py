"""Lines: numbers routed to one destination; pause, duplicate, default caller ID."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from control.errors import Invalid, NotFound
from control.models import ActivityItem, CallRecord, Line, PhoneNumber, User
from control.models.lines import LINE_STATUSES
from control.services import audit, config_changes, destinations, ring_groups
from control.services.listing import Page, like_pattern, paginate, status_counts
from control.services.tenants import get_tenant
from control.validators import Errors, add, choice, id_list, optional_id, text

SORTS = {"name": Line.name, "status": Line.status, "created": Line.created_at}


def get_line(session: Session, tenant_id: int, line_id: int) -> Line:
    line = session.get(Line, line_id)
    if line is None or line.tenant_id != tenant_id:
        raise NotFound("line", line_id)
    return line


def list_lines(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    status: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[Line]:
    stmt = select(Line).where(Line.tenant_id == tenant_id).options(selectinload(Line.numbers))
    if q:
        stmt = stmt.where(func.lower(Line.name).like(like_pattern(q.lower()), escape="\\"))
    if status in LINE_STATUSES:
        stmt = stmt.where(Line.status == status)
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="name")


def line_status_counts(session: Session, tenant_id: int) -> dict[str, int]:
    return {s: 0 for s in LINE_STATUSES} | status_counts(session, Line.status, Line.tenant_id, tenant_id)


def all_lines(session: Session, tenant_id: int) -> list[Line]:
    return list(session.scalars(select(Line).where(Line.tenant_id == tenant_id).order_by(Line.name)))


def _apply(session: Session, line: Line, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    tenant = get_tenant(session, tenant_id)
    line.name = text(errors, data, "name", required=True)
    line.status = choice(errors, data, "status", LINE_STATUSES, line.status or "active")
    destinations.apply(session, errors, tenant, line, "destination", data, required=True)
    if "number_ids" in data:
        wanted = id_list(errors, data, "number_ids")
        numbers = list(
            session.scalars(
                select(PhoneNumber).where(PhoneNumber.tenant_id == tenant_id, PhoneNumber.id.in_(wanted))
            )
        )
        if len(numbers) != len(set(wanted)):
            add(errors, "number_ids", "Choose numbers of this tenant.")
        elif any(n.status == "released" for n in numbers):
            add(errors, "number_ids", "A released number cannot be put on a line.")
        line.numbers = numbers
    default_id = optional_id(errors, data, "default_caller_id_id")
    if default_id is not None:
        own = {n.id: n for n in line.numbers}
        if default_id not in own:
            add(errors, "default_caller_id_id", "The default caller ID must be one of the line's numbers.")
        elif own[default_id].do_not_use:
            add(errors, "default_caller_id_id", "This number is marked do not use.")
    line.default_caller_id_id = default_id
    if errors:
        raise Invalid(errors)


def _refuse_loops(session: Session, line: Line, field: str) -> None:
    """A line may not route one of its numbers to a ring group that rings that number."""
    session.flush()
    loops = ring_groups.line_loops(session, line)
    if loops:
        raise Invalid({field: [f"Calls to this line would loop: {way_round}." for way_round in loops]})


def _current(line: Line) -> dict:
    return {
        "name": line.name,
        "status": line.status,
        "destination_kind": line.destination_kind,
        "destination_target": destinations.target_of(line, "destination"),
        "default_caller_id_id": line.default_caller_id_id,
    }


def create_line(session: Session, tenant_id: int, data: dict, actor: User | None) -> Line:
    line = Line(tenant_id=tenant_id, status="active")
    line.numbers = []
    with session.no_autoflush:
        _apply(session, line, tenant_id, data)
    session.add(line)
    _refuse_loops(session, line, "destination_target")
    audit.write(session, actor, "line.create", line)
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
    return line


def update_line(session: Session, tenant_id: int, line_id: int, data: dict, actor: User | None) -> Line:
    line = get_line(session, tenant_id, line_id)
    with session.no_autoflush:
        _apply(session, line, tenant_id, _current(line) | dict(data))
    _refuse_loops(session, line, "destination_target")
    audit.write(session, actor, "line.update", line)
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
    return line


def set_status(session: Session, tenant_id: int, line_id: int, status: str, actor: User | None) -> Line:
    """Pause or activate a line (a paused line rejects inbound calls)."""
    if status not in LINE_STATUSES:
        raise Invalid(f"Choose one of: {', '.join(LINE_STATUSES)}.", "status")
    line = get_line(session, tenant_id, line_id)
    line.status = status
    session.flush()
    audit.write(session, actor, f"line.{'pause' if status == 'paused' else 'activate'}", line)
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
    return line


def duplicate_line(session: Session, tenant_id: int, line_id: int, actor: User | None) -> Line:
    """A copy of the line's settings; numbers are never copied (a number routes to one line)."""
    source = get_line(session, tenant_id, line_id)
    copy = Line(
        tenant_id=tenant_id,
        name=f"{source.name} (copy)"[:120],
        status=source.status,
        destination_kind=source.destination_kind,
        destination_user_id=source.destination_user_id,
        destination_ring_group_id=source.destination_ring_group_id,
        destination_queue_id=source.destination_queue_id,
        destination_value=source.destination_value,
        default_caller_id_id=None,
    )
    session.add(copy)
    session.flush()
    audit.write(session, actor, "line.duplicate", copy, source=source.id)
    return copy


def delete_line(session: Session, tenant_id: int, line_id: int, actor: User | None) -> None:
    """Delete a line; its numbers become unassigned. Its history stays: its calls and activity
    keep the line's name and number as text (the references themselves become empty)."""
    line = get_line(session, tenant_id, line_id)
    number = next((n.e164 for n in line.numbers if n.id == line.default_caller_id_id), None) or next(
        (n.e164 for n in line.numbers), ""
    )
    session.execute(
        update(CallRecord)
        .where(CallRecord.line_id == line.id, CallRecord.line_name == "")
        .values(line_name=line.name)
    )
    session.execute(
        update(ActivityItem)
        .where(ActivityItem.line_id == line.id)
        .values(line_name=line.name, line_number=number)
    )
    session.execute(update(PhoneNumber).where(PhoneNumber.line_id == line.id).values(line_id=None))
    audit.write(session, actor, "line.delete", line, name=line.name)
    session.delete(line)
    session.flush()
    config_changes.changed(session, tenant_id, config_changes.DIALPLAN)
