"""What the PBXs told us: raw events (kept, so history can be rebuilt) and the live state
(open channels, registered contacts) that presence is computed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base, utcnow


class RawEvent(Base):
    """One normalised PBX event as received; (node, event_id) makes replays idempotent."""

    __tablename__ = "raw_events"
    __table_args__ = (
        UniqueConstraint("node", "event_id"),
        Index("ix_raw_events_call", "node", "call_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    node: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    call_key: Mapped[str | None] = mapped_column(String(80))
    occurred_at: Mapped[float]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class LiveChannel(Base):
    """A channel that is up on a PBX right now."""

    __tablename__ = "live_channels"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    call_key: Mapped[str] = mapped_column(String(80), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    answered: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[float]


class SipRegistration(Base):
    """A registered contact of a user's phone on one node."""

    __tablename__ = "sip_registrations"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    contact: Mapped[str] = mapped_column(String(500), primary_key=True)
    expires_at: Mapped[float | None]
