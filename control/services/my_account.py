"""What a user changes about their own account: email, notifications, caller ID, API tokens, their
status (Online / Do Not Disturb) and presence in their queues (the password:
accounts.change_own_password)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.errors import Invalid, NotFound
from control.models import ApiToken, Command, PhoneNumber, QueueMember, User
from control.services import accounts, audit, dnd, numbers, presence, queues, users
from control.validators import Errors, add, choice, email, text

MAX_TOKEN_NAME = 80
#: The languages the portal is translated into (web/translations); "" follows the browser's.
PORTAL_LANGUAGES = ("en", "fr")
LANGUAGE_CHOICES = ("", *PORTAL_LANGUAGES)


def change_email(session: Session, user: User, data: dict) -> None:
    errors: Errors = {}
    address = email(errors, data)
    if not errors:
        other = users.find_user_by_email(session, address)
        if other is not None and other.id != user.id:
            add(errors, "email", "Another user already has this email address.")
    if errors:
        raise Invalid(errors)
    if address != user.email:
        user.email = address
        audit.write(session, user, "user.email", user)
    session.flush()


def set_language(session: Session, user: User, data: dict) -> None:
    """The portal's language: one it is translated into, or "" for the browser's."""
    errors: Errors = {}
    language = choice(errors, data, "language", LANGUAGE_CHOICES, "")
    if errors:
        raise Invalid(errors)
    user.language = language
    session.flush()


def set_notifications(session: Session, user: User, on: bool) -> None:
    user.notifications = on
    session.flush()


def tokens(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def create_token(session: Session, user: User, data: dict) -> str:
    """A new personal token: shown once, stored as a digest."""
    errors: Errors = {}
    name = text(errors, data, "name", required=True, max_len=MAX_TOKEN_NAME)
    if errors:
        raise Invalid(errors)
    return accounts.create_token(session, user, name)


def revoke_token(session: Session, user: User, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("token", token_id)
    audit.write(session, user, "token.revoke", user, name=token.name)
    session.delete(token)
    session.flush()


def caller_ids(session: Session, user: User) -> list[PhoneNumber]:
    """Every number the user may present: the tenant's, never a do-not-use or released one."""
    return numbers.usable_caller_ids(session, user.tenant_id)


def choose_caller_id(session: Session, user: User, number_id: int | str | None) -> None:
    """The caller ID of the user's next outbound calls (None: their line's default). The users
    service checks the number and schedules the phone configuration's deploy."""
    users.update_user(session, user.tenant_id, user.id, {"caller_id_number_id": number_id}, user)


def queue_memberships(session: Session, user: User) -> list[dict]:
    """Every queue the user is a member of and whether it offers them its calls."""
    return [
        {"queue_id": queue.id, "name": queue.name, "extension": queue.extension, "active": member.active}
        for queue, member in queues.memberships(session, user.tenant_id, user.id)
    ]


def set_queue_active(session: Session, user: User, queue_id: int, active: bool) -> QueueMember:
    """On: the queue offers the user its calls; off: none from it, other queues unaffected.
    Live on every node of the tenant at once (a queue_pause command per node)."""
    return queues.set_membership_active(session, user.tenant_id, queue_id, user.id, active, user)


def set_status(session: Session, user: User, dnd_on: bool) -> list[Command]:
    """Online or Do Not Disturb, live on the PBX (one dnd command per node)."""
    return dnd.set_dnd(session, user, user.id, dnd_on)[1]


def status(session: Session, user: User) -> dict:
    """The user's chosen status and their presence as others see it."""
    return {"dnd": user.dnd, "presence": presence.get_presence(session, user.tenant_id, user.id).state}
