from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow
from control.models.destinations import destination_columns
from control.models.numbers import PhoneNumber

LINE_STATUSES = ("active", "paused")


class Line(destination_columns("destination"), Base):  # type: ignore[misc]
    """A set of numbers that route inbound calls to one destination."""

    __tablename__ = "lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    status: Mapped[str] = mapped_column(String(8), default="active", index=True)
    default_caller_id_id: Mapped[int | None] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    numbers: Mapped[list[PhoneNumber]] = relationship(
        foreign_keys=[PhoneNumber.line_id], order_by=PhoneNumber.e164
    )
