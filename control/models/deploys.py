from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base, utcnow


class DeployRecord(Base):
    """One deploy or rollback of rendered config to one node."""

    __tablename__ = "deploy_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("pbx_nodes.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="deploy")
    version: Mapped[int | None]
    content_hash: Mapped[str | None] = mapped_column(String(64))
    diff_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    diff_text: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    result: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str] = mapped_column(Text, default="")
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
