from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base, utcnow

PBX_KINDS = ("freeswitch", "asterisk")


class PbxNode(Base):
    """A PBX host Switchboard deploys to and listens on (AMI for Asterisk, ESL for FreeSWITCH)."""

    __tablename__ = "pbx_nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    host: Mapped[str] = mapped_column(String(253), default="127.0.0.1")
    port: Mapped[int]
    username: Mapped[str] = mapped_column(String(80), default="")
    secret_enc: Mapped[str] = mapped_column(String(400))
    config_dir: Mapped[str] = mapped_column(String(400))
    transport: Mapped[str] = mapped_column(String(8), default="local")
    live_version: Mapped[int | None]
    live_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="new")
    status_detail: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
