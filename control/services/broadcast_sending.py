"""Sending a broadcast: the audience resolved at start, calls and texts handed to the call
control within the tenant's throttle, each recipient's outcome, retries, pause and cancel.

The sender (worker/broadcasts.py) calls `dispatch` in a loop; each call is one unit of work
that records as many commands as the throttle allows now and says how long to wait for the
next. A voice call is a `broadcast_call` command (the node plays the recording to the number,
through the tenant's trunk with the line's caller ID); its outcome arrives from the PBX as a
call result (`on_call_result`). A text is a `message` command; its delivery result is the
command's final state (`on_command_finished`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from control import effects
from control.db import utcnow
from control.errors import Invalid
from control.models import Broadcast, BroadcastRecipient, Command, Contact, Line, PbxNode, Tenant, User
from control.models.broadcasts import WAITING_STATUSES
from control.phone import parse_number
from control.services import audit, commands
from control.services.broadcasts import audience, get_broadcast
from control.services.texts import sender_number

#: Recipients handed to the PBX whose result never came back are failed after the ring time plus
#: this long (a recording plays at most this long).
RESULT_GRACE = timedelta(minutes=15)
#: The sender looks again at least this often, even if no change woke it (`SenderWake`: a pause,
#: a cancel or a call's result wakes it at once).
IDLE_WAIT = 1.0
#: Calls go out evenly spaced, this much wider than 1/rate, so that the jitter between the
#: sender and the carrier never puts rate + 1 INVITEs within one second (5% was once too little:
#: 6 INVITEs within a second at 5/s in the broadcast tests, two cores at a load average of 10).
PACING_MARGIN = 0.1
#: Calls (or texts) handed to the executor and not taken yet, at most: enough to keep it busy,
#: few enough that a pause stops new calls within a second (the executor paces them).
HANDED_OVER = 2
#: How often the sender looks whether the executor took a call.
HAND_OVER_WAIT = 0.01


def spacing(rate: int) -> timedelta:
    """The least time between two calls (or texts) of a tenant sending `rate` a second."""
    return timedelta(seconds=(1 + PACING_MARGIN) / rate)


#: The PBX's call result: Asterisk's DIALSTATUS, FreeSWITCH's hang-up cause.
CALL_RESULTS = {
    "ANSWER": "answered",
    "BUSY": "busy",
    "USER_BUSY": "busy",
    "NOANSWER": "no_answer",
    "NO_ANSWER": "no_answer",
    "NO_USER_RESPONSE": "no_answer",
    "ORIGINATOR_CANCEL": "no_answer",
}
RETRIED = ("busy", "no_answer")
FINISHED = ("answered", "busy", "no_answer", "delivered", "failed", "skipped", "invalid", "cancelled")


@dataclass(frozen=True, slots=True)
class BroadcastChanged:
    """A broadcast's status or progress changed: the page shows it live."""

    tenant_id: int
    broadcast_id: int


@dataclass(frozen=True, slots=True)
class BroadcastRunning:
    """A broadcast started or resumed: its sender must run."""

    broadcast_id: int


@dataclass(frozen=True, slots=True)
class SenderWake:
    """Someone other than the sender changed the broadcast (paused, cancelled, a result came):
    its sender, waiting for the next slot or a free line, looks again now."""

    broadcast_id: int


@dataclass(frozen=True, slots=True)
class BroadcastScheduled:
    """A broadcast was scheduled: its start is due at `at` (naive UTC)."""

    broadcast_id: int
    at: datetime


def _changed(session: Session, broadcast: Broadcast) -> None:
    effects.record(session, BroadcastChanged(broadcast.tenant_id, broadcast.id))


# --- the audience ----------------------------------------------------------------------------


def _contact_name(contact: Contact) -> str:
    return f"{contact.first_name} {contact.last_name}".strip() or contact.company


def _valid_number(number: str) -> bool:
    try:
        return parse_number(number, "US").e164 == number
    except Invalid:
        return False


def resolve(session: Session, broadcast: Broadcast) -> list[BroadcastRecipient]:
    """The recipients, once: every contact of the audience with its first number; opted-out
    contacts are skipped and those without a valid number listed as invalid."""
    rows = []
    for contact in audience(session, broadcast):
        number = contact.numbers[0].e164 if contact.numbers else ""
        status, detail = "pending", ""
        if contact.do_not_call:
            status, detail = "skipped", "opted out (do not call)"
        elif not number:
            status, detail = "invalid", "no phone number"
        elif not _valid_number(number):
            status, detail = "invalid", f"{number} is not a valid phone number"
        rows.append(
            BroadcastRecipient(
                broadcast_id=broadcast.id,
                tenant_id=broadcast.tenant_id,
                contact_id=contact.id,
                name=_contact_name(contact)[:250],
                number=number,
                status=status,
                detail=detail,
            )
        )
    session.add_all(rows)
    session.flush()
    return rows


def _has_recipients(session: Session, broadcast_id: int) -> bool:
    return (
        session.scalar(select(BroadcastRecipient.id).where(BroadcastRecipient.broadcast_id == broadcast_id))
        is not None
    )


def _ready(session: Session, broadcast: Broadcast) -> None:
    """What sending needs: a line with a number that may be presented, a trunk, a recording."""
    if broadcast.line_id is None:
        raise Invalid("Choose the line the broadcast is sent from.", "line_id")
    line = session.get(Line, broadcast.line_id)
    assert line is not None
    sender_number(session, line)
    tenant = session.get(Tenant, broadcast.tenant_id)
    if tenant is None or not tenant.trunk_host:
        raise Invalid("This tenant has no trunk to reach the recipients through.", "line_id")
    if broadcast.kind == "voice" and not broadcast.recording:
        raise Invalid("Upload the recording to play.", "recording")
    commands.primary_node(session, broadcast.tenant_id)


# --- the operator's actions ------------------------------------------------------------------

ACTIONS = ("schedule", "unschedule", "start", "pause", "resume", "cancel")
#: Which action applies in which status.
ALLOWED = {
    "schedule": ("draft", "missed"),
    "unschedule": ("scheduled",),
    "start": ("draft", "scheduled", "missed"),
    "pause": ("running",),
    "resume": ("paused",),
    "cancel": ("scheduled", "missed", "running", "paused"),
}
#: A scheduled start this late was missed (Switchboard was not running then): the broadcast
#: starts late or is marked missed, as its `if_missed` says. rq's scheduler starts on time
#: within seconds.
MISSED_AFTER = timedelta(minutes=5)


def act(session: Session, tenant_id: int, broadcast_id: int, action: str, actor: User | None) -> Broadcast:
    """Schedule, start now, pause, resume or cancel a broadcast."""
    broadcast = get_broadcast(session, tenant_id, broadcast_id)
    if action not in ALLOWED:
        raise Invalid(f"Choose one of: {', '.join(ACTIONS)}.", "action")
    if broadcast.status not in ALLOWED[action]:
        raise Invalid(f"A {broadcast.status} broadcast cannot {action}.", "action")
    if action == "schedule":
        if broadcast.scheduled_at is None:
            raise Invalid("Set a time before scheduling.", "scheduled_at")
        _ready(session, broadcast)
        broadcast.status = "scheduled"
        effects.record(session, BroadcastScheduled(broadcast.id, broadcast.scheduled_at))
    elif action == "unschedule":
        broadcast.status = "draft"
    elif action in ("start", "resume"):
        start(session, broadcast)
        effects.record(session, BroadcastRunning(broadcast.id))
    elif action == "pause":
        broadcast.status = "paused"
    else:
        broadcast.status = "cancelled"
        broadcast.finished_at = utcnow()
        session.execute(
            update(BroadcastRecipient)
            .where(
                BroadcastRecipient.broadcast_id == broadcast.id,
                BroadcastRecipient.status.in_(WAITING_STATUSES),
            )
            .values(status="cancelled", detail="the broadcast was cancelled", updated_at=utcnow())
        )
    session.flush()
    audit.write(session, actor, f"broadcast.{action}", broadcast)
    _changed(session, broadcast)
    effects.record(session, SenderWake(broadcast.id))
    return broadcast


def start(session: Session, broadcast: Broadcast) -> None:
    """running; the audience is resolved the first time."""
    _ready(session, broadcast)
    broadcast.status = "running"
    if broadcast.started_at is None:
        broadcast.started_at = utcnow()
    if not _has_recipients(session, broadcast.id):
        resolve(session, broadcast)
    session.flush()


def start_when_due(session: Session, broadcast_id: int, now: datetime) -> bool:
    """The scheduler's start: True if the broadcast runs now (it may have been edited since).
    A start more than MISSED_AFTER late (Switchboard was not running at the time) happens late,
    or marks the broadcast missed if its operator chose so; the audit log says which."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status != "scheduled":
        return broadcast is not None and broadcast.status == "running"
    if broadcast.scheduled_at is None or broadcast.scheduled_at > now:
        return False
    late = now - broadcast.scheduled_at
    if late > MISSED_AFTER and broadcast.if_missed == "missed":
        broadcast.status = "missed"
        session.flush()
        audit.write(session, None, "broadcast.missed", broadcast, late_seconds=int(late.total_seconds()))
        _changed(session, broadcast)
        return False
    try:
        start(session, broadcast)
    except Invalid as exc:
        _pause(session, broadcast, "; ".join(sum(exc.errors.values(), [])))
    else:
        if late > MISSED_AFTER:
            audit.write(
                session, None, "broadcast.late_start", broadcast, late_seconds=int(late.total_seconds())
            )
    _changed(session, broadcast)
    return broadcast.status == "running"


def overdue(session: Session, now: datetime) -> tuple[list[tuple[int, datetime]], list[int]]:
    """What a worker coming back must see to: scheduled broadcasts whose start is due (id, time),
    and running ones (their sender's next slice may have been lost with the worker)."""
    due = session.execute(
        select(Broadcast.id, Broadcast.scheduled_at).where(
            Broadcast.status == "scheduled", Broadcast.scheduled_at <= now
        )
    ).all()
    running = session.scalars(select(Broadcast.id).where(Broadcast.status == "running")).all()
    return [(id_, at) for id_, at in due if at is not None], list(running)


def _pause(session: Session, broadcast: Broadcast, reason: str) -> None:
    """Sending stopped by itself: paused with the reason in the audit log."""
    broadcast.status = "paused"
    session.flush()
    audit.write(session, None, "broadcast.pause", broadcast, reason=reason[:300])
    _changed(session, broadcast)


def pause_for(session: Session, broadcast_id: int, reason: str) -> None:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is not None and broadcast.status == "running":
        _pause(session, broadcast, reason)


# --- the sender ------------------------------------------------------------------------------


def _params(session: Session, broadcast: Broadcast, tenant: Tenant, number: str) -> tuple[str, dict]:
    line = session.get(Line, broadcast.line_id or 0)
    if line is None:
        raise Invalid("The broadcast's line was deleted.", "line_id")
    sender = sender_number(session, line)
    trunk = {"trunk_host": tenant.trunk_host or "", "trunk_port": tenant.trunk_port or 5060}
    if broadcast.kind == "text":
        return "message", {
            "to_kind": "number",
            "to": number,
            "from": sender,
            "body": broadcast.message,
            **trunk,
        }
    return "broadcast_call", {
        "to": number,
        "caller_id": sender,
        "recording": broadcast.recording or "",
        "ring_seconds": broadcast.ring_seconds,
        "domain": tenant.domain,
        **trunk,
    }


def _in_flight(session: Session, tenant_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(BroadcastRecipient)
            .where(BroadcastRecipient.tenant_id == tenant_id, BroadcastRecipient.status == "sending")
        )
        or 0
    )


def _sent_since(session: Session, tenant_id: int, since: datetime) -> list[datetime] | None:
    """When the tenant's recent calls and texts were handed over, oldest first; None while
    HANDED_OVER of them still wait for their executor (a late executor finds no backlog that
    would outlast a pause)."""
    rows = session.execute(
        select(BroadcastRecipient.last_attempt_at, Command.state)
        .join(Command, Command.id == BroadcastRecipient.command_id)
        .where(
            BroadcastRecipient.tenant_id == tenant_id,
            BroadcastRecipient.last_attempt_at > since - commands.EXPIRES_AFTER,
        )
    ).all()
    handed: list[tuple[datetime, str]] = [(at, state) for at, state in rows if at is not None]
    waiting = [at for at, state in handed if state == "queued" and at > since - commands.EXPIRES_AFTER]
    if len(waiting) >= HANDED_OVER:
        return None
    return sorted(at for at, _ in handed if at > since)


def _expire_lost(session: Session, broadcast: Broadcast, now: datetime) -> None:
    limit = now - timedelta(seconds=broadcast.ring_seconds) - RESULT_GRACE
    lost = session.scalars(
        select(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast.id,
            BroadcastRecipient.status == "sending",
            BroadcastRecipient.last_attempt_at < limit,
        )
    ).all()
    for recipient in lost:
        _outcome(session, broadcast, recipient, "failed", "no result from the PBX", now)


def _finish_if_done(session: Session, broadcast: Broadcast, now: datetime) -> bool:
    open_ = session.scalar(
        select(BroadcastRecipient.id)
        .where(
            BroadcastRecipient.broadcast_id == broadcast.id,
            BroadcastRecipient.status.in_((*WAITING_STATUSES, "sending")),
        )
        .limit(1)
    )
    if open_ is not None:
        return False
    broadcast.status = "done"
    broadcast.finished_at = now
    audit.write(session, None, "broadcast.done", broadcast)
    _changed(session, broadcast)
    return True


def dispatch(session: Session, broadcast_id: int, now: datetime | None = None) -> float | None:
    """Hand what the throttle allows now to the call control; seconds until the next look, or
    None once the broadcast no longer runs (paused, cancelled, done).

    The throttle is the tenant's, whichever of its broadcasts sends: the tenant's row is locked
    until the commit, so two senders (two workers, two broadcasts) never both see a free slot
    (FOR NO KEY UPDATE: rows that merely refer to the tenant are still written meanwhile)."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status != "running":
        return None
    tenant = session.get(Tenant, broadcast.tenant_id, with_for_update={"key_share": True})
    assert tenant is not None
    now = now or utcnow()  # once the lock is ours: what the other sender sent is in `recent`
    _expire_lost(session, broadcast, now)
    if _finish_if_done(session, broadcast, now):
        return None
    # At most `rate` in any second, evenly spaced; few handed over at a time. The executor keeps
    # the spacing again when it sends (`pace`), so its own delays never bunch calls together.
    rate = tenant.broadcast_calls_per_second
    window = timedelta(seconds=1 + PACING_MARGIN)
    recent = _sent_since(session, tenant.id, now - window)
    if recent is None:
        return HAND_OVER_WAIT
    slots = [recent[-1] + spacing(rate)] if recent else []
    if len(recent) >= rate:
        slots.append(recent[len(recent) - rate] + window)
    if slots and max(slots) > now:
        return min(IDLE_WAIT, (max(slots) - now).total_seconds())
    if _in_flight(session, tenant.id) >= tenant.broadcast_max_concurrent:
        return IDLE_WAIT
    recipient = session.scalar(
        select(BroadcastRecipient)
        .where(
            BroadcastRecipient.broadcast_id == broadcast.id,
            BroadcastRecipient.status.in_(WAITING_STATUSES),
            (BroadcastRecipient.next_attempt_at.is_(None)) | (BroadcastRecipient.next_attempt_at <= now),
        )
        .order_by(
            BroadcastRecipient.next_attempt_at.is_not(None),
            BroadcastRecipient.next_attempt_at,
            BroadcastRecipient.id,
        )
        .limit(1)
    )
    if recipient is None:
        return IDLE_WAIT
    try:
        kind, params = _params(session, broadcast, tenant, recipient.number)
        node = commands.primary_node(session, tenant.id)
    except Invalid as exc:
        _pause(session, broadcast, "; ".join(sum(exc.errors.values(), [])))
        return None
    if kind == "broadcast_call":
        params["channel_id"] = commands.new_channel_id()
    params["pace"] = {"key": f"broadcasts-{tenant.id}", "seconds": spacing(rate).total_seconds()}
    command = commands.record(
        session,
        node=node,
        kind=kind,
        actor=None,
        user=None,
        target=recipient.number,
        params=params,
        audit_target=broadcast,
    )
    recipient.status = "sending"
    recipient.attempts += 1
    recipient.last_attempt_at = now
    recipient.next_attempt_at = None
    recipient.command_id = command.id
    recipient.detail = ""
    recipient.updated_at = now
    session.flush()
    _changed(session, broadcast)
    return 0.0


# --- outcomes --------------------------------------------------------------------------------


def _outcome(
    session: Session,
    broadcast: Broadcast,
    recipient: BroadcastRecipient,
    status: str,
    detail: str,
    now: datetime,
) -> None:
    recipient.updated_at = now
    recipient.detail = detail[:300]
    if status in RETRIED and recipient.attempts <= broadcast.retry_count and broadcast.status != "cancelled":
        recipient.status = "retry"
        recipient.next_attempt_at = now + timedelta(seconds=broadcast.retry_delay)
        recipient.detail = f"{status.replace('_', ' ')}; tried again after {broadcast.retry_delay} s"[:300]
    else:
        recipient.status = status
    session.flush()
    _changed(session, broadcast)
    effects.record(session, SenderWake(broadcast.id))


def _recipient_of(session: Session, command_id: int) -> tuple[Broadcast, BroadcastRecipient] | None:
    recipient = session.scalar(select(BroadcastRecipient).where(BroadcastRecipient.command_id == command_id))
    if recipient is None or recipient.status != "sending":
        return None
    broadcast = session.get(Broadcast, recipient.broadcast_id)
    assert broadcast is not None
    return broadcast, recipient


def on_command_finished(session: Session, command: Command, now: datetime | None = None) -> None:
    """A text's delivery result; a call the PBX refused (its outcome comes as a call result)."""
    found = _recipient_of(session, command.id)
    if found is None:
        return
    broadcast, recipient = found
    if command.state != "ok":
        _outcome(session, broadcast, recipient, "failed", command.answer or command.state, now or utcnow())
    elif command.kind == "message":
        _outcome(session, broadcast, recipient, "delivered", command.answer, now or utcnow())


def on_call_result(session: Session, command_id: int, result: str, now: datetime | None = None) -> None:
    """The PBX's result of a broadcast call (DIALSTATUS or hang-up cause)."""
    found = _recipient_of(session, command_id)
    if found is None:
        return
    broadcast, recipient = found
    status = CALL_RESULTS.get(result.upper(), "failed")
    _outcome(session, broadcast, recipient, status, result, now or utcnow())


# --- reading ---------------------------------------------------------------------------------


def is_running(session: Session, broadcast_id: int) -> bool:
    broadcast = session.get(Broadcast, broadcast_id)
    return broadcast is not None and broadcast.status == "running"


def recording_and_nodes(session: Session, broadcast_id: int) -> tuple[str, list[PbxNode]] | None:
    """A voice broadcast's recording and the nodes that must have it before calls go out."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.kind != "voice" or not broadcast.recording:
        return None
    return broadcast.recording, commands.tenant_nodes(session, broadcast.tenant_id)


def progress(session: Session, broadcast_id: int) -> dict[str, int]:
    """Counts by outcome plus sent (handed to the PBX at least once) and remaining."""
    counts = dict(
        session.execute(
            select(BroadcastRecipient.status, func.count())
            .where(BroadcastRecipient.broadcast_id == broadcast_id)
            .group_by(BroadcastRecipient.status)
        ).all()
    )
    total = sum(counts.values())
    remaining = sum(counts.get(s, 0) for s in (*WAITING_STATUSES, "sending"))
    sent = (
        session.scalar(
            select(func.count())
            .select_from(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.attempts > 0)
        )
        or 0
    )
    return {
        "total": total,
        "sent": sent,
        "answered": counts.get("answered", 0),
        "delivered": counts.get("delivered", 0),
        "busy": counts.get("busy", 0),
        "no_answer": counts.get("no_answer", 0),
        "failed": counts.get("failed", 0),
        "skipped": counts.get("skipped", 0),
        "invalid": counts.get("invalid", 0),
        "cancelled": counts.get("cancelled", 0),
        "remaining": remaining,
    }


def recipients(session: Session, tenant_id: int, broadcast_id: int) -> list[BroadcastRecipient]:
    get_broadcast(session, tenant_id, broadcast_id)
    return list(
        session.scalars(
            select(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast_id)
            .order_by(BroadcastRecipient.id)
        )
    )
