from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base, utcnow


class Tenant(Base):
    """A customer and its SIP domain; everything else belongs to one tenant."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    default_country: Mapped[str] = mapped_column(String(2), default="US")
    trunk_host: Mapped[str | None] = mapped_column(String(253))
    trunk_port: Mapped[int] = mapped_column(default=5060)
    trunk_username: Mapped[str | None] = mapped_column(String(80))
    trunk_secret_enc: Mapped[str | None] = mapped_column(String(400))
    auto_apply: Mapped[bool] = mapped_column(default=True)
    #: broadcast throttle, over all of the tenant's broadcasts at once
    broadcast_calls_per_second: Mapped[int] = mapped_column(default=5)
    broadcast_max_concurrent: Mapped[int] = mapped_column(default=10)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
