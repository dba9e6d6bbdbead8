from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.db import Base, utcnow

#: What starts a run. The first three have a person (the caller or sender) the steps act on.
AUTOMATION_TRIGGERS = ("call_missed", "call_ended", "text_received", "number_status", "schedule")
PERSON_TRIGGERS = ("call_missed", "call_ended", "text_received")
AUTOMATION_ACTIONS = ("wait", "send_text", "callback", "webhook", "add_tag")
#: Steps that act on the trigger's person: only automations with a PERSON_TRIGGERS trigger have one.
PERSON_ACTIONS = ("send_text", "callback", "add_tag")
AUTOMATION_STATUSES = ("active", "paused")
RUN_STATES = ("queued", "running", "waiting", "succeeded", "failed")
STEP_STATES = ("running", "ok", "failed")


class Automation(Base):
    """When `trigger` happens (optionally on one line), run the steps in order."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    trigger: Mapped[str] = mapped_column(String(24))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(8), default="active", index=True)
    #: call_ended: direction, min_duration, max_duration (seconds); number_status: status
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: schedule: a five-field cron expression, in UTC
    schedule: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: the key webhooks are signed with (encrypted; shown once when made)
    webhook_secret_enc: Mapped[str | None] = mapped_column(String(400))
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


class AutomationRun(Base):
    """One run of an automation for one trigger event: at most one per (automation, trigger key)."""

    __tablename__ = "automation_runs"
    __table_args__ = (UniqueConstraint("automation_id", "trigger_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(24))
    #: what the event was: "call:<node id>:<call key>", "text:<id>", "schedule:<minute>", ...
    trigger_key: Mapped[str] = mapped_column(String(200))
    #: the event as the steps need it (caller number, line, call record, contact, ...)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    #: the position of the next step to run
    position: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    resume_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    steps: Mapped[list[AutomationStepResult]] = relationship(
        order_by="AutomationStepResult.position", cascade="all, delete-orphan"
    )


class AutomationStepResult(Base):
    """What one step of a run did, and when."""

    __tablename__ = "automation_step_results"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("automation_runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(8), default="running")
    detail: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
