"""Automations: when a call, a text, a number's status or a schedule says so, run ordered steps;
their run log and webhook signing secret."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields, validate

from control.models.automations import (
    AUTOMATION_ACTIONS,
    AUTOMATION_STATUSES,
    AUTOMATION_TRIGGERS,
    RUN_STATES,
    STEP_STATES,
)
from control.models.numbers import NUMBER_STATUSES
from control.services import automations
from control.validators import CRON
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    REQUIRED,
    Body,
    Id,
    IdOrText,
    ListArgs,
    PageArgs,
    choice,
    name_text,
    page_body,
    page_schema,
    query_choice,
    required_text,
    rule_text,
    sort_choice,
    whole_number,
)
from web.db import db, write

bp = ApiBlueprint(
    "automations",
    __name__,
    description="Automations run on missed and ended calls, inbound texts, number status changes and "
    "schedules; each run is logged step by step. Webhooks are signed: X-Switchboard-Signature is "
    "sha256=<hex HMAC-SHA256 of X-Switchboard-Timestamp, '.', and the body, keyed with the secret>.",
)

STEP_VALUE = (
    "wait: seconds (1 to 604800); send_text: the text; callback: the id of a user whose phone rings "
    "first, or empty for a callback task on the line's activity; webhook: an https:// URL; "
    "add_tag: a tag id."
)
DURATION = (0, automations.DURATION_MAX)


class Conditions(ma.Schema):
    direction = fields.String(metadata={"enum": list(automations.DIRECTIONS)})
    min_duration = fields.Integer()
    max_duration = fields.Integer()
    number_status = fields.String(metadata={"enum": ["any", *NUMBER_STATUSES]})


class ConditionsInput(Body):
    direction = choice(automations.DIRECTIONS, metadata={"description": "call_ended: the calls' direction."})
    min_duration = whole_number(DURATION, allow_none=True, metadata={"description": "call_ended: seconds."})
    max_duration = whole_number(
        DURATION, allow_none=True, metadata={"description": "call_ended: seconds; 0 for no limit."}
    )
    number_status = choice(
        ("any", *NUMBER_STATUSES), metadata={"description": "number_status: the new status."}
    )


class Step(ma.Schema):
    action = fields.String(metadata={"enum": list(AUTOMATION_ACTIONS)})
    value = fields.Function(automations.step_value, metadata={"type": "string", "description": STEP_VALUE})


class Automation(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    trigger = fields.String(metadata={"enum": list(AUTOMATION_TRIGGERS)})
    status = fields.String(metadata={"enum": list(AUTOMATION_STATUSES)})
    line_id = fields.Integer(allow_none=True)
    conditions = fields.Nested(Conditions)
    schedule = fields.String()
    has_webhook_secret = fields.Function(lambda a: bool(a.webhook_secret_enc), metadata={"type": "boolean"})
    steps = fields.List(fields.Nested(Step))
    created_at = UtcDateTime()


class AutomationWithSecret(Automation):
    webhook_secret = fields.String(
        allow_none=True,
        metadata={"description": "The webhook signing secret, given this once (null: none was made)."},
    )


class Issued:
    """An automation and the webhook secret just made for it (answered once, never stored plain)."""

    def __init__(self, automation: object, secret: str | None) -> None:
        self._automation = automation
        self.webhook_secret = secret

    def __getattr__(self, name: str) -> object:
        return getattr(self._automation, name)


class StepResult(ma.Schema):
    position = fields.Integer(metadata={"description": "0 for the first step."})
    action = fields.String(metadata={"enum": list(AUTOMATION_ACTIONS)})
    state = fields.String(metadata={"enum": list(STEP_STATES)})
    detail = fields.String()
    attempts = fields.Integer()
    started_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)


class Run(ma.Schema):
    id = fields.Integer()
    trigger = fields.String(metadata={"enum": list(AUTOMATION_TRIGGERS)})
    trigger_key = fields.String()
    context = fields.Dict(metadata={"description": "The trigger event as the steps saw it."})
    state = fields.String(metadata={"enum": list(RUN_STATES)})
    error = fields.String()
    resume_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)
    steps = fields.List(fields.Nested(StepResult))


RunPage = page_schema(Run, "AutomationRunPage")


class RunListArgs(PageArgs):
    state = query_choice(RUN_STATES)


class StepInput(Body):
    action = choice(AUTOMATION_ACTIONS, required=True, allow_none=False, error_messages=REQUIRED)
    value = IdOrText(allow_none=True, metadata={"description": STEP_VALUE})


class AutomationUpdate(Body):
    name = name_text()
    trigger = choice(AUTOMATION_TRIGGERS)
    status = choice(AUTOMATION_STATUSES)
    line_id = Id(allow_none=True, metadata={"description": "Only events on this line; null for all."})
    conditions = fields.Nested(ConditionsInput, allow_none=True)
    schedule = rule_text(CRON, allow_none=True, metadata={"description": "schedule: " + CRON.message})
    steps = fields.List(
        fields.Nested(StepInput),
        validate=validate.Length(min=1, max=automations.MAX_STEPS, error="From {min} to {max} steps."),
        metadata={"description": "Replaces every step."},
    )


class AutomationCreate(AutomationUpdate):
    name = required_text()


class AutomationListArgs(ListArgs):
    sort = sort_choice(automations.SORTS, "name")
    status = query_choice(AUTOMATION_STATUSES)
    trigger = query_choice(AUTOMATION_TRIGGERS)


AutomationPage = page_schema(Automation, "AutomationPage")


@bp.route("", methods=["GET"])
@bp.arguments(AutomationListArgs, location="query")
@bp.response(200, AutomationPage)
def index(args: dict) -> dict:
    """List automations (search by name; sort: name, trigger, status, created)."""
    return page_body(automations.list_automations(db(), api_user().tenant_id, **args))


@bp.route("", methods=["POST"])
@bp.arguments(AutomationCreate)
@bp.response(201, AutomationWithSecret)
def create(data: dict):  # type: ignore[no-untyped-def]
    """Create an automation; with a webhook step, the answer holds its signing secret, this once."""
    me = api_user()
    with write() as s:
        automation = automations.create_automation(s, me.tenant_id, data, me)
        secret = automations.issue_webhook_secret(s, automation, me)
    return Issued(automation, secret), {"Location": url_for(".show", automation_id=automation.id)}


@bp.route("/<id:automation_id>", methods=["GET"])
@bp.response(200, Automation)
def show(automation_id: int):  # type: ignore[no-untyped-def]
    return automations.get_automation(db(), api_user().tenant_id, automation_id)


@bp.route("/<id:automation_id>", methods=["PATCH"])
@bp.arguments(AutomationUpdate)
@bp.response(200, AutomationWithSecret)
def update(data: dict, automation_id: int):  # type: ignore[no-untyped-def]
    """Change an automation; its first webhook step makes a signing secret, answered this once."""
    me = api_user()
    with write() as s:
        automation = automations.update_automation(s, me.tenant_id, automation_id, data, me)
        return Issued(automation, automations.issue_webhook_secret(s, automation, me))


@bp.route("/<id:automation_id>/webhook-secret", methods=["POST"])
@bp.response(200, AutomationWithSecret)
def rotate_secret(automation_id: int):  # type: ignore[no-untyped-def]
    """A new webhook signing secret (answered this once); the old one stops working at once."""
    me = api_user()
    with write() as s:
        automation = automations.get_automation(s, me.tenant_id, automation_id)
        return Issued(automation, automations.issue_webhook_secret(s, automation, me, rotate=True))


@bp.route("/<id:automation_id>/runs", methods=["GET"])
@bp.arguments(RunListArgs, location="query")
@bp.response(200, RunPage)
def runs(args: dict, automation_id: int) -> dict:
    """The automation's run log, newest first, each run with its steps' results and timing."""
    return page_body(automations.page_runs(db(), api_user().tenant_id, automation_id, **args))


@bp.route("/<id:automation_id>", methods=["DELETE"])
@bp.response(204)
def delete(automation_id: int) -> Response:
    me = api_user()
    with write() as s:
        automations.delete_automation(s, me.tenant_id, automation_id, me)
    return Response(status=204)


def _status(automation_id: int, status: str):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return automations.set_status(s, me.tenant_id, automation_id, status, me)


@bp.route("/<id:automation_id>/pause", methods=["POST"])
@bp.response(200, Automation)
def pause(automation_id: int):  # type: ignore[no-untyped-def]
    return _status(automation_id, "paused")


@bp.route("/<id:automation_id>/activate", methods=["POST"])
@bp.response(200, Automation)
def activate(automation_id: int):  # type: ignore[no-untyped-def]
    return _status(automation_id, "active")
