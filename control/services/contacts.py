"""Contacts: the tenant's shared directory and each user's phonebook, with favourites."""

from __future__ import annotations

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from control.errors import Invalid, NotFound
from control.models import Contact, ContactNumber, Favourite, Tag, User
from control.phone import digits_only, parse_number
from control.services import audit
from control.services.listing import Page, like_pattern, paginate
from control.services.tenants import get_tenant
from control.validators import MAX_AVATAR, Errors, add, boolean, email, id_list, text

SORTS = {
    "name": Contact.last_name,
    "first_name": Contact.first_name,
    "company": Contact.company,
    "created": Contact.created_at,
}
MAX_NUMBERS = 10
MAX_COMPANY = 160
AVATAR_PREFIXES = ("https://",)
NUMBER_LABELS = ("mobile", "work", "home", "main", "fax", "other")


def get_contact(session: Session, tenant_id: int, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.tenant_id != tenant_id:
        raise NotFound("contact", contact_id)
    return contact


def list_contacts(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    tag_id: int | None = None,
    owner_user_id: int | None = None,
    scope: str = "shared",
    starred_first_for: int | None = None,
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[Contact]:
    """scope: 'shared' (tenant directory), 'personal' (owner's phonebook), 'visible' (both), 'all'.

    starred_first_for: a user id whose favourites come first, each part in the chosen sort.
    """
    stmt = (
        select(Contact)
        .where(Contact.tenant_id == tenant_id)
        .options(selectinload(Contact.numbers), selectinload(Contact.tags))
    )
    if scope == "shared":
        stmt = stmt.where(Contact.owner_user_id.is_(None))
    elif scope == "personal":
        stmt = stmt.where(Contact.owner_user_id == owner_user_id)
    elif scope == "visible":
        stmt = stmt.where(or_(Contact.owner_user_id.is_(None), Contact.owner_user_id == owner_user_id))
    if q.strip():
        pattern = like_pattern(q.strip().lower())
        conditions = [Contact.search_text.like(pattern, escape="\\")]
        if digits := digits_only(q):
            if len(digits) >= 2:
                conditions.append(
                    Contact.id.in_(
                        select(ContactNumber.contact_id).where(
                            ContactNumber.tenant_id == tenant_id,
                            ContactNumber.e164.like(like_pattern(digits), escape="\\"),
                        )
                    )
                )
        stmt = stmt.where(or_(*conditions))
    if tag_id:
        stmt = stmt.where(Contact.tags.any(Tag.id == tag_id))
    if starred_first_for is not None:
        starred = select(Favourite.contact_id).where(
            Favourite.user_id == starred_first_for, Favourite.contact_id.is_not(None)
        )
        stmt = stmt.order_by(case((Contact.id.in_(starred), 0), else_=1))
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="name")


def _search_text(contact: Contact) -> str:
    parts = (contact.first_name, contact.last_name, contact.company, contact.email, contact.job_title)
    return " ".join(p for p in parts if p).lower()[:800]


def _apply(session: Session, contact: Contact, tenant_id: int, data: dict) -> None:
    errors: Errors = {}
    tenant = get_tenant(session, tenant_id)
    contact.first_name = text(errors, data, "first_name")
    contact.last_name = text(errors, data, "last_name")
    contact.company = text(errors, data, "company", max_len=MAX_COMPANY)
    contact.job_title = text(errors, data, "job_title")
    contact.email = email(errors, data, required=False)
    avatar = text(errors, data, "avatar", max_len=MAX_AVATAR)
    if avatar and not avatar.startswith(AVATAR_PREFIXES):
        add(errors, "avatar", "An avatar is an https:// address.")
    contact.avatar = avatar or None
    if not (contact.first_name or contact.last_name or contact.company):
        add(errors, "first_name", "Enter a name or a company.")
    raw_numbers = [dict(n) for n in (data.get("numbers") or []) if str(dict(n).get("number") or "").strip()]
    if not raw_numbers:
        add(errors, "numbers-0-number", "Enter at least one phone number.")
    if len(raw_numbers) > MAX_NUMBERS:
        add(errors, "numbers", f"At most {MAX_NUMBERS} numbers.")
    numbers: list[ContactNumber] = []
    for index, raw in enumerate(raw_numbers[:MAX_NUMBERS]):
        label = str(raw.get("label") or "mobile")
        if label not in NUMBER_LABELS:
            add(errors, f"numbers-{index}-label", f"Choose one of: {', '.join(NUMBER_LABELS)}.")
        try:
            parsed = parse_number(str(raw["number"]), tenant.default_country, f"numbers-{index}-number")
        except Invalid as exc:
            errors.update(exc.errors)
            continue
        numbers.append(ContactNumber(tenant_id=tenant_id, position=index, label=label, e164=parsed.e164))
    if "do_not_call" in data:
        contact.do_not_call = boolean(data, "do_not_call")
    if "tag_ids" in data:
        wanted = id_list(errors, data, "tag_ids")
        tags = list(session.scalars(select(Tag).where(Tag.tenant_id == tenant_id, Tag.id.in_(wanted))))
        if len(tags) != len(set(wanted)):
            add(errors, "tag_ids", "Choose tags of this tenant.")
        contact.tags = tags
    if errors:
        raise Invalid(errors)
    contact.numbers = numbers
    contact.search_text = _search_text(contact)


def contact_data(contact: Contact) -> dict:
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "company": contact.company,
        "job_title": contact.job_title,
        "email": contact.email,
        "avatar": contact.avatar,
        "numbers": [{"label": n.label, "number": n.e164} for n in contact.numbers],
        "do_not_call": contact.do_not_call,
    }


def create_contact(
    session: Session, tenant_id: int, data: dict, actor: User | None, *, owner_user_id: int | None = None
) -> Contact:
    contact = Contact(tenant_id=tenant_id, owner_user_id=owner_user_id)
    contact.tags = []
    with session.no_autoflush:
        _apply(session, contact, tenant_id, data)
    session.add(contact)
    session.flush()
    audit.write(session, actor, "contact.create", contact)
    return contact


def update_contact(
    session: Session, tenant_id: int, contact_id: int, data: dict, actor: User | None
) -> Contact:
    contact = get_contact(session, tenant_id, contact_id)
    with session.no_autoflush:
        _apply(session, contact, tenant_id, contact_data(contact) | dict(data))
    session.flush()
    audit.write(session, actor, "contact.update", contact)
    return contact


def delete_contact(session: Session, tenant_id: int, contact_id: int, actor: User | None) -> None:
    contact = get_contact(session, tenant_id, contact_id)
    audit.write(session, actor, "contact.delete", contact, name=contact.display_name)
    session.delete(contact)
    session.flush()


def set_favourite(
    session: Session,
    user: User,
    *,
    contact_id: int | None = None,
    favourite_user_id: int | None = None,
    on: bool = True,
) -> None:
    """Star or unstar a contact or a teammate for `user`."""
    if (contact_id is None) == (favourite_user_id is None):
        raise Invalid("Choose a contact or a user.", "contact_id")
    if contact_id is not None:
        get_contact(session, user.tenant_id, contact_id)
    else:
        other = session.get(User, favourite_user_id)
        if other is None or other.tenant_id != user.tenant_id:
            raise NotFound("user", favourite_user_id)
    existing = session.scalar(
        select(Favourite).where(
            Favourite.user_id == user.id,
            Favourite.contact_id.is_(None) if contact_id is None else Favourite.contact_id == contact_id,
            Favourite.favourite_user_id.is_(None)
            if favourite_user_id is None
            else Favourite.favourite_user_id == favourite_user_id,
        )
    )
    if on and existing is None:
        session.add(Favourite(user_id=user.id, contact_id=contact_id, favourite_user_id=favourite_user_id))
    elif not on and existing is not None:
        session.delete(existing)
    session.flush()


def favourite_ids(session: Session, user_id: int) -> tuple[set[int], set[int]]:
    """(contact ids, user ids) that `user_id` starred."""
    rows = session.execute(
        select(Favourite.contact_id, Favourite.favourite_user_id).where(Favourite.user_id == user_id)
    )
    contacts, users = set(), set()
    for contact_id, fav_user in rows:
        if contact_id:
            contacts.add(contact_id)
        if fav_user:
            users.add(fav_user)
    return contacts, users


def match_number(
    session: Session, tenant_id: int, e164: str, owner_user_id: int | None = None
) -> Contact | None:
    """The contact with this number, preferring the owner's own phonebook."""
    rows = session.scalars(
        select(Contact)
        .join(ContactNumber)
        .where(ContactNumber.tenant_id == tenant_id, ContactNumber.e164 == e164)
        .where(or_(Contact.owner_user_id.is_(None), Contact.owner_user_id == owner_user_id))
        .order_by(Contact.owner_user_id.is_(None), Contact.id)
    ).first()
    return rows


def count_contacts(session: Session, tenant_id: int) -> int:
    return (
        session.scalar(select(func.count()).select_from(Contact).where(Contact.tenant_id == tenant_id)) or 0
    )
