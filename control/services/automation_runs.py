"""Running an automation's steps, one at a time, each result recorded with its timing.

The rq job (worker/automations.py) claims a due run, then for each step: `next_step` records the
step as started (committed) and says what to do; the job does it and records the outcome with
`finish_step` or `fail_step`. A failed step stops the run with its reason. A step found started
but never finished (the worker died mid-step) is never repeated: its fate is unknown, the run
fails saying so. A wait step parks the run ("waiting", resume_at) and the job schedules itself
again for then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from control import effects
from control.db import utcnow
from control.errors import Invalid
from control.models import (
    ActivityItem,
    Automation,
    AutomationRun,
    AutomationStepResult,
    Command,
    Contact,
    Line,
    Tag,
    User,
)
from control.models.commands import FINAL_STATES
from control.services import automations, contacts
from control.services.click_to_call import dial_target, ring_and_dial
from control.services.texts import send_from_line, sender_number

#: Seconds a queued run (or a wait that is due) may go unclaimed before the clock queues it again.
STALE_AFTER = timedelta(seconds=60)
#: A run "running" this long after its last step started lost its job (the worker died).
STUCK_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class StepPlan:
    run_id: int
    position: int
    action: str
    params: dict[str, Any]
    resume_at: datetime | None = None


def claim(session: Session, run_id: int) -> bool:
    """queued or due waiting -> running, once: True if this job may run the run now."""
    now = utcnow()
    claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(AutomationRun)
        .where(
            AutomationRun.id == run_id,
            AutomationRun.state.in_(("queued", "waiting")),
            or_(AutomationRun.resume_at.is_(None), AutomationRun.resume_at <= now),
        )
        .values(state="running")
    )
    if not claimed.rowcount:
        return False
    run = session.get_one(AutomationRun, run_id)
    run.started_at = run.started_at or now
    session.flush()
    return True


def _result(session: Session, run: AutomationRun, position: int) -> AutomationStepResult | None:
    return session.scalar(
        select(AutomationStepResult).where(
            AutomationStepResult.run_id == run.id, AutomationStepResult.position == position
        )
    )


def _end(run: AutomationRun, state: str, error: str = "") -> None:
    run.state = state
    run.error = error[:500]
    run.resume_at = None
    run.finished_at = utcnow()


def next_step(session: Session, run_id: int) -> StepPlan | None:
    """Record the run's next step as started and say what it is; None when the run ended
    (succeeded, failed, or parked by a wait whose plan was returned before)."""
    run = session.get(AutomationRun, run_id)
    if run is None or run.state != "running":
        return None
    automation = session.get_one(Automation, run.automation_id)
    steps = automation.steps
    now = utcnow()
    while True:
        if run.position >= len(steps):
            _end(run, "succeeded")
            session.flush()
            return None
        step = steps[run.position]
        result = _result(session, run, run.position)
        if automation.status != "active":
            if result is not None:  # a wait cut short
                result.state, result.detail, result.finished_at = "failed", "The automation was paused.", now
                _end(
                    run,
                    "failed",
                    f"Stopped at step {run.position + 1} ({step.action}): the automation was paused.",
                )
            else:
                _end(run, "failed", f"Stopped before step {run.position + 1}: the automation was paused.")
            session.flush()
            return None
        if step.action == "wait":
            seconds = int(step.params.get("seconds") or 0)
            if result is None:
                result = AutomationStepResult(
                    run_id=run.id,
                    position=run.position,
                    action="wait",
                    state="running",
                    attempts=1,
                    started_at=now,
                )
                session.add(result)
                run.resume_at = now + timedelta(seconds=seconds)
            if run.resume_at is not None and now < run.resume_at:
                run.state = "waiting"
                session.flush()
                return StepPlan(run.id, run.position, "wait", dict(step.params), run.resume_at)
            result.state, result.detail, result.finished_at = "ok", f"Waited {seconds} s.", now
            run.position += 1
            run.resume_at = None
            continue
        if result is not None:
            result.state, result.finished_at = "failed", now
            result.detail = "Interrupted before its outcome was recorded; not repeated."
            _end(run, "failed", f"Step {run.position + 1} ({step.action}): {result.detail}")
            session.flush()
            return None
        session.add(
            AutomationStepResult(
                run_id=run.id,
                position=run.position,
                action=step.action,
                state="running",
                attempts=1,
                started_at=now,
            )
        )
        session.flush()
        return StepPlan(run.id, run.position, step.action, dict(step.params))


def _current(session: Session, run_id: int, position: int) -> tuple[AutomationRun, AutomationStepResult]:
    run = session.get_one(AutomationRun, run_id)
    result = _result(session, run, position)
    if result is None or run.state != "running" or run.position != position:
        raise LookupError(f"run {run_id} is not at step {position}")
    return run, result


def finish_step(session: Session, run_id: int, position: int, detail: str, attempts: int = 1) -> None:
    run, result = _current(session, run_id, position)
    result.state, result.detail, result.attempts, result.finished_at = "ok", detail[:500], attempts, utcnow()
    run.position += 1
    session.flush()


def fail_step(session: Session, run_id: int, position: int, reason: str, attempts: int = 1) -> None:
    """The step failed: the run stops here with the reason."""
    run, result = _current(session, run_id, position)
    result.state, result.detail, result.attempts, result.finished_at = (
        "failed",
        reason[:500],
        attempts,
        utcnow(),
    )
    _end(run, "failed", f"Step {position + 1} ({result.action}): {reason}")
    session.flush()


# --- what the steps do --------------------------------------------------------------------------


def _line(session: Session, run: AutomationRun, automation: Automation) -> Line:
    line_id = run.context.get("line_id") or automation.line_id
    line = session.get(Line, line_id) if line_id else None
    if line is None or line.tenant_id != run.tenant_id:
        raise Invalid("The event has no line to act from (or the line was deleted).", "line_id")
    return line


def _person(session: Session, run: AutomationRun) -> str:
    raw = str(run.context.get("number") or "")
    if not raw:
        raise Invalid("The event has no caller number.", "number")
    return dial_target(session, run.tenant_id, raw, "number")


def perform(session: Session, run_id: int, position: int) -> tuple[str, int | None]:
    """Do a send_text, callback or add_tag step: (what was done, the command to wait for if any)."""
    run, result = _current(session, run_id, position)
    automation = session.get_one(Automation, run.automation_id)
    step = automation.steps[position]
    if step.action == "send_text":
        line = _line(session, run, automation)
        to = _person(session, run)
        command = send_from_line(session, line, to, str(step.params.get("text") or ""), None)
        return f"Text to {to} from {command.params.get('from')} ({line.name})", command.id
    if step.action == "callback":
        line = _line(session, run, automation)
        to = _person(session, run)
        user_id = step.params.get("user_id")
        if user_id:
            user = session.get(User, user_id)
            if user is None or user.tenant_id != run.tenant_id:
                raise Invalid("The user to ring was deleted.", "user_id")
            command = ring_and_dial(session, user, to, sender_number(session, line), None)
            return f"Rang {user.name}, then {to}", command.id
        item = ActivityItem(
            tenant_id=run.tenant_id,
            kind="callback",
            line_id=line.id,
            line_name=line.name,
            number=to,
            automation_run_id=run.id,
        )
        session.add(item)
        session.flush()
        effects.record(session, effects.ActivityAdded(run.tenant_id, item.id))
        return f"Callback task for {to} on {line.name}'s activity", None
    if step.action == "add_tag":
        tag = session.get(Tag, step.params.get("tag_id"))
        if tag is None or tag.tenant_id != run.tenant_id:
            raise Invalid("The tag was deleted.", "tag_id")
        to = _person(session, run)
        contact = session.get(Contact, run.context.get("contact_id") or 0) or contacts.match_number(
            session, run.tenant_id, to
        )
        if contact is None or contact.tenant_id != run.tenant_id:
            contact = contacts.create_contact(
                session, run.tenant_id, {"first_name": to, "numbers": [{"number": to}]}, None
            )
            made = " (a new contact)"
        else:
            made = ""
        if tag not in contact.tags:
            contact.tags.append(tag)
        session.flush()
        return f"Tagged {contact.display_name}{made} {tag.name}", None
    raise ValueError(f"not a step the job performs here: {step.action}")


def command_outcome(session: Session, command_id: int) -> Command | None:
    """The command once the PBX answered (ok, failed, unknown), else None."""
    command = session.get(Command, command_id)
    if command is not None:
        session.refresh(command)
    return command if command is not None and command.state in FINAL_STATES else None


def webhook_request(session: Session, run_id: int, position: int) -> tuple[str, str, bytes]:
    """(url, secret, JSON body) of a webhook step; the secret stays in the job's memory."""
    run, result = _current(session, run_id, position)
    automation = session.get_one(Automation, run.automation_id)
    step = automation.steps[position]
    body = {
        "automation": {"id": automation.id, "name": automation.name},
        "run": {"id": run.id, "step": position + 1},
        "trigger": run.trigger,
        "event": run.context,
        "sent_at": utcnow().isoformat() + "Z",
    }
    return str(step.params["url"]), automations.webhook_secret(automation), orjson.dumps(body)


def stale_runs(session: Session) -> list[int]:
    """Runs queued, or waiting past their time, for longer than STALE_AFTER: their job was lost
    (Redis refused it, a worker died holding it); the clock queues them again."""
    cutoff = utcnow() - STALE_AFTER
    return list(
        session.scalars(
            select(AutomationRun.id)
            .where(
                or_(
                    (AutomationRun.state == "queued") & (AutomationRun.created_at < cutoff),
                    (AutomationRun.state == "waiting") & (AutomationRun.resume_at < cutoff),
                )
            )
            .order_by(AutomationRun.id)
            .limit(500)
        )
    )


def abandon_stuck(session: Session) -> list[int]:
    """Runs left "running" by a worker that died: failed, their step's outcome unknown (never
    repeated: a text or a call may have gone out)."""
    now = utcnow()
    cutoff = now - STUCK_AFTER
    stuck = []
    for run in session.scalars(select(AutomationRun).where(AutomationRun.state == "running").limit(500)):
        last = max((step.started_at for step in run.steps), default=run.started_at or run.created_at)
        if last >= cutoff:
            continue
        running = [step for step in run.steps if step.state == "running"]
        for step in running:
            step.state, step.finished_at = "failed", now
            step.detail = "The worker stopped during this step; its outcome is unknown; not repeated."
        where = f"step {running[0].position + 1} ({running[0].action})" if running else "a step"
        _end(run, "failed", f"The worker stopped during {where}; not repeated.")
        stuck.append(run.id)
    session.flush()
    return stuck
