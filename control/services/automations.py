"""Automations: when a call, a text, a number's status or a schedule says so, run ordered steps.

This module keeps the automations themselves (forms, pause/activate, the webhook secret) and
reads their run log; control/services/automation_triggers.py starts runs and
control/services/automation_runs.py runs their steps (in rq jobs, worker/automations.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from control import webhooks
from control.crypto import decrypt, encrypt
from control.errors import Invalid, NotFound
from control.models import Automation, AutomationRun, AutomationStep, Line, Tag, User
from control.models.automations import (
    AUTOMATION_ACTIONS,
    AUTOMATION_STATUSES,
    AUTOMATION_TRIGGERS,
    PERSON_ACTIONS,
    PERSON_TRIGGERS,
    RUN_STATES,
)
from control.models.numbers import NUMBER_STATUSES
from control.services import audit
from control.services.listing import Page, like_pattern, paginate, status_counts
from control.services.texts import MAX_BODY
from control.validators import (
    CRON,
    WEBHOOK_URL,
    Errors,
    add,
    check,
    choice,
    integer,
    optional_id,
    row_id,
    text,
)

SORTS = {
    "name": Automation.name,
    "trigger": Automation.trigger,
    "status": Automation.status,
    "created": Automation.created_at,
}
MAX_STEPS = 20


def get_automation(session: Session, tenant_id: int, automation_id: int) -> Automation:
    automation = session.get(Automation, automation_id)
    if automation is None or automation.tenant_id != tenant_id:
        raise NotFound("automation", automation_id)
    return automation


def list_automations(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    status: str = "",
    trigger: str = "",
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[Automation]:
    stmt = select(Automation).where(Automation.tenant_id == tenant_id).options(selectinload(Automation.steps))
    if q:
        stmt = stmt.where(func.lower(Automation.name).like(like_pattern(q.lower()), escape="\\"))
    if status in AUTOMATION_STATUSES:
        stmt = stmt.where(Automation.status == status)
    if trigger in AUTOMATION_TRIGGERS:
        stmt = stmt.where(Automation.trigger == trigger)
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="name")


def automation_status_counts(session: Session, tenant_id: int) -> dict[str, int]:
    counts = status_counts(session, Automation.status, Automation.tenant_id, tenant_id)
    return {s: 0 for s in AUTOMATION_STATUSES} | counts


WAIT_MAX = 7 * 86400  # seconds a wait step may last
DURATION_MAX = 86400
DIRECTIONS = ("any", "inbound", "outbound", "internal")


def _step(
    session: Session, errors: Errors, tenant_id: int, trigger: str, index: int, raw: dict
) -> AutomationStep:
    field = f"steps-{index}"
    action = str(raw.get("action") or "")
    params: dict[str, Any] = {}
    if action not in AUTOMATION_ACTIONS:
        add(errors, f"{field}-action", f"Choose one of: {', '.join(AUTOMATION_ACTIONS)}.")
    elif action in PERSON_ACTIONS and trigger not in PERSON_TRIGGERS:
        add(
            errors,
            f"{field}-action",
            "This trigger has no caller to text, call back or tag: use wait and webhook steps.",
        )
    value = str(raw.get("value") or "").strip()
    if action == "wait":
        seconds = integer(errors, {f"{field}-value": value}, f"{field}-value", 0, 1, WAIT_MAX)
        if not value:
            add(errors, f"{field}-value", f"Wait how many seconds (1 to {WAIT_MAX})?")
        params = {"seconds": seconds}
    elif action == "add_tag":
        tag = session.get(Tag, row_id(value)) if row_id(value) else None
        if tag is None or tag.tenant_id != tenant_id:
            add(errors, f"{field}-value", "Choose a tag.")
        else:
            params = {"tag_id": tag.id}
    elif action == "callback":
        user = session.get(User, row_id(value)) if row_id(value) else None
        if value and (user is None or user.tenant_id != tenant_id):
            add(errors, f"{field}-value", "Choose a user, or none for a task on the line's activity.")
        elif user is not None and not user.extension:
            add(errors, f"{field}-value", f"{user.name} has no phone to ring.")
        params = {"user_id": user.id} if user is not None else {}
    elif action == "send_text":
        if not value or len(value) > MAX_BODY:
            add(errors, f"{field}-value", f"Write the text (at most {MAX_BODY} characters).")
        params = {"text": value}
    elif action == "webhook":
        check(errors, f"{field}-value", value, WEBHOOK_URL)
        params = {"url": value}
    return AutomationStep(position=index, action=action, params=params)


def step_value(step: AutomationStep) -> str:
    return str(next(iter(step.params.values()), "")) if step.params else ""


def _conditions(errors: Errors, trigger: str, raw: object) -> dict[str, Any]:
    data = dict(raw) if isinstance(raw, dict) else {}
    if trigger == "call_ended":
        direction = choice(errors, data, "direction", DIRECTIONS, "any")
        low = integer(errors, data, "min_duration", 0, 0, DURATION_MAX)
        high = integer(errors, data, "max_duration", 0, 0, DURATION_MAX)
        if high and low > high:
            add(errors, "max_duration", "At least the minimum duration (0: no maximum).")
        return {"direction": direction, "min_duration": low, "max_duration": high}
    if trigger == "number_status":
        return {"number_status": choice(errors, data, "number_status", ("any", *NUMBER_STATUSES), "any")}
    return {}


def _apply(session: Session, automation: Automation, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    automation.name = text(errors, data, "name", required=True)
    automation.trigger = choice(
        errors, data, "trigger", AUTOMATION_TRIGGERS, automation.trigger or "call_missed"
    )
    automation.status = choice(errors, data, "status", AUTOMATION_STATUSES, automation.status or "active")
    automation.conditions = _conditions(errors, automation.trigger, data.get("conditions"))
    schedule = " ".join(str(data.get("schedule") or "").split())
    if automation.trigger == "schedule":
        check(errors, "schedule", schedule, CRON)
    automation.schedule = schedule if automation.trigger == "schedule" else ""
    line_id = optional_id(errors, data, "line_id")
    if line_id is not None:
        line = session.get(Line, line_id)
        if line is None or line.tenant_id != tenant_id:
            add(errors, "line_id", "Choose a line of this tenant.")
    automation.line_id = line_id
    raw_steps = [dict(s) for s in (data.get("steps") or []) if dict(s).get("action")]
    if not raw_steps:
        add(errors, "steps-0-action", "Add at least one step.")
    if len(raw_steps) > MAX_STEPS:
        add(errors, "steps", f"At most {MAX_STEPS} steps.")
    steps = [
        _step(session, errors, tenant_id, automation.trigger, i, raw)
        for i, raw in enumerate(raw_steps[:MAX_STEPS])
    ]
    if errors:
        raise Invalid(errors)
    automation.steps = steps


def automation_data(automation: Automation) -> dict:
    return {
        "name": automation.name,
        "trigger": automation.trigger,
        "status": automation.status,
        "line_id": automation.line_id,
        "conditions": dict(automation.conditions or {}),
        "schedule": automation.schedule,
        "steps": [{"action": s.action, "value": step_value(s)} for s in automation.steps],
    }


def has_webhook(automation: Automation) -> bool:
    return any(step.action == "webhook" for step in automation.steps)


def issue_webhook_secret(
    session: Session, automation: Automation, actor: User | None, *, rotate: bool = False
) -> str | None:
    """A new signing secret for the automation's webhooks, returned this once (stored encrypted).

    Without `rotate`, only when it has webhook steps and no secret yet."""
    if not has_webhook(automation):
        if rotate:
            raise Invalid("This automation has no webhook step to sign.", "steps")
        return None
    if automation.webhook_secret_enc and not rotate:
        return None
    secret = webhooks.new_secret()
    automation.webhook_secret_enc = encrypt(secret)
    session.flush()
    audit.write(session, actor, "automation.webhook_secret", automation)
    return secret


def webhook_secret(automation: Automation) -> str:
    if not automation.webhook_secret_enc:
        raise Invalid("This automation has no webhook secret yet.", "steps")
    return decrypt(automation.webhook_secret_enc)


def create_automation(session: Session, tenant_id: int, data: dict, actor: User | None) -> Automation:
    automation = Automation(tenant_id=tenant_id)
    automation.steps = []
    with session.no_autoflush:
        _apply(session, automation, tenant_id, data)
    session.add(automation)
    session.flush()
    audit.write(session, actor, "automation.create", automation)
    return automation


def update_automation(
    session: Session, tenant_id: int, automation_id: int, data: dict, actor: User | None
) -> Automation:
    automation = get_automation(session, tenant_id, automation_id)
    with session.no_autoflush:
        _apply(session, automation, tenant_id, automation_data(automation) | dict(data))
    session.flush()
    audit.write(session, actor, "automation.update", automation)
    return automation


def set_status(
    session: Session, tenant_id: int, automation_id: int, status: str, actor: User | None
) -> Automation:
    if status not in AUTOMATION_STATUSES:
        raise Invalid(f"Choose one of: {', '.join(AUTOMATION_STATUSES)}.", "status")
    automation = get_automation(session, tenant_id, automation_id)
    automation.status = status
    session.flush()
    audit.write(session, actor, f"automation.{status}", automation)
    return automation


def delete_automation(session: Session, tenant_id: int, automation_id: int, actor: User | None) -> None:
    automation = get_automation(session, tenant_id, automation_id)
    audit.write(session, actor, "automation.delete", automation, name=automation.name)
    session.delete(automation)
    session.flush()


RUN_SORTS = {"created": AutomationRun.created_at}


def page_runs(
    session: Session,
    tenant_id: int,
    automation_id: int,
    *,
    state: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page[AutomationRun]:
    """The automation's run log, newest first, each run with its step results."""
    get_automation(session, tenant_id, automation_id)
    stmt = (
        select(AutomationRun)
        .where(AutomationRun.tenant_id == tenant_id, AutomationRun.automation_id == automation_id)
        .options(selectinload(AutomationRun.steps))
    )
    if state in RUN_STATES:
        stmt = stmt.where(AutomationRun.state == state)
    return paginate(
        session, stmt, page=page, per_page=per_page, sort="-created", sorts=RUN_SORTS, default_sort="-created"
    )


def run_automation_ids(session: Session, tenant_id: int, run_ids: list[int]) -> dict[int, int]:
    """run id -> its automation's id, for links to a run's log."""
    if not run_ids:
        return {}
    rows = session.execute(
        select(AutomationRun.id, AutomationRun.automation_id).where(
            AutomationRun.tenant_id == tenant_id, AutomationRun.id.in_(run_ids)
        )
    )
    return {run_id: automation_id for run_id, automation_id in rows}
