"""A user's diagnosis: why they do or do not get calls, read now from each PBX node."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from control.services import user_diagnosis
from web.api.bearer import api_user
from web.api.blueprint import ApiBlueprint
from web.api.datetimes import UtcDateTime
from web.db import db

bp = ApiBlueprint(
    "users",
    __name__,
    part="diagnosis",
    description="Admins and agents, with their SIP extensions.",
)


class RegisteredContact(ma.Schema):
    contact = fields.String(metadata={"description": "The registered contact URI."})
    user_agent = fields.String()
    source = fields.String(metadata={"description": "Where the registration came from (address:port)."})
    expires_in = fields.Integer(allow_none=True, metadata={"description": "Seconds until it expires."})
    reachable = fields.Boolean(
        allow_none=True,
        metadata={"description": "Answered an OPTIONS ping sent now; null: not pinged (status says why)."},
    )
    status = fields.String(metadata={"description": "The ping's outcome, e.g. 'answered 200'."})
    rtt_ms = fields.Float(allow_none=True, metadata={"description": "The ping's round trip in milliseconds."})


class NodeDiagnosis(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    answered = fields.Boolean(metadata={"description": "false: the node did not answer (see error)."})
    error = fields.String()
    endpoint_present = fields.Boolean(
        allow_none=True, metadata={"description": "The user's endpoint exists on the live PBX."}
    )
    contacts = fields.List(fields.Nested(RegisteredContact))
    live_version = fields.Integer(allow_none=True)
    current = fields.Boolean(
        allow_none=True, metadata={"description": "The node runs what the model renders now."}
    )
    current_detail = fields.String()


class DiagnosisCall(ma.Schema):
    id = fields.Integer()
    started_at = UtcDateTime()
    direction = fields.String()
    other = fields.String()
    outcome = fields.String()
    hangup_cause = fields.String()
    seconds = fields.Integer()


class PresenceChange(ma.Schema):
    at = UtcDateTime()
    node = fields.String()
    what = fields.String()


class DiagnosisFinding(ma.Schema):
    level = fields.String(metadata={"enum": ["problem", "ok"]})
    text = fields.String()


class Diagnosis(ma.Schema):
    user_id = fields.Function(lambda d: d.user.id)
    extension = fields.Function(lambda d: d.user.extension, allow_none=True)
    registered = fields.Boolean()
    findings = fields.List(fields.Nested(DiagnosisFinding))
    nodes = fields.List(fields.Nested(NodeDiagnosis))
    last_calls = fields.List(fields.Nested(DiagnosisCall))
    presence_today = fields.List(fields.Nested(PresenceChange))


@bp.route("/<id:user_id>/diagnosis", methods=["GET"])
@bp.response(200, Diagnosis)
def show(user_id: int):  # type: ignore[no-untyped-def]
    """Why the user does or does not get calls: registrations read from each node's live PBX (a
    node that does not answer in time says so), its configuration, the last calls, presence today."""
    return user_diagnosis.diagnose(db(), api_user().tenant_id, user_id)
