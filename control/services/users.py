"""Users: accounts, SIP extensions, routing pause, suspension and deletion with dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from control import crypto, effects
from control.errors import Conflict, Invalid, NotFound
from control.models import Line, PhoneNumber, Queue, QueueMember, RingGroup, RingGroupMember, Team, User
from control.passwords import hash_password, new_sip_secret
from control.services import audit, config_changes, extensions
from control.services.listing import Page, like_pattern, paginate
from control.validators import (
    MAX_AVATAR,
    Errors,
    add,
    boolean,
    choice,
    email,
    extension,
    id_list,
    optional_id,
    text,
)

ROLES = ("admin", "agent")
# The number approver permission (approves pending numbers: control/services/number_lifecycle.py).
APPROVER_RULE = "Only an admin can be a number approver."
LANGUAGES = ("en", "fr", "de", "es", "nl", "it", "pt")
SORTS = {"name": User.name, "email": User.email, "extension": User.extension, "created": User.created_at}
MIN_PASSWORD = 10
MAX_PASSWORD = 256
AVATAR_PREFIXES = ("https://", "/static/", "/avatars/")


def get_user(session: Session, tenant_id: int, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise NotFound("user", user_id)
    return user


def find_user_by_email(session: Session, address: str) -> User | None:
    return session.scalar(select(User).where(User.email == address.strip().lower()))


def find_user_by_extension(session: Session, tenant_id: int, ext: str) -> User | None:
    return session.scalar(select(User).where(User.tenant_id == tenant_id, User.extension == ext))


def search_clause(q: str) -> ColumnElement[bool]:
    """Users whose name, email or extension contains `q`."""
    pattern = like_pattern(q.strip().lower())
    return or_(
        func.lower(User.name).like(pattern, escape="\\"),
        User.email.like(pattern, escape="\\"),
        User.extension.like(pattern, escape="\\"),
    )


def list_users(
    session: Session,
    tenant_id: int,
    *,
    q: str = "",
    status: str = "",
    role: str = "",
    team_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
    sort: str | None = None,
) -> Page[User]:
    stmt = select(User).where(User.tenant_id == tenant_id).options(selectinload(User.teams))
    if q.strip():
        stmt = stmt.where(search_clause(q))
    if status == "suspended":
        stmt = stmt.where(User.suspended.is_(True))
    elif status == "paused":
        stmt = stmt.where(User.suspended.is_(False), User.routing_paused.is_(True))
    elif status == "active":
        stmt = stmt.where(User.suspended.is_(False), User.routing_paused.is_(False))
    if role in ROLES:
        stmt = stmt.where(User.role == role)
    if team_id:
        stmt = stmt.where(User.teams.any(Team.id == team_id))
    return paginate(session, stmt, page=page, per_page=per_page, sort=sort, sorts=SORTS, default_sort="name")


def all_users(session: Session, tenant_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.name)))


def user_status_counts(session: Session, tenant_id: int) -> dict[str, int]:
    rows = session.execute(
        select(User.suspended, User.routing_paused, func.count())
        .where(User.tenant_id == tenant_id)
        .group_by(User.suspended, User.routing_paused)
    )
    counts = {"active": 0, "paused": 0, "suspended": 0}
    for suspended, paused, count in rows:
        key = "suspended" if suspended else "paused" if paused else "active"
        counts[key] += count
    return counts


def _apply(session: Session, user: User, tenant_id: int, data: dict, *, creating: bool) -> Errors:
    errors: Errors = {}
    user.name = text(errors, data, "name", required=True)
    user.email = email(errors, data)
    user.role = choice(errors, data, "role", ROLES, user.role or "agent")
    user.extension = extension(errors, data, required=False)
    user.language = choice(errors, data, "language", LANGUAGES, user.language or "en")
    user.notifications = boolean(data, "notifications", True if creating else user.notifications)
    user.dnd = boolean(data, "dnd", False if creating else user.dnd)
    user.routing_paused = boolean(data, "routing_paused", False if creating else user.routing_paused)
    user.approves_numbers = boolean(data, "approves_numbers", False if creating else user.approves_numbers)
    if user.approves_numbers and user.role != "admin":
        add(errors, "approves_numbers", APPROVER_RULE)
    avatar = text(errors, data, "avatar", max_len=MAX_AVATAR)
    if avatar and not avatar.startswith(AVATAR_PREFIXES):
        add(errors, "avatar", "An avatar is an https:// address.")
    user.avatar = avatar or None
    password = str(data.get("password") or "")
    if password and check_password(errors, password):
        user.password_hash = hash_password(password)
    caller_id = optional_id(errors, data, "caller_id_number_id")
    if caller_id is not None:
        number = session.get(PhoneNumber, caller_id)
        if number is None or number.tenant_id != tenant_id:
            add(errors, "caller_id_number_id", "Choose one of the tenant's numbers.")
        elif number.do_not_use or number.status not in ("active", "to_be_cancelled"):
            add(errors, "caller_id_number_id", "This number cannot be used as a caller ID.")
    user.caller_id_number_id = caller_id
    team_ids = id_list(errors, data, "team_ids") if "team_ids" in data or creating else None
    if team_ids is not None:
        teams = list(session.scalars(select(Team).where(Team.tenant_id == tenant_id, Team.id.in_(team_ids))))
        if len(teams) != len(set(team_ids)):
            add(errors, "team_ids", "Choose teams of this tenant.")
        user.teams = teams
    if user.email and "email" not in errors:
        other = find_user_by_email(session, user.email)
        if other is not None and other is not user:
            add(errors, "email", "Another user already has this email address.")
    extensions.check_free(session, errors, tenant_id, user.extension, own=user)
    return errors


def create_user(session: Session, tenant_id: int, data: dict, actor: User | None) -> User:
    user = User(tenant_id=tenant_id, role="agent", language="en")
    with session.no_autoflush:
        errors = _apply(session, user, tenant_id, data, creating=True)
    if errors:
        raise Invalid(errors)
    user.sip_secret_enc = crypto.encrypt(new_sip_secret())
    session.add(user)
    session.flush()
    audit.write(session, actor, "user.create", user)
    config_changes.changed(session, tenant_id, config_changes.ENDPOINTS, config_changes.DIALPLAN)
    return user


def update_user(session: Session, tenant_id: int, user_id: int, data: dict, actor: User | None) -> User:
    user = get_user(session, tenant_id, user_id)
    dnd_before = user.dnd
    merged = _current(user) | dict(data)
    demoting_self = actor is not None and actor.id == user.id and user.role == "admin"
    with session.no_autoflush:
        errors = _apply(session, user, tenant_id, merged, creating=False)
    if demoting_self and user.role != "admin":
        add(errors, "role", "You cannot take away your own admin role.")
    if errors:
        raise Invalid(errors)
    if data.get("password"):
        end_sessions(session, user)
    session.flush()
    if user.dnd != dnd_before:
        from control.services.dnd import apply_dnd  # dnd builds on this module

        apply_dnd(session, user, user.dnd, actor)  # live on the PBX at once
    audit.write(session, actor, "user.update", user, fields=sorted(k for k in data if k != "password"))
    config_changes.changed(
        session, tenant_id, config_changes.ENDPOINTS, config_changes.DIALPLAN, config_changes.QUEUES
    )
    return user


def _current(user: User) -> dict:
    return {
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "extension": user.extension,
        "language": user.language,
        "notifications": user.notifications,
        "dnd": user.dnd,
        "routing_paused": user.routing_paused,
        "approves_numbers": user.approves_numbers,
        "avatar": user.avatar,
        "caller_id_number_id": user.caller_id_number_id,
    }


def set_flag(
    session: Session, tenant_id: int, user_id: int, flag: str, value: bool, actor: User | None
) -> User:
    """Pause/activate routing, suspend/unsuspend, or set DND."""
    if flag not in ("routing_paused", "suspended", "dnd"):
        raise Invalid(f"Unknown flag {flag}.", "flag")
    user = get_user(session, tenant_id, user_id)
    if flag == "dnd":
        from control.services.dnd import apply_dnd  # dnd builds on this module

        apply_dnd(session, user, value, actor)
        return user
    if flag == "suspended" and value and actor is not None and actor.id == user.id:
        raise Invalid("You cannot suspend yourself.", "suspended")
    setattr(user, flag, value)
    if flag == "suspended" and value:
        end_sessions(session, user)
    session.flush()
    audit.write(session, actor, f"user.{flag}", user, value=value)
    config_changes.changed(
        session, tenant_id, config_changes.ENDPOINTS, config_changes.DIALPLAN, config_changes.QUEUES
    )
    effects.record(session, effects.PresenceChanged(tenant_id, user.id))
    return user


def check_password(errors: Errors, password: str) -> bool:
    """The strength rules every new password follows (admin forms, the API, the agent's own change)."""
    if len(password) < MIN_PASSWORD:
        add(errors, "password", f"A password has at least {MIN_PASSWORD} characters.")
    elif len(password) > MAX_PASSWORD:
        add(errors, "password", f"A password has at most {MAX_PASSWORD} characters.")
    else:
        return True
    return False


def set_password(session: Session, tenant_id: int, user_id: int, password: str, actor: User | None) -> None:
    user = get_user(session, tenant_id, user_id)
    errors: Errors = {}
    if not check_password(errors, password):
        raise Invalid(errors)
    user.password_hash = hash_password(password)
    end_sessions(session, user)
    audit.write(session, actor, "user.password", user)


def end_sessions(session: Session, user: User) -> None:
    """End every login session of `user` made so far (API tokens are not sessions: they stay)."""
    user.session_version = User.session_version + 1  # type: ignore[assignment]
    session.flush()


def sip_secret(session: Session, tenant_id: int, user_id: int, actor: User | None) -> str:
    """Reveal a user's SIP secret (admins only, on demand); the reveal is audited."""
    user = get_user(session, tenant_id, user_id)
    if not user.sip_secret_enc:
        raise NotFound("SIP secret of user", user_id)
    audit.write(session, actor, "user.sip_secret.reveal", user)
    return crypto.decrypt(user.sip_secret_enc)


def regenerate_sip_secret(session: Session, tenant_id: int, user_id: int, actor: User | None) -> None:
    user = get_user(session, tenant_id, user_id)
    user.sip_secret_enc = crypto.encrypt(new_sip_secret())
    audit.write(session, actor, "user.sip_secret.regenerate", user)
    config_changes.changed(session, tenant_id, config_changes.ENDPOINTS)


@dataclass(frozen=True, slots=True)
class Dependency:
    kind: str
    name: str
    detail: str


def dependencies(session: Session, tenant_id: int, user_id: int) -> list[Dependency]:
    """What refers to this user: ring groups, queues, lines and numbers."""
    user = get_user(session, tenant_id, user_id)
    found: list[Dependency] = []
    for group in session.scalars(
        select(RingGroup)
        .join(RingGroupMember, RingGroupMember.ring_group_id == RingGroup.id)
        .where(RingGroupMember.user_id == user.id)
        .distinct()
    ):
        found.append(Dependency("ring_group", group.name, "member"))
    for group in session.scalars(select(RingGroup).where(RingGroup.fallback_user_id == user.id)):
        found.append(Dependency("ring_group", group.name, "fallback"))
    for queue in session.scalars(select(Queue).join(QueueMember).where(QueueMember.user_id == user.id)):
        found.append(Dependency("queue", queue.name, "member"))
    for queue in session.scalars(select(Queue).where(Queue.fallback_user_id == user.id)):
        found.append(Dependency("queue", queue.name, "fallback"))
    for line in session.scalars(select(Line).where(Line.destination_user_id == user.id)):
        found.append(Dependency("line", line.name, "destination"))
    for number in session.scalars(select(PhoneNumber).where(PhoneNumber.user_id == user.id)):
        found.append(Dependency("number", number.e164, "assigned"))
    return found


def delete_user(
    session: Session, tenant_id: int, user_id: int, actor: User | None, *, acknowledged: bool = False
) -> None:
    """Delete a user; when anything depends on it, only with `acknowledged`, then detach it."""
    user = get_user(session, tenant_id, user_id)
    if actor is not None and actor.id == user.id:
        raise Conflict("You cannot delete yourself.")
    deps = dependencies(session, tenant_id, user_id)
    if deps and not acknowledged:
        raise Conflict(
            f"{user.name} has {len(deps)} dependencies; confirm to remove them too.",
            [f"{d.kind.replace('_', ' ')} {d.name} ({d.detail})" for d in deps],
        )
    session.execute(delete(RingGroupMember).where(RingGroupMember.user_id == user.id))
    session.execute(delete(QueueMember).where(QueueMember.user_id == user.id))
    for model in (RingGroup, Queue):
        session.execute(
            update(model)
            .where(model.fallback_user_id == user.id)
            .values(fallback_kind=None, fallback_user_id=None)
        )
    session.execute(
        update(Line)
        .where(Line.destination_user_id == user.id)
        .values(destination_kind=None, destination_user_id=None)
    )
    session.execute(update(PhoneNumber).where(PhoneNumber.user_id == user.id).values(user_id=None))
    audit.write(session, actor, "user.delete", user, name=user.name, dependencies=len(deps))
    session.delete(user)
    session.flush()
    config_changes.changed(
        session, tenant_id, config_changes.ENDPOINTS, config_changes.DIALPLAN, config_changes.QUEUES
    )
