from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
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
    #: the provider it was bought from (control/number_providers.py); None: added by hand (ported)
    provider: Mapped[str | None] = mapped_column(String(40))
    #: while to be cancelled: the number that replaced it
    replaced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="SET NULL", use_alter=True)
    )
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def digits(self) -> str:
        return self.e164.lstrip("+")

    @property
    def assigned(self) -> bool:
        return any((self.team_id, self.user_id, self.line_id))


class InventoryNumber(Base):
    """A number the inventory provider can sell: loaded from the operator's CSV, bought from
    it (available False) and returned to it when released (available True again)."""

    __tablename__ = "number_inventory"
    __table_args__ = (UniqueConstraint("tenant_id", "e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(2), index=True)
    number_type: Mapped[str] = mapped_column(String(24))
    available: Mapped[bool] = mapped_column(default=True, index=True)
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CountryRule(Base):
    """Per country: whether a new number needs documents approved before it is active."""

    __tablename__ = "number_country_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    country: Mapped[str] = mapped_column(String(2))
    documents_required: Mapped[bool] = mapped_column(default=True)
    #: what to upload, shown to the admin (e.g. "Proof of address in the city of the number")
    documents: Mapped[str] = mapped_column(String(300), default="")


class NumberDocument(Base):
    """A document uploaded for a pending number, stored under the data dir by a generated name."""

    __tablename__ = "number_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(120))  # as uploaded, cleaned; shown, never a path
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
