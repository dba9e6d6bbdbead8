from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow
from control.models.destinations import destination_columns

RING_STRATEGIES = ("parallel", "sequential")
MEMBER_KINDS = ("user", "extension", "external", "sip_uri", "ring_group", "did")


class RingGroup(destination_columns("fallback"), Base):  # type: ignore[misc]
    __tablename__ = "ring_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "extension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    extension: Mapped[str] = mapped_column(String(16))
    strategy: Mapped[str] = mapped_column(String(12), default="parallel")
    timeout: Mapped[int] = mapped_column(default=30)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[RingGroupMember]] = relationship(
        back_populates="ring_group",
        order_by="RingGroupMember.position",
        cascade="all, delete-orphan",
        foreign_keys="RingGroupMember.ring_group_id",
    )


class RingGroupMember(Base):
    """One leg of a ring group; `value` holds the extension, E.164 number or SIP URI."""

    __tablename__ = "ring_group_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    ring_group_id: Mapped[int] = mapped_column(ForeignKey("ring_groups.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(12))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    member_ring_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("ring_groups.id", ondelete="CASCADE"), index=True
    )
    number_id: Mapped[int | None] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str | None] = mapped_column(String(255))
    timeout: Mapped[int] = mapped_column(default=20)

    ring_group: Mapped[RingGroup] = relationship(back_populates="members", foreign_keys=[ring_group_id])
