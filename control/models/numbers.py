from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base, utcnow

NUMBER_STATUSES = ("pending", "active", "high_risk", "to_be_cancelled", "released")
NUMBER_TYPES = ("local", "toll_free", "mobile", "fixed_line_or_mobile", "other")


class PhoneNumber(Base):
    """A DID in E.164, assigned to a team, a user or a line."""

    __tablename__ = "phone_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(16), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    number_type: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    cancel_at: Mapped[datetime | None]
    do_not_use: Mapped[bool] = mapped_column(default=False)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def digits(self) -> str:
        return self.e164.lstrip("+")

    @property
    def assigned(self) -> bool:
        return any((self.team_id, self.user_id, self.line_id))
