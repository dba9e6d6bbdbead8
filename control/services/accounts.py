"""Login, API tokens and 'login as': who may act, and how that is recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.db import utcnow
from control.errors import Forbidden
from control.models import ApiToken, User
from control.passwords import new_token, token_digest, verify_password
from control.services import audit
from control.services.users import find_user_by_email

# After this many failures in a row, each further attempt waits a little longer (capped).
FREE_ATTEMPTS = 3
MAX_DELAY_SECONDS = 30


def login_delay(user: User | None) -> float:
    """Seconds a new attempt must wait after the last failure (0 when allowed now)."""
    if user is None or user.failed_logins < FREE_ATTEMPTS or user.last_failed_login_at is None:
        return 0.0
    wait = min(MAX_DELAY_SECONDS, 2 ** (user.failed_logins - FREE_ATTEMPTS))
    elapsed = (utcnow() - user.last_failed_login_at).total_seconds()
    return max(0.0, wait - elapsed)


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User | None
    error: str | None


def authenticate(session: Session, address: str, password: str) -> LoginResult:
    """Check credentials; failures are counted and audited in `session` (the caller commits)."""
    user = find_user_by_email(session, address or "")
    delay = login_delay(user)
    if delay > 0:
        return LoginResult(None, f"Too many failed attempts; try again in {int(delay) + 1} seconds.")
    if user is None or not verify_password(user.password_hash, password or ""):
        if user is not None:
            user.failed_logins += 1
            user.last_failed_login_at = utcnow()
            audit.write(session, None, "login.failed", user)
        return LoginResult(None, "Wrong email or password.")
    if user.suspended:
        audit.write(session, user, "login.suspended", user)
        return LoginResult(None, "This account is suspended.")
    user.failed_logins = 0
    user.last_failed_login_at = None
    audit.write(session, user, "login", user)
    return LoginResult(user, None)


def create_token(session: Session, user: User, name: str = "api") -> str:
    """A new API token for `user`; only its digest is stored, the token is shown once."""
    token = new_token()
    session.add(ApiToken(user_id=user.id, digest=token_digest(token), name=name[:80]))
    audit.write(session, user, "token.create", user, name=name[:80])
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(token)))
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.suspended:
        return None
    if row.last_used_at is None or utcnow() - row.last_used_at > timedelta(minutes=5):
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
