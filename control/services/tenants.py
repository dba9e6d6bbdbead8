from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from control import crypto
from control.errors import Invalid, NotFound
from control.models import Tenant, User
from control.services import audit, config_changes
from control.validators import (
    BROADCAST_CONCURRENT,
    BROADCAST_RATE,
    HOST,
    PORT,
    SECRET,
    TRUNK_USER,
    Errors,
    add,
    check,
    integer,
    text,
)


def get_tenant(session: Session, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    return tenant


def find_tenant_by_name(session: Session, name: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.name == name))


def list_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.name)))


def _apply(session: Session, tenant: Tenant, data: dict) -> None:
    errors: Errors = {}
    tenant.name = text(errors, data, "name", required=True, max_len=80) or tenant.name
    domain = text(errors, data, "domain", required=True, max_len=253).lower()
    if domain and "domain" not in errors:
        check(errors, "domain", domain, HOST)
    tenant.domain = domain
    country = text(errors, data, "default_country", max_len=2).upper() or "US"
    if not re.fullmatch(r"[A-Z]{2}", country):
        add(errors, "default_country", "A two-letter country code, e.g. US or GB.")
    tenant.default_country = country
    host = text(errors, data, "trunk_host", max_len=253)
    if host and "trunk_host" not in errors:
        check(errors, "trunk_host", host, HOST)
    tenant.trunk_host = host or None
    tenant.trunk_port = integer(errors, data, "trunk_port", 5060, *PORT)
    tenant.broadcast_calls_per_second = integer(
        errors, data, "broadcast_calls_per_second", tenant.broadcast_calls_per_second or 5, *BROADCAST_RATE
    )
    tenant.broadcast_max_concurrent = integer(
        errors, data, "broadcast_max_concurrent", tenant.broadcast_max_concurrent or 10, *BROADCAST_CONCURRENT
    )
    username = text(errors, data, "trunk_username", max_len=80)
    if username and "trunk_username" not in errors:
        check(errors, "trunk_username", username, TRUNK_USER)
    tenant.trunk_username = username or None
    secret = str(data.get("trunk_secret") or "")
    if secret:
        check(errors, "trunk_secret", secret, SECRET)
        if "trunk_secret" not in errors:
            tenant.trunk_secret_enc = crypto.encrypt(secret)
    for field in ("name", "domain"):
        clash = session.scalar(
            select(Tenant).where(getattr(Tenant, field) == getattr(tenant, field), Tenant.id != tenant.id)
            if tenant.id
            else select(Tenant).where(getattr(Tenant, field) == getattr(tenant, field))
        )
        if clash is not None:
            add(errors, field, f"Another tenant already uses this {field}.")
    if errors:
        raise Invalid(errors)


def create_tenant(session: Session, data: dict, actor: User | None = None) -> Tenant:
    tenant = Tenant()
    _apply(session, tenant, data)
    session.add(tenant)
    session.flush()
    audit.write(session, actor, "tenant.create", tenant, tenant_id=tenant.id)
    return tenant


def update_tenant(session: Session, tenant_id: int, data: dict, actor: User | None) -> Tenant:
    tenant = get_tenant(session, tenant_id)
    _apply(session, tenant, data)
    session.flush()
    audit.write(session, actor, "tenant.update", tenant, tenant_id=tenant.id)
    config_changes.changed(
        session, tenant.id, config_changes.ENDPOINTS, config_changes.DIALPLAN, config_changes.QUEUES
    )
    return tenant


def update_broadcast_limits(session: Session, tenant_id: int, data: dict, actor: User | None) -> Tenant:
    """The tenant's broadcast throttle: calls (or texts) a second and calls at once."""
    tenant = get_tenant(session, tenant_id)
    errors: Errors = {}
    rate = integer(
        errors, data, "broadcast_calls_per_second", tenant.broadcast_calls_per_second, *BROADCAST_RATE
    )
    concurrent = integer(
        errors, data, "broadcast_max_concurrent", tenant.broadcast_max_concurrent, *BROADCAST_CONCURRENT
    )
    if errors:
        raise Invalid(errors)
    tenant.broadcast_calls_per_second, tenant.broadcast_max_concurrent = rate, concurrent
    session.flush()
    audit.write(
        session, actor, "tenant.broadcast_limits", tenant, calls_per_second=rate, max_concurrent=concurrent
    )
    return tenant
