"""A number's life: bought (or added), approved, flagged high risk, replaced, released.

The status moves only here, one action at a time, and only along these arrows:

    buy / add ──► pending (its country needs documents) ──approve──► active
              └─► active ◄──clear high risk── high_risk ◄──flag high risk── active
    high_risk ──replace──► to_be_cancelled ──(cancel_at: run_number_cancellation)──► released
    to_be_cancelled ──cancel replacement──► high_risk
    any but released ──unrent (release)──► released

Every move writes the audit log and starts the automations whose trigger is a number status
change, in the same unit of work. "Approve" needs the number approver permission (`User.approves_numbers`, held
by admins only) and at least one document. Services take `now` so the tests own the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control import effects
from control.db import utcnow
from control.errors import Conflict, Forbidden, Invalid
from control.models import Line, PhoneNumber, RingGroupMember, User
from control.number_providers import AvailableNumber, ProviderError, provider
from control.phone import parse_number
from control.services import audit, automation_triggers, config_changes, number_documents, number_rules, users
from control.services import numbers as numbers_service

STATUS_MOVES = (
    "The status is not edited: it moves only through the number's actions (buy, approve, "
    "high risk, replace, keep, unrent)."
)
CANCELLATION_DAYS = 30  # a replaced number keeps answering inbound calls this long (seed 002)
ROUTING = (config_changes.DIALPLAN, config_changes.ENDPOINTS)


def _move(session: Session, number: PhoneNumber, status: str, actor: User | None, action: str) -> None:
    old = number.status
    number.status = status
    session.flush()
    audit.write(
        session, actor, f"number.{action}", number, e164=number.e164, status_from=old, status_to=status
    )
    automation_triggers.number_status_changed(session, number, old)


def first_status(session: Session, tenant_id: int, country: str) -> str:
    return "pending" if number_rules.documents_required(session, tenant_id, country) else "active"


def start(session: Session, number: PhoneNumber, actor: User | None, action: str) -> None:
    """A new number's first status: pending when its country needs documents, else active."""
    _move(session, number, first_status(session, number.tenant_id, number.country), actor, action)


def _need(number: PhoneNumber, *statuses: str, doing: str) -> None:
    if number.status not in statuses:
        raise Conflict(f"{number.e164} is {number.status.replace('_', ' ')}: it cannot be {doing}.")


# -- buying ------------------------------------------------------------------------------------
def buy_number(session: Session, tenant_id: int, e164: str, actor: User | None) -> PhoneNumber:
    """Buy a number the provider offers (found with its search): pending or active at once."""
    wanted = parse_number(e164, "", field="e164").e164
    if numbers_service.find_number(session, wanted) is not None:
        raise Conflict(f"{wanted} is already in the system.")
    seller = provider(session, tenant_id)
    bought: AvailableNumber = seller.buy(wanted)
    number = PhoneNumber(
        tenant_id=tenant_id,
        e164=bought.e164,
        country=bought.country,
        number_type=bought.number_type,
        status="",
        do_not_use=False,
        provider=seller.name,
    )
    session.add(number)
    start(session, number, actor, "buy")
    config_changes.changed(session, tenant_id, *ROUTING)
    return number


# -- approval ----------------------------------------------------------------------------------
def may_approve(user: User | None) -> bool:
    return user is not None and user.role == "admin" and user.approves_numbers


def set_approver(session: Session, user: User, value: bool, actor: User | None) -> None:
    """Grant or take away the number approver permission; only an admin may hold it."""
    if value and user.role != "admin":
        raise Invalid(users.APPROVER_RULE, "approves_numbers")
    if user.approves_numbers != value:
        user.approves_numbers = value
        session.flush()
        audit.write(session, actor, "user.number_approver", user, granted=value)


def approve_number(session: Session, tenant_id: int, number_id: int, actor: User | None) -> PhoneNumber:
    number = numbers_service.get_number(session, tenant_id, number_id)
    if not may_approve(actor):
        raise Forbidden("Only a number approver may approve numbers.")
    _need(number, "pending", doing="approved")
    if not number_documents.list_documents(session, tenant_id, number.id):
        raise Conflict(f"{number.e164} has no documents yet: upload them before approving.")
    number.approved_by_id = actor.id if actor else None
    number.approved_at = utcnow()
    _move(session, number, "active", actor, "approve")
    config_changes.changed(session, tenant_id, *ROUTING)
    return number


# -- high risk ---------------------------------------------------------------------------------
def flag_high_risk(session: Session, tenant_id: int, number_id: int, actor: User | None) -> PhoneNumber:
    """The carrier or the admin considers the number high risk (spam-flagged, abused): red."""
    number = numbers_service.get_number(session, tenant_id, number_id)
    _need(number, "active", doing="flagged high risk")
    _move(session, number, "high_risk", actor, "flag_high_risk")
    return number


def clear_high_risk(session: Session, tenant_id: int, number_id: int, actor: User | None) -> PhoneNumber:
    number = numbers_service.get_number(session, tenant_id, number_id)
    _need(number, "high_risk", doing="cleared")
    _move(session, number, "active", actor, "clear_high_risk")
    return number


# -- replacement -------------------------------------------------------------------------------
def replacement_candidates(session: Session, tenant_id: int, number_id: int) -> list[PhoneNumber]:
    """Numbers that can replace this one: active, usable, unassigned, not this one."""
    return [
        n
        for n in numbers_service.unreleased_numbers(session, tenant_id)
        if n.id != number_id and n.status == "active" and not n.do_not_use and not n.assigned
    ]


def replace_number(
    session: Session,
    tenant_id: int,
    number_id: int,
    data: dict,
    actor: User | None,
    now: datetime | None = None,
) -> PhoneNumber:
    """Replace a high-risk number by one of the tenant's (`replacement_id`) or one bought now
    (`buy`, an E.164 from the provider's search). The replacement takes the old number's line,
    team, user and caller-ID uses at once; the old one is to be cancelled: it keeps answering
    inbound calls on its line until cancel_at (now + 30 days), then the scheduled job releases it.
    Returns the replacement."""
    old = numbers_service.get_number(session, tenant_id, number_id)
    _need(old, "high_risk", doing="replaced")
    replacement_id, to_buy = data.get("replacement_id"), str(data.get("buy") or "").strip()
    if bool(replacement_id) == bool(to_buy):
        raise Invalid("Give replacement_id or buy, not both.", "replacement_id")
    if to_buy:
        country = _country_of(to_buy)
        if number_rules.documents_required(session, tenant_id, country):
            raise Invalid(
                f"Numbers of {country} need approved documents first: buy one, have it approved, "
                "then choose it here.",
                "buy",
            )
        new = buy_number(session, tenant_id, to_buy, actor)
    else:
        try:
            new = numbers_service.get_number(session, tenant_id, int(replacement_id))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise Invalid("Choose one of your numbers.", "replacement_id") from None
        if new.id not in {n.id for n in replacement_candidates(session, tenant_id, old.id)}:
            raise Invalid("Choose an active, unassigned number that may be used.", "replacement_id")
    new.line_id, new.team_id, new.user_id = old.line_id, old.team_id, old.user_id
    session.execute(update(User).where(User.caller_id_number_id == old.id).values(caller_id_number_id=new.id))
    session.execute(
        update(Line).where(Line.default_caller_id_id == old.id).values(default_caller_id_id=new.id)
    )
    session.execute(
        update(RingGroupMember).where(RingGroupMember.number_id == old.id).values(number_id=new.id)
    )
    old.replaced_by_id = new.id
    old.cancel_at = (now or utcnow()).replace(microsecond=0) + timedelta(days=CANCELLATION_DAYS)
    _move(session, old, "to_be_cancelled", actor, "replace")
    audit.write(session, actor, "number.replaced_by", old, e164=old.e164, replacement=new.e164)
    effects.record(session, effects.NumberCancellationScheduled(tenant_id, old.id, old.cancel_at))
    config_changes.changed(session, tenant_id, *ROUTING)
    return new


def _country_of(e164: str) -> str:
    return parse_number(e164, "", field="buy").country


def cancel_replacement(session: Session, tenant_id: int, number_id: int, actor: User | None) -> PhoneNumber:
    """Keep the old number after all: high risk again, no cancel date, never released by the job.
    Its replacement keeps what it took over (move it back by hand if wanted)."""
    number = numbers_service.get_number(session, tenant_id, number_id)
    _need(number, "to_be_cancelled", doing="kept")
    number.cancel_at = None
    number.replaced_by_id = None
    _move(session, number, "high_risk", actor, "cancel_replacement")
    config_changes.changed(session, tenant_id, *ROUTING)
    return number


def finish_cancellation(session: Session, number_id: int, now: datetime | None = None) -> PhoneNumber | None:
    """The scheduled job's work: release a to-be-cancelled number whose cancel_at has come.

    Returns the released number; None when there is nothing to do (gone, kept, or not yet due:
    the caller schedules again at its cancel_at)."""
    number = session.get(PhoneNumber, number_id)
    if number is None or number.status != "to_be_cancelled" or number.cancel_at is None:
        return None
    if (now or utcnow()) < number.cancel_at:
        return None
    release(session, number, None, "cancelled")
    return number


def pending_cancellation(session: Session, number_id: int) -> datetime | None:
    """The cancel_at of a number still to be cancelled, else None."""
    number = session.get(PhoneNumber, number_id)
    if number is None or number.status != "to_be_cancelled":
        return None
    return number.cancel_at


def scheduled_cancellations(session: Session) -> list[tuple[int, datetime]]:
    """Every (number id, cancel_at) still to come: `switchboard numbers reschedule` queues them
    again after Redis lost its jobs."""
    rows = session.execute(
        select(PhoneNumber.id, PhoneNumber.cancel_at).where(
            PhoneNumber.status == "to_be_cancelled", PhoneNumber.cancel_at.is_not(None)
        )
    )
    return [(nid, at) for nid, at in rows if at is not None]


# -- release -----------------------------------------------------------------------------------
def release(session: Session, number: PhoneNumber, actor: User | None, action: str) -> None:
    """Released for good: back to its provider, out of every assignment, routes no more."""
    _need(number, "pending", "active", "high_risk", "to_be_cancelled", doing="released")
    if number.provider:
        try:
            provider(session, number.tenant_id, number.provider).release(number.e164)
        except ProviderError as exc:
            raise Conflict(f"{number.e164} could not be returned to its provider: {exc}") from exc
    number.team_id = number.user_id = number.line_id = None
    number.replaced_by_id = None
    number.cancel_at = None
    _move(session, number, "released", actor, action)
    numbers_service.release_caller_id_uses(session, number)
    session.flush()
    config_changes.changed(session, number.tenant_id, *ROUTING)
