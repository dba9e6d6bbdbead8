from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow
from control.models.destinations import destination_columns

QUEUE_STRATEGIES = ("ring_all", "longest_idle", "round_robin", "fewest_calls", "random", "linear")


class Queue(destination_columns("fallback"), Base):  # type: ignore[misc]
    """A call-center queue: callers wait, active members receive calls."""

    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("tenant_id", "extension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    extension: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str] = mapped_column(String(16), default="longest_idle")
    wrap_up_time: Mapped[int] = mapped_column(default=10)
    max_wait: Mapped[int] = mapped_column(default=300)
    ring_timeout: Mapped[int] = mapped_column(default=15)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[QueueMember]] = relationship(
        back_populates="queue", order_by="QueueMember.position", cascade="all, delete-orphan"
    )


class QueueMember(Base):
    """A user's membership; `active` is the agent's presence in this queue."""

    __tablename__ = "queue_members"
    __table_args__ = (UniqueConstraint("queue_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    queue: Mapped[Queue] = relationship(back_populates="members")
