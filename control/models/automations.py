from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow

AUTOMATION_TRIGGERS = ("call_missed", "call_answered", "call_outbound", "voicemail")
AUTOMATION_ACTIONS = ("add_tag", "notify_user", "send_text", "webhook")
AUTOMATION_STATUSES = ("active", "paused")


class Automation(Base):
    """When `trigger` happens (optionally on one line), run the steps in order."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    trigger: Mapped[str] = mapped_column(String(24))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(8), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    steps: Mapped[list[AutomationStep]] = relationship(
        back_populates="automation",
        order_by="AutomationStep.position",
        cascade="all, delete-orphan",
    )


class AutomationStep(Base):
    __tablename__ = "automation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    action: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    automation: Mapped[Automation] = relationship(back_populates="steps")
