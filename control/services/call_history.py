"""One user's call history as the portal shows it: who (from their phonebook, else the number),
inbound / outbound / missed, the line used, duration, and whether the number can be added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from control.models import CallRecord, Contact, ContactNumber, User
from control.services import phonebook
from control.services.calls import search_clause
from control.services.listing import Page, like_pattern, paginate

KINDS = ("inbound", "outbound", "missed")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    kind: str
    number: str
    name: str
    contact_id: int | None
    line: str
    duration: str
    seconds: int
    started_at: datetime


def mm_ss(seconds: int) -> str:
    minutes, rest = divmod(max(0, seconds), 60)
    return f"{minutes:02d}:{rest:02d}"


def _party(user: User) -> ColumnElement[bool]:
    return or_(
        CallRecord.caller_user_id == user.id,
        CallRecord.callee_user_id == user.id,
        CallRecord.answered_by_user_id == user.id,
    )


def _phonebook_match(user: User, q: str) -> ColumnElement[bool] | None:
    """Calls with a number of the user's phonebook entries whose name matches `q`."""
    q = q.strip()[:80]
    if not q:
        return None
    numbers = (
        select(ContactNumber.e164)
        .join(Contact, Contact.id == ContactNumber.contact_id)
        .where(
            Contact.owner_user_id == user.id,
            Contact.search_text.like(like_pattern(q.lower()), escape="\\"),
        )
    )
    return or_(CallRecord.caller_number.in_(numbers), CallRecord.callee_number.in_(numbers))


def _entry(call: CallRecord, user: User, names: dict[str, tuple[int, str]]) -> HistoryEntry:
    outbound = call.caller_user_id == user.id
    if outbound:
        kind, number = "outbound", call.callee_number
    else:
        kind, number = ("missed" if call.missed else "inbound"), call.caller_number
    contact = names.get(number)
    return HistoryEntry(
        id=call.id,
        kind=kind,
        number=number,
        name=contact[1] if contact else number,
        contact_id=contact[0] if contact else None,
        # Inbound: the number that was called; outbound: the caller ID the other side saw.
        line=call.number_used or ("" if outbound else call.callee_number),
        duration=mm_ss(call.billsec),
        seconds=call.billsec,
        started_at=call.started_at,
    )


def history(
    session: Session, user: User, *, q: str = "", page: int = 1, per_page: int = 50
) -> Page[HistoryEntry]:
    """The user's own calls, newest first; `q` matches a name (the phonebook's too) or any digits."""
    stmt = select(CallRecord).where(CallRecord.tenant_id == user.tenant_id, _party(user))
    matching = [c for c in (search_clause(user.tenant_id, q), _phonebook_match(user, q)) if c is not None]
    if matching:
        stmt = stmt.where(or_(*matching))
    found = paginate(
        session,
        stmt,
        page=page,
        per_page=per_page,
        sorts={"started": CallRecord.started_at},
        default_sort="-started",
    )
    numbers = {c.caller_number for c in found.items} | {c.callee_number for c in found.items}
    names = phonebook.names_by_number(session, user, numbers)
    return Page(
        items=[_entry(call, user, names) for call in found.items],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
    )
