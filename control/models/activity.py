from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base, utcnow

CALL_DIRECTIONS = ("inbound", "outbound", "internal")
PRESENCE_STATES = ("offline", "available", "in_call", "unavailable")
LINE_STATES = ("unregistered", "idle", "ringing", "in_call")


class CallRecord(Base):
    """One call, derived from the PBX's raw events at hang-up."""

    __tablename__ = "call_records"
    __table_args__ = (UniqueConstraint("node_id", "call_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("pbx_nodes.id", ondelete="SET NULL"))
    call_key: Mapped[str] = mapped_column(String(80))
    direction: Mapped[str] = mapped_column(String(8))
    missed: Mapped[bool] = mapped_column(default=False)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"), index=True)
    #: the line's name when the call was made: history keeps it after the line is deleted
    line_name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    number_used: Mapped[str | None] = mapped_column(String(32))
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(120), default="")
    callee_number: Mapped[str] = mapped_column(String(64), default="")
    caller_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    callee_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    caller_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    callee_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    answered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ring_group_id: Mapped[int | None] = mapped_column(ForeignKey("ring_groups.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    duration: Mapped[int] = mapped_column(default=0)
    billsec: Mapped[int] = mapped_column(default=0)
    hangup_cause: Mapped[str] = mapped_column(String(40), default="")


class PresenceState(Base):
    """What the PBX says about a user's phone; presence is derived from this and the user's DND."""

    __tablename__ = "presence_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    line_state: Mapped[str] = mapped_column(String(12), default="unregistered")
    registrations: Mapped[int] = mapped_column(default=0)
    active_calls: Mapped[int] = mapped_column(default=0)
    #: The call-center agent's status as the PBX last reported it ("" when it never did):
    #: available, on_break, logged_out; and why, when the PBX said (max-no-answer).
    agent_state: Mapped[str] = mapped_column(String(12), default="", server_default="")
    agent_reason: Mapped[str] = mapped_column(String(40), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityItem(Base):
    """A missed, answered or outbound call, or a text, shown on a line's and a user's activity."""

    __tablename__ = "activity_items"
    __table_args__ = (UniqueConstraint("call_record_id", "user_id", "line_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"), index=True)
    #: the line's name and number, kept as text when the line is deleted (its history stays)
    line_name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    line_number: Mapped[str] = mapped_column(String(32), default="", server_default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    call_record_id: Mapped[int | None] = mapped_column(ForeignKey("call_records.id", ondelete="CASCADE"))
    #: a text item (kind "text") has a message instead of a call record
    text_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("text_messages.id", ondelete="CASCADE"), index=True
    )
    #: a callback task (kind "callback") an automation left: whom to call back, and which run
    number: Mapped[str] = mapped_column(String(64), default="", server_default="")
    automation_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("automation_runs.id", ondelete="SET NULL")
    )
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
