"""What starts automation runs: a call that ended (missed or not), an inbound text, a number's
status change, a schedule's minute.

Each trigger event has a key ("call:<node id>:<call key>", "text:<message id>", ...); a run is
recorded at most once per automation and key, in the unit of work that saw the event, and handed
to an rq job after the commit (effects.AutomationRunQueued). A call record derived again after a
listener reconnect, or an event replayed from the spool, finds its runs already there.

`number_status_changed` is the hook the numbers service calls when a number's status moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from control import effects
from control.db import utcnow
from control.models import Automation, AutomationRun, CallRecord, Line, PhoneNumber, TextMessage


def _active(session: Session, tenant_id: int, triggers: Iterable[str]) -> list[Automation]:
    return list(
        session.scalars(
            select(Automation)
            .where(
                Automation.tenant_id == tenant_id,
                Automation.status == "active",
                Automation.trigger.in_(list(triggers)),
            )
            .options(selectinload(Automation.steps))
            .order_by(Automation.id)
        )
    )


def _start(session: Session, wanted: list[tuple[Automation, str, dict[str, Any]]]) -> list[AutomationRun]:
    """Record one run per (automation, trigger key) not recorded before; queue them after commit."""
    if not wanted:
        return []
    keys = [(automation.id, key) for automation, key, _ in wanted]
    rows = session.execute(
        select(AutomationRun.automation_id, AutomationRun.trigger_key).where(
            tuple_(AutomationRun.automation_id, AutomationRun.trigger_key).in_(keys)
        )
    )
    seen = {(automation_id, key) for automation_id, key in rows}
    started = []
    for automation, key, context in wanted:
        if (automation.id, key) in seen:
            continue
        seen.add((automation.id, key))
        run = AutomationRun(
            tenant_id=automation.tenant_id,
            automation_id=automation.id,
            trigger=automation.trigger,
            trigger_key=key[:200],
            context=context,
            state="queued",
            position=0,
            error="",
        )
        try:
            with session.begin_nested():
                session.add(run)
        except IntegrityError:
            continue  # another process recorded this event's run a moment ago
        started.append(run)
        effects.record(session, effects.AutomationRunQueued(run.tenant_id, run.id))
    return started


def _on_line(automation: Automation, line_id: int | None) -> bool:
    return automation.line_id is None or automation.line_id == line_id


def _person(record: CallRecord) -> tuple[str, int | None]:
    """The number (and contact) the steps act on: the outside party, else the other extension."""
    if record.direction == "outbound":
        return record.callee_number, record.callee_contact_id
    return record.caller_number, record.caller_contact_id


def call_context(record: CallRecord) -> dict[str, Any]:
    number, contact_id = _person(record)
    return {
        "call_record_id": record.id,
        "line_id": record.line_id,
        "line_name": record.line_name,
        "line_number": record.number_used or "",
        "number": number,
        "contact_id": contact_id,
        "direction": record.direction,
        "missed": record.missed,
        "duration": record.duration,
        "billsec": record.billsec,
        "hangup_cause": record.hangup_cause,
        "started_at": record.started_at.isoformat() + "Z",
    }


def _call_matches(automation: Automation, record: CallRecord) -> bool:
    if not _on_line(automation, record.line_id):
        return False
    if automation.trigger == "call_missed":
        return record.missed and record.line_id is not None
    conditions = automation.conditions or {}
    direction = conditions.get("direction") or "any"
    if direction != "any" and record.direction != direction:
        return False
    low, high = int(conditions.get("min_duration") or 0), int(conditions.get("max_duration") or 0)
    return record.duration >= low and (not high or record.duration <= high)


def calls_ended(session: Session, records: list[CallRecord]) -> list[AutomationRun]:
    """Runs for calls whose record was just derived (missed on a line, or ended as conditioned)."""
    if not records:
        return []
    wanted = []
    for tenant_id in sorted({record.tenant_id for record in records}):
        automations = _active(session, tenant_id, ("call_missed", "call_ended"))
        for record in records:
            if record.tenant_id != tenant_id or record.ended_at is None:
                continue
            for automation in automations:
                if _call_matches(automation, record):
                    key = f"call:{record.node_id}:{record.call_key}"
                    wanted.append((automation, key, call_context(record)))
    return _start(session, wanted)


def text_received(session: Session, message: TextMessage) -> list[AutomationRun]:
    """Runs for an inbound text on a line."""
    if message.direction != "inbound" or message.line_id is None:
        return []
    line = session.get(Line, message.line_id)
    context = {
        "text_message_id": message.id,
        "line_id": message.line_id,
        "line_name": line.name if line else "",
        "line_number": message.to_number,
        "number": message.from_number,
        "contact_id": message.contact_id,
        "body": message.body[:1600],
    }
    wanted = [
        (automation, f"text:{message.id}", context)
        for automation in _active(session, message.tenant_id, ("text_received",))
        if _on_line(automation, message.line_id)
    ]
    return _start(session, wanted)


def number_status_changed(session: Session, number: PhoneNumber, old_status: str) -> list[AutomationRun]:
    """The hook for the numbers service: call it in the unit of work that moved `number` from
    `old_status` to its current status (after the change is flushed)."""
    if number.status == old_status:
        return []
    line = session.get(Line, number.line_id) if number.line_id else None
    context = {
        "number_id": number.id,
        "number": number.e164,
        "old_status": old_status,
        "status": number.status,
        "line_id": number.line_id,
        "line_name": line.name if line else "",
    }
    # A status move is an action, never replayed: its key names the move and its moment.
    key = f"number:{number.id}:{old_status}>{number.status}:{utcnow().isoformat()}"
    wanted = [
        (automation, key, context)
        for automation in _active(session, number.tenant_id, ("number_status",))
        if _on_line(automation, number.line_id)
        and (automation.conditions or {}).get("number_status", "any") in ("any", number.status)
    ]
    return _start(session, wanted)


def schedules_due(session: Session, minute: datetime) -> list[AutomationRun]:
    """Runs for every active scheduled automation whose cron expression matches `minute` (UTC)."""
    from croniter import croniter

    minute = minute.replace(second=0, microsecond=0)
    automations = session.scalars(
        select(Automation)
        .where(Automation.status == "active", Automation.trigger == "schedule")
        .options(selectinload(Automation.steps))
        .order_by(Automation.id)
    )
    key = f"schedule:{minute:%Y-%m-%dT%H:%M}"
    context = {"at": minute.isoformat() + "Z"}
    wanted = [
        (automation, key, context)
        for automation in automations
        if automation.schedule and croniter.match(automation.schedule, minute)
    ]
    return _start(session, wanted)
