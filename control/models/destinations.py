"""Where a call goes: a user, a ring group, a queue, an extension or an external number.

Lines, ring-group fallbacks and queue fallbacks share these columns, with real foreign keys
so that deleting a user or group can list, and clear, what depends on it.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

DESTINATION_KINDS = ("user", "ring_group", "queue", "extension", "external", "hangup")


def destination_columns(prefix: str) -> type:
    """A mixin class with `<prefix>_kind`, `_user_id`, `_ring_group_id`, `_queue_id`, `_value`."""

    class DestinationColumns:
        pass

    def kind(cls: type) -> Mapped[str | None]:
        return mapped_column(f"{prefix}_kind", String(16))

    def user_id(cls: type) -> Mapped[int | None]:
        return mapped_column(f"{prefix}_user_id", ForeignKey("users.id", ondelete="SET NULL"), index=True)

    def ring_group_id(cls: type) -> Mapped[int | None]:
        return mapped_column(
            f"{prefix}_ring_group_id",
            ForeignKey("ring_groups.id", ondelete="SET NULL", use_alter=True),
            index=True,
        )

    def queue_id(cls: type) -> Mapped[int | None]:
        return mapped_column(f"{prefix}_queue_id", ForeignKey("queues.id", ondelete="SET NULL"), index=True)

    def value(cls: type) -> Mapped[str | None]:
        return mapped_column(f"{prefix}_value", String(32))

    for name, fn in (
        ("kind", kind),
        ("user_id", user_id),
        ("ring_group_id", ring_group_id),
        ("queue_id", queue_id),
        ("value", value),
    ):
        setattr(DestinationColumns, f"{prefix}_{name}", declared_attr(fn))
    return DestinationColumns
