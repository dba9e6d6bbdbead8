"""Calls and activity for UI tests: many at once (bulk inserts), newest first on the pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select

from control.db import unit_of_work
from control.models import ActivityItem, CallRecord, Line, User


def add_calls(
    tenant_id: int,
    count: int,
    *,
    start: datetime,
    step: timedelta = timedelta(minutes=1),
    first_index: int = 0,
) -> None:
    """`count` inbound calls to the main line, every other one missed, each with a line and a
    user activity item; caller numbers +1202555xxxx with xxxx the call's index (zero-padded).
    Indexes run from `first_index`, so calls added in steps read as if added at once."""
    with unit_of_work() as s:
        line_id = s.scalar(select(Line.id).where(Line.tenant_id == tenant_id, Line.name == "Main line"))
        agent_id = s.scalar(select(User.id).where(User.tenant_id == tenant_id, User.extension == "1001"))
        calls = []
        for index in range(first_index, first_index + count):
            started = start + step * index
            missed = index % 2 == 0
            calls.append(
                {
                    "tenant_id": tenant_id,
                    "call_key": f"bulk-{start.timestamp():.0f}-{index}",
                    "direction": "inbound",
                    "missed": missed,
                    "line_id": line_id,
                    "caller_number": f"+1202555{index % 10000:04d}",
                    "caller_name": f"Caller {index}",
                    "callee_number": "+12125550100",
                    "answered_by_user_id": None if missed else agent_id,
                    "callee_user_id": agent_id,
                    "started_at": started,
                    "answered_at": None if missed else started + timedelta(seconds=12),
                    "ended_at": started + timedelta(seconds=90),
                    "billsec": 0 if missed else 78,
                    "duration": 90,
                    "hangup_cause": "NO_ANSWER" if missed else "NORMAL_CLEARING",
                }
            )
        ids = s.scalars(
            insert(CallRecord).returning(CallRecord.id, sort_by_parameter_order=True), calls
        ).all()
        items = []
        for call_id, call in zip(ids, calls, strict=True):
            missed = call["missed"]
            started = call["started_at"]
            for user_id, line in ((agent_id, None), (None, line_id)):
                items.append(
                    {
                        "tenant_id": tenant_id,
                        "kind": "missed" if missed else "answered",
                        "line_id": line,
                        "user_id": user_id,
                        "call_record_id": call_id,
                        "archived": False,
                        "created_at": started,
                    }
                )
        s.execute(insert(ActivityItem), items)
