"""An agent's own phonebook: contacts owned by one user, a name, one number, an optional email and
an optional avatar (uploaded: control.services.avatars).

Entries are `Contact` rows with `owner_user_id` set (the shared directory has none); every
lookup here is scoped to the owner, so another user's entry is NotFound, never visible.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.errors import Invalid, NotFound
from control.models import Contact, ContactNumber, User
from control.services import avatars, contacts
from control.services.listing import Page

# The contacts service names its fields for the full directory form; the phonebook form has three.
_FIELD_NAMES = {"first_name": "name", "numbers-0-number": "number", "numbers": "number"}
_MESSAGES = {
    "Enter a name or a company.": "Enter a name.",
    "Enter at least one phone number.": "A phone number is required.",
}


def entry_data(contact: Contact) -> dict[str, str]:
    return {
        "name": contact.display_name,
        "number": contact.numbers[0].e164 if contact.numbers else "",
        "email": contact.email,
    }


def _contact_data(data: dict) -> dict:
    name = data.get("name")
    number = data.get("number")
    if name is not None and not isinstance(name, str):
        raise Invalid("The name is text.", "name")
    if number is not None and not isinstance(number, str):
        raise Invalid("The number is text.", "number")
    return {
        "first_name": name or "",
        "last_name": "",
        "company": "",
        "job_title": "",
        "email": data.get("email") or "",
        "avatar": None,
        "numbers": [{"label": "mobile", "number": number or ""}],
    }


def _renamed(exc: Invalid, errors: dict[str, list[str]]) -> Invalid:
    for field, messages in exc.errors.items():
        target = _FIELD_NAMES.get(field, field)
        messages = [_MESSAGES.get(message, message) for message in messages]
        errors.setdefault(target, []).extend(messages)
    return Invalid(errors)


def list_entries(
    session: Session, owner: User, *, q: str = "", page: int = 1, per_page: int = 50
) -> Page[Contact]:
    """The owner's entries by name; `q` matches a name or any run of digits of the number."""
    return contacts.list_contacts(
        session,
        owner.tenant_id,
        q=q,
        owner_user_id=owner.id,
        scope="personal",
        page=page,
        per_page=per_page,
        sort="first_name",
    )


def get_entry(session: Session, owner: User, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.owner_user_id != owner.id or contact.tenant_id != owner.tenant_id:
        raise NotFound("contact", contact_id)
    return contact


def _avatar(errors: dict[str, list[str]], raw: bytes | None) -> avatars.CleanImage | None:
    if raw is None:
        return None
    try:
        return avatars.clean(raw)
    except Invalid as exc:
        for field, messages in exc.errors.items():
            errors.setdefault(field, []).extend(messages)
        return None


def create_entry(session: Session, owner: User, data: dict, avatar: bytes | None = None) -> Contact:
    """A new entry; `avatar`, if given, is an uploaded image file's bytes."""
    errors: dict[str, list[str]] = {}
    image = _avatar(errors, avatar)
    try:
        contact = contacts.create_contact(
            session, owner.tenant_id, _contact_data(data), owner, owner_user_id=owner.id
        )
    except Invalid as exc:
        raise _renamed(exc, errors) from None
    if errors:
        raise Invalid(errors)
    if image is not None:
        avatars.set_contact_avatar(session, contact, image)
    return contact


def update_entry(
    session: Session,
    owner: User,
    contact_id: int,
    data: dict,
    avatar: bytes | None = None,
    remove_avatar: bool = False,
) -> Contact:
    """Change an entry; a new `avatar` replaces the old one, `remove_avatar` removes it."""
    entry = get_entry(session, owner, contact_id)
    kept = entry.avatar
    errors: dict[str, list[str]] = {}
    image = _avatar(errors, avatar)
    try:
        contact = contacts.update_contact(
            session, owner.tenant_id, contact_id, _contact_data(entry_data(entry) | dict(data)), owner
        )
    except Invalid as exc:
        raise _renamed(exc, errors) from None
    if errors:
        raise Invalid(errors)
    contact.avatar = kept
    if image is not None or remove_avatar:
        avatars.set_contact_avatar(session, contact, image)
    return contact


def delete_entry(session: Session, owner: User, contact_id: int) -> None:
    kept = get_entry(session, owner, contact_id).avatar
    contacts.delete_contact(session, owner.tenant_id, contact_id, owner)
    avatars.drop(session, owner.tenant_id, kept)


def names_by_number(session: Session, owner: User, numbers: set[str]) -> dict[str, tuple[int, str]]:
    """{e164: (contact id, name)} for those of `numbers` in the owner's phonebook."""
    if not numbers:
        return {}
    rows = session.execute(
        select(ContactNumber.e164, Contact.id, Contact.first_name, Contact.last_name)
        .join(Contact, Contact.id == ContactNumber.contact_id)
        .where(
            ContactNumber.tenant_id == owner.tenant_id,
            Contact.owner_user_id == owner.id,
            ContactNumber.e164.in_(sorted(numbers)),
        )
        .order_by(Contact.id.desc())
    )
    return {e164: (cid, f"{first} {last}".strip()) for e164, cid, first, last in rows}
