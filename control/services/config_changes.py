"""Record which parts of a tenant's PBX config a model change needs re-applied."""

from __future__ import annotations

from sqlalchemy.orm import Session

from control import effects

ENDPOINTS = "endpoints"  # pjsip / FreeSWITCH directory
DIALPLAN = "dialplan"
QUEUES = "queues"  # app_queue / mod_callcenter


def changed(session: Session, tenant_id: int, *parts: str) -> None:
    for part in parts:
        effects.record(session, effects.ConfigChanged(tenant_id, part))
