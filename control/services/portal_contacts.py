"""The portal's Contacts: the shared directory (read-only for agents) and the team, each with the
user's favourites listed first."""

from __future__ import annotations

from sqlalchemy import case, select
from sqlalchemy.orm import Session, selectinload

from control.errors import NotFound
from control.models import Contact, Favourite, User
from control.services import contacts, presence, users
from control.services.listing import Page, paginate


def external(
    session: Session, user: User, *, q: str = "", page: int = 1, per_page: int = 50
) -> Page[Contact]:
    return contacts.list_contacts(
        session, user.tenant_id, q=q, scope="shared", starred_first_for=user.id, page=page, per_page=per_page
    )


def team(session: Session, user: User, *, q: str = "", page: int = 1, per_page: int = 50) -> Page[User]:
    """The tenant's users (suspended ones left out), starred first, then by name."""
    stmt = select(User).where(User.tenant_id == user.tenant_id, User.suspended.is_(False))
    stmt = stmt.options(selectinload(User.teams))
    if q.strip():
        stmt = stmt.where(users.search_clause(q))
    starred = select(Favourite.favourite_user_id).where(
        Favourite.user_id == user.id, Favourite.favourite_user_id.is_not(None)
    )
    stmt = stmt.order_by(case((User.id.in_(starred), 0), else_=1))
    return paginate(
        session, stmt, page=page, per_page=per_page, sorts={"name": User.name}, default_sort="name"
    )


def team_presence(session: Session, user: User, members: list[User]) -> dict[int, str]:
    return presence.states_by_user(session, user.tenant_id, [m.id for m in members])


def star(
    session: Session,
    user: User,
    *,
    contact_id: int | None = None,
    favourite_user_id: int | None = None,
    on: bool,
) -> str:
    """Star or unstar a shared contact or a teammate for `user`; returns its name.

    Another user's phonebook entry is not the user's to see: it is NotFound, like a missing one."""
    if contact_id is not None:
        contact = session.get(Contact, contact_id)
        if (
            contact is None
            or contact.tenant_id != user.tenant_id
            or contact.owner_user_id not in (None, user.id)
        ):
            raise NotFound("contact", contact_id)
        name = contact.display_name
    else:
        other = session.get(User, favourite_user_id)
        if other is None or other.tenant_id != user.tenant_id:
            raise NotFound("user", favourite_user_id)
        name = other.name
    contacts.set_favourite(session, user, contact_id=contact_id, favourite_user_id=favourite_user_id, on=on)
    return name
