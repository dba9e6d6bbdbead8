from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow
from control.models.contacts import Contact
from control.models.tags import Tag

BROADCAST_KINDS = ("voice", "text")
BROADCAST_STATUSES = ("draft", "scheduled", "running", "paused", "done")

broadcast_tags = Table(
    "broadcast_tags",
    Base.metadata,
    Column("broadcast_id", ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)
broadcast_contacts = Table(
    "broadcast_contacts",
    Base.metadata,
    Column("broadcast_id", ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
)


class Broadcast(Base):
    """A voice or text message sent from a line to an audience of contacts."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(8), default="voice")
    message: Mapped[str] = mapped_column(Text, default="")
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"))
    scheduled_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(10), default="draft", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tags: Mapped[list[Tag]] = relationship(secondary=broadcast_tags, order_by=Tag.name)
    contacts: Mapped[list[Contact]] = relationship(secondary=broadcast_contacts)
