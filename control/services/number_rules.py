"""Per-country rules for new numbers: which countries need documents approved first."""

from __future__ import annotations

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.errors import Invalid, NotFound
from control.models import CountryRule, User
from control.services import audit
from control.validators import Errors, add, boolean, text

MAX_DOCUMENTS_TEXT = 300
COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS)


def list_rules(session: Session, tenant_id: int) -> list[CountryRule]:
    return list(
        session.scalars(
            select(CountryRule).where(CountryRule.tenant_id == tenant_id).order_by(CountryRule.country)
        )
    )


def find_rule(session: Session, tenant_id: int, country: str) -> CountryRule | None:
    return session.scalar(
        select(CountryRule).where(CountryRule.tenant_id == tenant_id, CountryRule.country == country.upper())
    )


def get_rule(session: Session, tenant_id: int, country: str) -> CountryRule:
    rule = find_rule(session, tenant_id, country)
    if rule is None:
        raise NotFound("country rule", country)
    return rule


def documents_required(session: Session, tenant_id: int, country: str) -> bool:
    rule = find_rule(session, tenant_id, country)
    return rule is not None and rule.documents_required


def country_code(errors: Errors, data: dict, field: str = "country") -> str:
    value = str(data.get(field) or "").strip().upper()
    if value not in COUNTRIES:
        add(errors, field, "A country code of two letters, like FR or DE.")
    return value


def set_rule(session: Session, tenant_id: int, data: dict, actor: User | None) -> CountryRule:
    """Create or change the rule of `country` (documents_required, documents: what to upload)."""
    errors: Errors = {}
    country = country_code(errors, data)
    required = boolean(data, "documents_required", True)
    documents = text(errors, data, "documents", max_len=MAX_DOCUMENTS_TEXT)
    if errors:
        raise Invalid(errors)
    rule = find_rule(session, tenant_id, country)
    if rule is None:
        rule = CountryRule(tenant_id=tenant_id, country=country)
        session.add(rule)
    rule.documents_required, rule.documents = required, documents
    session.flush()
    audit.write(session, actor, "number_rule.set", rule, country=country, documents_required=required)
    return rule


def delete_rule(session: Session, tenant_id: int, country: str, actor: User | None) -> None:
    rule = get_rule(session, tenant_id, country)
    audit.write(session, actor, "number_rule.delete", rule, country=rule.country)
    session.delete(rule)
    session.flush()
