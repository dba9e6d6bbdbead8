"""Login, sessions, API tokens and 'login as': who may act, and how that is recorded.

Login attempts are throttled under two keys: the email address typed (known or not, so the
throttle tells nothing about which accounts exist) and the source address (so spraying many
emails from one place is slowed down too). Each attempt is counted *before* its password is
checked, by one atomic statement per key whose result the caller commits at once: parallel
attempts see each other's counts, and a burst cannot slip through between a read and a write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, contains_eager

from control.db import utcnow
from control.errors import Forbidden, Invalid
from control.models import ApiToken, LoginThrottle, User
from control.passwords import dummy_hash, new_token, token_digest, verify_password
from control.services import audit, users

# After this many attempts under a key, each further attempt waits a little longer (capped).
FREE_ATTEMPTS = 3  # per email address
ADDRESS_FREE_ATTEMPTS = 10  # per source address, whichever emails it tries
MAX_DELAY_SECONDS = 30
FORGET_AFTER = timedelta(minutes=15)  # a key without a failure for this long starts again at zero
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A counted attempt: the keys it was counted under and how long it must still wait."""

    email: str
    email_key: str
    address_key: str
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None
    error: str | None


def _delay(earlier: int, free: int, last_failed_at: datetime, now: datetime) -> float:
    """Seconds still to wait after `earlier` attempts, the last failure at `last_failed_at`."""
    if earlier < free:
        return 0.0
    wait = min(MAX_DELAY_SECONDS, 2 ** min(earlier - free, 8))
    return max(0.0, wait - (now - last_failed_at).total_seconds())


def _count(session: Session, key: str, free: int, now: datetime) -> float:
    """Add one attempt under `key` (INSERT ... ON CONFLICT DO UPDATE SET n = n + 1 RETURNING)."""
    table = LoginThrottle.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stale = table.c.last_failed_at < now - FORGET_AFTER
    statement = (
        dialect.insert(table)
        .values(key=key, attempts=1, last_failed_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "attempts": case((stale, 1), else_=table.c.attempts + 1),
                "last_failed_at": case((stale, now), else_=table.c.last_failed_at),
            },
        )
        .returning(table.c.attempts, table.c.last_failed_at)
    )
    attempts, last_failed_at = session.execute(statement).one()
    return _delay(attempts - 1, free, last_failed_at, now)


def count_login_attempt(session: Session, email: str, source_address: str) -> LoginAttempt:
    """Count an attempt before it is checked; the caller commits before calling `authenticate`."""
    address = (email or "").strip().lower()[:MAX_EMAIL_LENGTH]
    email_key, address_key = f"email:{address}", f"address:{source_address or 'unknown'}"
    now = utcnow()
    wait = max(
        _count(session, email_key, FREE_ATTEMPTS, now),
        _count(session, address_key, ADDRESS_FREE_ATTEMPTS, now),
    )
    return LoginAttempt(address, email_key, address_key, wait)


def attempts_counted(session: Session, email: str) -> int:
    """Attempts counted under an email address since its last successful login."""
    key = "email:" + email.strip().lower()[:MAX_EMAIL_LENGTH]
    return session.scalar(select(LoginThrottle.attempts).where(LoginThrottle.key == key)) or 0


def authenticate(session: Session, attempt: LoginAttempt, password: str) -> LoginResult:
    """Check a counted attempt's credentials, in the same time whether the email is known or not;
    failures are audited in `session` (the caller commits)."""
    if attempt.wait_seconds > 0:
        seconds = math.ceil(attempt.wait_seconds)
        return LoginResult(None, f"Too many failed attempts; try again in {seconds} seconds.")
    user = users.find_user_by_email(session, attempt.email)
    known_hash = user.password_hash if user is not None else None
    matches = verify_password(known_hash or dummy_hash(), password or "") and bool(known_hash)
    now = utcnow()
    keys = (attempt.email_key, attempt.address_key)
    if not matches:
        session.execute(update(LoginThrottle).where(LoginThrottle.key.in_(keys)).values(last_failed_at=now))
        if user is not None:
            audit.write(session, None, "login.failed", user)
        return LoginResult(None, "Wrong email or password.")
    assert user is not None
    if user.suspended:
        audit.write(session, user, "login.suspended", user)
        return LoginResult(None, "This account is suspended.")
    # Success: the email starts again from zero; the source address only takes back this attempt
    # (a working login of its own must not wipe the failures it sprayed on other emails).
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == attempt.email_key))
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == attempt.address_key, LoginThrottle.attempts > 0)
        .values(attempts=LoginThrottle.attempts - 1)
    )
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failed_at < now - FORGET_AFTER))
    audit.write(session, user, "login", user)
    return LoginResult(user, None)


def log_out(session: Session, user: User) -> None:
    """End the user's sessions: this one and every other made before it."""
    users.end_sessions(session, user)
    audit.write(session, user, "logout", user)


def log_out_everywhere(session: Session, tenant_id: int, user_id: int, actor: User) -> User:
    """End every session of a user (themself, or anyone of the tenant for an admin)."""
    user = users.get_user(session, tenant_id, user_id)
    if actor.id != user.id and (actor.role != "admin" or actor.tenant_id != user.tenant_id):
        raise Forbidden("Only an admin can log another user out.")
    users.end_sessions(session, user)
    audit.write(session, actor, "user.logout_everywhere", user)
    return user


def change_own_password(session: Session, user: User, current: str, new: str) -> None:
    """A user changes their password, proving the current one; every earlier session ends."""
    if not verify_password(user.password_hash, current or ""):
        raise Invalid("This is not your current password.", "current_password")
    users.set_password(session, user.tenant_id, user.id, new or "", user)


def create_token(session: Session, user: User, name: str = "api") -> str:
    """A new API token for `user`; only its digest is stored, the token is shown once."""
    token = new_token()
    session.add(ApiToken(user_id=user.id, digest=token_digest(token), name=name[:80]))
    audit.write(session, user, "token.create", user, name=name[:80])
    return token


#: A token's last-used time is written at most this often (a write per request would cost a commit).
LAST_USED_EVERY = timedelta(minutes=5)


def user_for_token(session: Session, token: str) -> User | None:
    """The user of an API token. Tokens live apart from login sessions: a logout leaves them valid.

    Tokens are 256-bit random strings, so their SHA-256 digest is looked up directly (a slow
    password hash guards guessable secrets, not these). One round trip loads the token, its user
    and the user's tenant (the request's services find both in the session); the token's
    last-used time changes at most every LAST_USED_EVERY, so most requests write nothing here.
    """
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .join(User.tenant)
        .options(contains_eager(User.tenant))
        .where(ApiToken.digest == token_digest(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if user.suspended:
        return None
    if row.last_used_at is None or utcnow() - row.last_used_at > LAST_USED_EVERY:
        row.last_used_at = utcnow()
    return user


def start_impersonation(session: Session, admin: User, target: User) -> None:
    if admin.role != "admin" or admin.tenant_id != target.tenant_id:
        raise Forbidden("Only an admin of this tenant can log in as another user.")
    if target.suspended:
        raise Forbidden("This account is suspended.")
    audit.write(session, admin, "user.login_as", target, whom=target.email)


def end_impersonation(session: Session, admin: User, target: User) -> None:
    audit.write(session, admin, "user.login_as.end", target, whom=target.email)
