"""Call history: filtering, pagination and CSV export of call records."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from control.errors import NotFound
from control.models import ActivityItem, CallRecord, Contact, Line, Queue, RingGroup, User
from control.phone import digits_only
from control.services.listing import Page, like_pattern, paginate

SORTS = {"started": CallRecord.started_at, "duration": CallRecord.duration, "direction": CallRecord.direction}
DIRECTIONS = ("inbound", "outbound", "internal")
CSV_COLUMNS = (
    "id",
    "started_at",
    "answered_at",
    "ended_at",
    "direction",
    "missed",
    "caller_number",
    "caller_name",
    "callee_number",
    "number_used",
    "duration",
    "billsec",
    "hangup_cause",
    "caller_user_id",
    "callee_user_id",
    "answered_by_user_id",
    "line_id",
    "ring_group_id",
    "queue_id",
)


def get_call(session: Session, tenant_id: int, call_id: int) -> CallRecord:
    call = session.get(CallRecord, call_id)
    if call is None or call.tenant_id != tenant_id:
        raise NotFound("call", call_id)
    return call


def is_party(call: CallRecord, user: User) -> bool:
    """Whether the user called, was called, or answered: the calls an agent may see."""
    return user.id in (call.caller_user_id, call.callee_user_id, call.answered_by_user_id)


def get_call_for(session: Session, tenant_id: int, call_id: int, user: User) -> CallRecord:
    """A call as this user may see it: admins see every call, agents only their own."""
    call = get_call(session, tenant_id, call_id)
    if user.role != "admin" and not is_party(call, user):
        raise NotFound("call", call_id)
    return call


def describe_call(session: Session, call: CallRecord) -> dict[str, object]:
    """Plain names for a call page: the people, contacts, line, ring group and queue it touched."""

    def name(model: type, object_id: int | None) -> dict[str, object] | None:
        if object_id is None:
            return None
        found = session.get(model, object_id)
        if found is None or found.tenant_id != call.tenant_id:
            return None
        return {"id": found.id, "name": found.display_name if isinstance(found, Contact) else found.name}

    items = session.scalars(
        select(ActivityItem).where(ActivityItem.call_record_id == call.id).order_by(ActivityItem.id)
    )
    return {
        "caller_user": name(User, call.caller_user_id),
        "callee_user": name(User, call.callee_user_id),
        "answered_by": name(User, call.answered_by_user_id),
        "caller_contact": name(Contact, call.caller_contact_id),
        "callee_contact": name(Contact, call.callee_contact_id),
        "line": name(Line, call.line_id),
        "ring_group": name(RingGroup, call.ring_group_id),
        "queue": name(Queue, call.queue_id),
        "activity": [
            {
                "id": item.id,
                "kind": item.kind,
                "archived": item.archived,
                "user": name(User, item.user_id),
                "line": name(Line, item.line_id),
                "line_name": item.line_name,
            }
            for item in items
        ],
    }


def search_clause(tenant_id: int, q: str) -> ColumnElement[bool] | None:
    """Calls matching a search: a name (the caller ID name, or a user's or contact's name on the
    call) or any run of digits of a number on it (caller, callee or the DID used)."""
    q = q.strip()[:80]
    if not q:
        return None
    pattern = like_pattern(q.lower())
    users_named = select(User.id).where(
        User.tenant_id == tenant_id, func.lower(User.name).like(pattern, escape="\\")
    )
    contacts_named = select(Contact.id).where(
        Contact.tenant_id == tenant_id, Contact.search_text.like(pattern, escape="\\")
    )
    conditions: list[ColumnElement[bool]] = [
        func.lower(CallRecord.caller_name).like(pattern, escape="\\"),
        CallRecord.caller_user_id.in_(users_named),
        CallRecord.callee_user_id.in_(users_named),
        CallRecord.answered_by_user_id.in_(users_named),
        CallRecord.caller_contact_id.in_(contacts_named),
        CallRecord.callee_contact_id.in_(contacts_named),
    ]
    if digits := digits_only(q):
        number = like_pattern(digits)
        conditions += [
            CallRecord.caller_number.like(number, escape="\\"),
            CallRecord.callee_number.like(number, escape="\\"),
            CallRecord.number_used.like(number, escape="\\"),
        ]
    return or_(*conditions)


def _filtered(
    tenant_id: int,
    *,
    q: str = "",
    user_id: int | None = None,
    line_id: int | None = None,
    direction: str = "",
    missed: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select:
    stmt = select(CallRecord).where(CallRecord.tenant_id == tenant_id)
    if (matching := search_clause(tenant_id, q)) is not None:
        stmt = stmt.where(matching)
    if user_id:
        stmt = stmt.where(
            or_(
                CallRecord.caller_user_id == user_id,
                CallRecord.callee_user_id == user_id,
                CallRecord.answered_by_user_id == user_id,
            )
        )
    if line_id:
        stmt = stmt.where(CallRecord.line_id == line_id)
    if direction in DIRECTIONS:
        stmt = stmt.where(CallRecord.direction == direction)
    if missed is not None:
        stmt = stmt.where(CallRecord.missed.is_(missed))
    if since:
        stmt = stmt.where(CallRecord.started_at >= since)
    if until:
        stmt = stmt.where(CallRecord.started_at < until)
    return stmt


def list_calls(
    session: Session, tenant_id: int, *, page: int = 1, per_page: int = 50, sort: str | None = None, **filters
) -> Page[CallRecord]:
    return paginate(
        session,
        _filtered(tenant_id, **filters),
        page=page,
        per_page=per_page,
        sort=sort,
        sorts=SORTS,
        default_sort="-started",
    )


# What a spreadsheet reads as the start of a formula (fullwidth forms: some input methods convert them).
_FORMULA_LEADS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")


def export_csv(session: Session, tenant_id: int, **filters) -> Iterator[str]:
    """The filtered history as CSV, streamed in batches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    stmt = _filtered(tenant_id, **filters).order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
    for index, call in enumerate(session.scalars(stmt.execution_options(yield_per=500))):
        writer.writerow(["" if getattr(call, c) is None else csv_safe(getattr(call, c)) for c in CSV_COLUMNS])
        if index % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_safe(value: object) -> object:
    """Neutralise spreadsheet formulas in caller-supplied text (CSV injection): a cell that a
    spreadsheet could read as a formula — one starting with = + - @ (or their fullwidth forms),
    also behind blanks, tabs, line breaks or invisible characters, or starting with a tab or a
    carriage return — is written with a leading apostrophe. A plain signed number (+14155550100)
    stays as it is."""
    if not isinstance(value, str) or not value:
        return value
    lead = 0
    while lead < len(value) and (value[lead].isspace() or unicodedata.category(value[lead]) in ("Cc", "Cf")):
        lead += 1
    rest = value[lead:]
    signed_number = lead == 0 and rest[:1] in ("+", "-") and rest[1:].isascii() and rest[1:].isdigit()
    if value[0] in "\t\r" or (rest[:1] in _FORMULA_LEADS and not signed_number):
        return "'" + value
    return value
