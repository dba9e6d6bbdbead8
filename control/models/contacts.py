from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow
from control.models.tags import Tag

contact_tags = Table(
    "contact_tags",
    Base.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Contact(Base):
    """An external contact, in the tenant's shared directory or in one user's phonebook."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_tenant_sort", "tenant_id", "last_name", "first_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    company: Mapped[str] = mapped_column(String(160), default="")
    job_title: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    avatar: Mapped[str | None] = mapped_column(String(300))
    search_text: Mapped[str] = mapped_column(String(800), default="", index=True)
    #: opted out of broadcasts: skipped (and counted) whenever one reaches them
    do_not_call: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    numbers: Mapped[list[ContactNumber]] = relationship(
        back_populates="contact", order_by="ContactNumber.position", cascade="all, delete-orphan"
    )
    tags: Mapped[list[Tag]] = relationship(secondary=contact_tags, order_by=Tag.name)

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.company or (self.numbers[0].e164 if self.numbers else "")


class ContactNumber(Base):
    __tablename__ = "contact_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    label: Mapped[str] = mapped_column(String(40), default="mobile")
    e164: Mapped[str] = mapped_column(String(16))

    contact: Mapped[Contact] = relationship(back_populates="numbers")

    __table_args__ = (Index("ix_contact_numbers_tenant_e164", "tenant_id", "e164"),)


class Favourite(Base):
    """A user's starred contact or starred teammate."""

    __tablename__ = "favourites"
    __table_args__ = (UniqueConstraint("user_id", "contact_id", "favourite_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    favourite_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
