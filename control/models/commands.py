"""Commands to a live PBX (originate, text, DND, queue pause, hang-up, transfer) and texts.

A command is recorded before it is sent and never sent twice: its state only moves forward,
queued -> sending -> ok | failed | unknown (queued -> failed when it expires unsent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base, utcnow

COMMAND_KINDS = ("originate", "message", "dnd", "queue_pause", "hangup", "transfer", "broadcast_call")
#: queued: recorded, not yet picked up; sending: handed to the PBX connection, no answer yet;
#: ok / failed: the PBX's answer; unknown: the connection was lost before the answer came.
COMMAND_STATES = ("queued", "sending", "ok", "failed", "unknown")
FINAL_STATES = ("ok", "failed", "unknown")
MESSAGE_DIRECTIONS = ("inbound", "outbound")


class Command(Base):
    __tablename__ = "commands"
    __table_args__ = (Index("ix_commands_actor_kind_created", "actor_id", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("pbx_nodes.id", ondelete="SET NULL"))
    node: Mapped[str] = mapped_column(String(64))
    pbx: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: the user the command acts for (whose phone rings, whose DND, whose call)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    #: what the executor needs, PBX-neutral (validated values only)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(8), default="queued", index=True)
    answer: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class TextMessage(Base):
    """A SIP MESSAGE sent from or received on one of the tenant's numbers."""

    __tablename__ = "text_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    command_id: Mapped[int | None] = mapped_column(ForeignKey("commands.id", ondelete="SET NULL"))
    from_number: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
