"""Automations: when a call event happens (optionally on one line), run ordered steps."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, url_for
from marshmallow import fields, validate

from control.models.automations import AUTOMATION_ACTIONS, AUTOMATION_STATUSES, AUTOMATION_TRIGGERS
from control.services import automations
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.api.schemas import (
    REQUIRED,
    Body,
    Id,
    IdOrText,
    ListArgs,
    choice,
    name_text,
    page_body,
    page_schema,
    query_choice,
    required_text,
    sort_choice,
)
from web.db import db, write

bp = ApiBlueprint("automations", __name__, description="Automations run on call events.")

STEP_VALUE = "add_tag: a tag id; notify_user: a user id; send_text: the text; webhook: an https:// URL."


class Step(ma.Schema):
    action = fields.String(metadata={"enum": list(AUTOMATION_ACTIONS)})
    value = fields.Function(automations.step_value, metadata={"type": "string", "description": STEP_VALUE})


class Automation(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    trigger = fields.String(metadata={"enum": list(AUTOMATION_TRIGGERS)})
    status = fields.String(metadata={"enum": list(AUTOMATION_STATUSES)})
    line_id = fields.Integer(allow_none=True)
    steps = fields.List(fields.Nested(Step))
    created_at = UtcDateTime()


class StepInput(Body):
    action = choice(AUTOMATION_ACTIONS, required=True, allow_none=False, error_messages=REQUIRED)
    value = IdOrText(allow_none=True, metadata={"description": STEP_VALUE})


class AutomationUpdate(Body):
    name = name_text()
    trigger = choice(AUTOMATION_TRIGGERS)
    status = choice(AUTOMATION_STATUSES)
    line_id = Id(allow_none=True, metadata={"description": "Only calls on this line; null for all."})
    steps = fields.List(
        fields.Nested(StepInput),
        validate=validate.Length(max=automations.MAX_STEPS, error="At most {max} steps."),
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
@bp.response(201, Automation)
def create(data: dict):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        automation = automations.create_automation(s, me.tenant_id, data, me)
    return automation, {"Location": url_for(".show", automation_id=automation.id)}


@bp.route("/<id:automation_id>", methods=["GET"])
@bp.response(200, Automation)
def show(automation_id: int):  # type: ignore[no-untyped-def]
    return automations.get_automation(db(), api_user().tenant_id, automation_id)


@bp.route("/<id:automation_id>", methods=["PATCH"])
@bp.arguments(AutomationUpdate)
@bp.response(200, Automation)
def update(data: dict, automation_id: int):  # type: ignore[no-untyped-def]
    me = api_user()
    with write() as s:
        return automations.update_automation(s, me.tenant_id, automation_id, data, me)


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
