"""A broadcast's per-recipient results as CSV (formulas neutralised like the call history's)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy.orm import Session

from control.services.broadcast_sending import recipients
from control.services.calls import csv_safe

CSV_COLUMNS = ("name", "number", "status", "attempts", "last_attempt_at", "detail")


def export_csv(session: Session, tenant_id: int, broadcast_id: int) -> Iterator[str]:
    rows = recipients(session, tenant_id, broadcast_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for recipient in rows:
        values = [getattr(recipient, column) for column in CSV_COLUMNS]
        writer.writerow(
            [
                "" if v is None else csv_safe(v.isoformat() + "Z" if hasattr(v, "isoformat") else v)
                for v in values
            ]
        )
    yield buffer.getvalue()
