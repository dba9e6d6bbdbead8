"""Automations: when a call event happens (optionally on one line), run ordered steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from control.errors import Invalid, NotFound
from control.models import Automation, AutomationStep, Line, Tag, User
from control.models.automations import AUTOMATION_ACTIONS, AUTOMATION_STATUSES, AUTOMATION_TRIGGERS
from control.services import audit
from control.services.listing import Page, like_pattern, paginate, status_counts
from control.validators import Errors, add, choice, optional_id, row_id, text

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


def _step(session: Session, errors: Errors, tenant_id: int, index: int, raw: dict) -> AutomationStep:
    field = f"steps-{index}"
    action = str(raw.get("action") or "")
    params: dict[str, Any] = {}
    if action not in AUTOMATION_ACTIONS:
        add(errors, f"{field}-action", f"Choose one of: {', '.join(AUTOMATION_ACTIONS)}.")
    value = str(raw.get("value") or "").strip()
    if action == "add_tag":
        tag = session.get(Tag, row_id(value)) if row_id(value) else None
        if tag is None or tag.tenant_id != tenant_id:
            add(errors, f"{field}-value", "Choose a tag.")
        else:
            params = {"tag_id": tag.id}
    elif action == "notify_user":
        user = session.get(User, row_id(value)) if row_id(value) else None
        if user is None or user.tenant_id != tenant_id:
            add(errors, f"{field}-value", "Choose a user.")
        else:
            params = {"user_id": user.id}
    elif action == "send_text":
        if not value or len(value) > 1600:
            add(errors, f"{field}-value", "Write the text (at most 1600 characters).")
        params = {"text": value}
    elif action == "webhook":
        if not value.startswith("https://") or len(value) > 500 or any(c.isspace() for c in value):
            add(errors, f"{field}-value", "An https:// address.")
        params = {"url": value}
    return AutomationStep(position=index, action=action, params=params)


def step_value(step: AutomationStep) -> str:
    return str(next(iter(step.params.values()), "")) if step.params else ""


def _apply(session: Session, automation: Automation, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    automation.name = text(errors, data, "name", required=True)
    automation.trigger = choice(
        errors, data, "trigger", AUTOMATION_TRIGGERS, automation.trigger or "call_missed"
    )
    automation.status = choice(errors, data, "status", AUTOMATION_STATUSES, automation.status or "active")
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
    steps = [_step(session, errors, tenant_id, i, raw) for i, raw in enumerate(raw_steps[:MAX_STEPS])]
    if errors:
        raise Invalid(errors)
    automation.steps = steps


def automation_data(automation: Automation) -> dict:
    return {
        "name": automation.name,
        "trigger": automation.trigger,
        "status": automation.status,
        "line_id": automation.line_id,
        "steps": [{"action": s.action, "value": step_value(s)} for s in automation.steps],
    }


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
