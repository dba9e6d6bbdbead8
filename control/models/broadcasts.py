from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow
from control.models.contacts import Contact
from control.models.tags import Tag

BROADCAST_KINDS = ("voice", "text")
#: missed: its scheduled start passed while Switchboard was not running, and its operator chose
#: not to start it late (`if_missed`); it can be started now or scheduled again.
BROADCAST_STATUSES = ("draft", "scheduled", "missed", "running", "paused", "done", "cancelled")
#: What a scheduled broadcast does when its start was missed (the worker was down then): start
#: when Switchboard is back, or be marked missed.
IF_MISSED = ("start", "missed")
#: A recipient's fate. pending: not tried yet; retry: busy or no answer, tried again after the
#: delay; sending: handed to the PBX, no outcome yet; skipped: opted out (do not call);
#: invalid: no valid number; cancelled: the broadcast was cancelled before it was tried.
RECIPIENT_STATUSES = (
    "pending",
    "retry",
    "sending",
    "answered",
    "busy",
    "no_answer",
    "delivered",
    "failed",
    "skipped",
    "invalid",
    "cancelled",
)
#: Waiting for a (first or next) attempt.
WAITING_STATUSES = ("pending", "retry")

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
    #: start late, or be marked missed, when the scheduled start passed unseen (IF_MISSED)
    if_missed: Mapped[str] = mapped_column(String(8), default="start")
    status: Mapped[str] = mapped_column(String(10), default="draft", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: tries again after busy or no answer (0: never), `retry_delay` seconds apart
    retry_count: Mapped[int] = mapped_column(default=2)
    retry_delay: Mapped[int] = mapped_column(default=300)
    #: seconds a recipient's phone rings before the call counts as not answered
    ring_seconds: Mapped[int] = mapped_column(default=30)
    #: the converted recording (voice), a file name in the media directory
    recording: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    tags: Mapped[list[Tag]] = relationship(secondary=broadcast_tags, order_by=Tag.name)
    contacts: Mapped[list[Contact]] = relationship(secondary=broadcast_contacts)


class BroadcastRecipient(Base):
    """One contact of a broadcast's audience, resolved when it starts, and what happened."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (Index("ix_broadcast_recipients_broadcast_status", "broadcast_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(250), default="")
    number: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    command_id: Mapped[int | None] = mapped_column(
        ForeignKey("commands.id", ondelete="SET NULL"), index=True, unique=True
    )
    detail: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
