"""Validate and describe destinations (line targets, ring-group and queue fallbacks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from control.errors import Invalid
from control.models import DESTINATION_KINDS, Queue, RingGroup, Tenant, User
from control.phone import parse_number
from control.validators import EXTENSION, Errors, add, check, row_id

_MODELS: dict[str, type] = {"user": User, "ring_group": RingGroup, "queue": Queue}


def apply(
    session: Session,
    errors: Errors,
    tenant: Tenant,
    obj: Any,
    prefix: str,
    data: dict,
    *,
    required: bool,
) -> None:
    """Set `<prefix>_*` columns from data[`<prefix>_kind`] and data[`<prefix>_target`]."""
    kind = str(data.get(f"{prefix}_kind") or "").strip()
    target = str(data.get(f"{prefix}_target") or "").strip()
    field = f"{prefix}_target"
    values: dict[str, Any] = {
        "kind": None,
        "user_id": None,
        "ring_group_id": None,
        "queue_id": None,
        "value": None,
    }
    if not kind:
        if required:
            add(errors, f"{prefix}_kind", "Choose where calls go.")
    elif kind not in DESTINATION_KINDS:
        add(errors, f"{prefix}_kind", f"Choose one of: {', '.join(DESTINATION_KINDS)}.")
    elif kind in _MODELS:
        values["kind"] = kind
        target_obj = session.get(_MODELS[kind], row_id(target)) if row_id(target) else None
        if target_obj is None or target_obj.tenant_id != tenant.id:
            add(errors, field, f"Choose a {kind.replace('_', ' ')}.")
        else:
            values[f"{kind}_id"] = target_obj.id
    elif kind == "extension":
        values["kind"] = kind
        check(errors, field, target, EXTENSION)
        values["value"] = target
    elif kind == "external":
        values["kind"] = kind
        try:
            values["value"] = parse_number(target, tenant.default_country, field).e164
        except Invalid as exc:
            for key, messages in exc.errors.items():
                for message in messages:
                    add(errors, key, message)
    else:
        values["kind"] = kind
    for name, value in values.items():
        setattr(obj, f"{prefix}_{name}", value)


def target_of(obj: Any, prefix: str) -> str:
    """The form value for `<prefix>_target` of an existing object."""
    kind = getattr(obj, f"{prefix}_kind")
    if kind in _MODELS:
        return str(getattr(obj, f"{prefix}_{kind}_id") or "")
    return getattr(obj, f"{prefix}_value") or ""


def describe(session: Session, obj: Any, prefix: str) -> str:
    kind = getattr(obj, f"{prefix}_kind")
    if not kind:
        return "—"
    if kind in _MODELS:
        target = session.get(_MODELS[kind], getattr(obj, f"{prefix}_{kind}_id") or 0)
        label = kind.replace("_", " ")
        return f"{label}: {target.name}" if target else f"{label}: (deleted)"
    if kind == "hangup":
        return "hang up"
    return f"{kind}: {getattr(obj, f'{prefix}_value')}"
