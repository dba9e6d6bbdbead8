"""One extension namespace per tenant, shared by users, ring groups and queues."""

from __future__ import annotations

from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.models import Queue, RingGroup, User
from control.validators import Errors, add


def check_free(
    session: Session,
    errors: Errors,
    tenant_id: int,
    extension: str | None,
    *,
    field: str = "extension",
    own: object = None,
) -> None:
    """Add an error when `extension` is already taken by another user, ring group or queue."""
    if not extension or field in errors:
        return
    holders: tuple[tuple[type[User] | type[RingGroup] | type[Queue], str], ...] = (
        (User, "user"),
        (RingGroup, "ring group"),
        (Queue, "queue"),
    )
    for model, label in holders:
        holder = cast(
            "User | RingGroup | Queue | None",
            session.scalar(select(model).where(model.tenant_id == tenant_id, model.extension == extension)),
        )
        if holder is not None and holder is not own:
            add(errors, field, f"Extension {extension} is already used by the {label} “{holder.name}”.")
            return
