from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow
from control.models.teams import Team

if TYPE_CHECKING:
    from control.models.tenants import Tenant

user_teams = Table(
    "user_teams",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(Base):
    """A person: an admin or agent login and, with an extension, a SIP phone."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "extension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(8), default="agent")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    extension: Mapped[str | None] = mapped_column(String(16))
    sip_secret_enc: Mapped[str | None] = mapped_column(String(400))
    routing_paused: Mapped[bool] = mapped_column(default=False)
    suspended: Mapped[bool] = mapped_column(default=False)
    dnd: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(String(8), default="en")
    avatar: Mapped[str | None] = mapped_column(String(300))
    notifications: Mapped[bool] = mapped_column(default=True)
    #: the "number approver" permission: an admin who may approve pending numbers (their documents)
    approves_numbers: Mapped[bool] = mapped_column(default=False, server_default=false())
    caller_id_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="SET NULL", use_alter=True)
    )
    # Part of every login session; moving it on ends them all (logout, password change, ...).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    teams: Mapped[list[Team]] = relationship(secondary=user_teams, order_by=Team.name)
    #: read-only; loaded with the user where a request needs both (API token authentication)
    tenant: Mapped[Tenant] = relationship(viewonly=True)

    @property
    def status(self) -> str:
        if self.suspended:
            return "suspended"
        return "paused" if self.routing_paused else "active"


class LoginThrottle(Base):
    """Login attempts counted under one key (an email address or a source address)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="api")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
