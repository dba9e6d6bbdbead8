"""Caller names come from the PBX (a caller sets them): they are stored cleaned, one printable
line without control characters, so no page, export or config gets them raw. (No NUL here: the
raw event is stored first, and PostgreSQL refuses a NUL in its JSON payload.)"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from control.db import unit_of_work
from control.models import CallRecord
from control.services.call_events import EventApplier
from tests.esl_handlers.wire_captures import capture_tenant, normalised


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ('\t=HYPERLINK("http://evil.example")', '=HYPERLINK("http://evil.example")'),
        ("\r\n+1+cmd", "+1+cmd"),
        ("Ann\x01\x07Lee\x1b[31m", "Ann Lee [31m"),
        ("Zoë\u2028\u202eeliA\u200b", "Zoë eliA"),
        ("x" * 300, "x" * 120),
    ],
)
def test_caller_names_from_pbx_events_are_stored_clean(database_url, sent, stored) -> None:
    capture_tenant("one", domain="one.example")
    events = [
        dataclasses.replace(event, caller_name=sent) if getattr(event, "caller_name", None) else event
        for event in normalised("events-call-answered.txt", "one")
    ]
    assert any(getattr(event, "caller_name", None) == sent for event in events)
    with unit_of_work() as s:
        EventApplier(s, "one").apply_all(events)
    with unit_of_work() as s:
        names = set(s.scalars(select(CallRecord.caller_name)))
    assert names == {stored}
