from __future__ import annotations

import csv
import io
from datetime import datetime

from control.db import unit_of_work
from control.models import CallRecord


def _calls(demo) -> None:
    t = demo["tenant_id"]
    with unit_of_work() as s:
        s.add_all(
            [
                CallRecord(
                    tenant_id=t,
                    call_key="a",
                    direction="inbound",
                    missed=True,
                    caller_number="+12025550143",
                    callee_number="+12125550100",
                    started_at=datetime(2026, 11, 1, 9, 0),
                ),
                CallRecord(
                    tenant_id=t,
                    call_key="b",
                    direction="outbound",
                    caller_number="1001",
                    caller_user_id=demo["agent_id"],
                    callee_number="+14155550188",
                    billsec=75,
                    duration=80,
                    started_at=datetime(2026, 11, 2, 10, 0),
                ),
                CallRecord(
                    tenant_id=t,
                    call_key="c",
                    direction="internal",
                    caller_number="=HYPERLINK(1)",
                    callee_number="1002",
                    started_at=datetime(2026, 11, 3, 11, 0),
                ),
            ]
        )


def test_history_filters_by_direction_user_and_date(admin_client, demo):
    _calls(demo)
    page = admin_client.get("/calls/").data.decode()
    assert page.count("<tr>") == 4
    assert "1:15" in page
    page = admin_client.get("/calls/?direction=outbound").data.decode()
    assert "+14155550188" in page and "+12025550143" not in page
    page = admin_client.get(f"/calls/?user_id={demo['agent_id']}").data.decode()
    assert "+14155550188" in page and "1002" not in page
    page = admin_client.get("/calls/?since=2026-11-02&until=2026-11-02").data.decode()
    assert "+14155550188" in page and "+12025550143" not in page
    assert admin_client.get("/calls/?since=yesterday").status_code == 400
    assert admin_client.get("/calls/?sort=caller_number").status_code == 400


def test_csv_export_neutralises_formulas(admin_client, demo):
    _calls(demo)
    response = admin_client.get("/calls/export.csv?missed=no")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.data.decode())))
    assert {r["callee_number"] for r in rows} == {"+14155550188", "1002"}
    assert any(r["caller_number"] == "'=HYPERLINK(1)" for r in rows)


def test_agents_cannot_see_the_admin_history(agent_client):
    assert agent_client.get("/calls/").status_code == 403
    assert agent_client.get("/calls/export.csv").status_code == 403


# Every form a spreadsheet reads as a formula: the four leads, behind a tab, a carriage return,
# a line feed, blanks or invisible characters, and their fullwidth forms.
FORMULAS = [
    "=1+1",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    "\r=1+1",
    "\r\n=HYPERLINK(1)",
    "\n+1",
    " \t@SUM(A1)",
    "\t-1",
    "\u200b=1+1",
    "\uff1dHYPERLINK(1)",
    "\t",
    "\rplain",
]


def _named_calls(demo, names: list[str], numbers: list[str]) -> None:  # type: ignore[no-untyped-def]
    """One inbound call per caller name and number."""
    with unit_of_work() as s:
        s.add_all(
            [
                CallRecord(
                    tenant_id=demo["tenant_id"],
                    call_key=f"n{index}",
                    direction="inbound",
                    caller_number=number[:64],
                    caller_name=name,
                    callee_number="+12125550100",
                    started_at=datetime(2026, 11, 4, 9, index),
                )
                for index, (name, number) in enumerate(zip(names, numbers, strict=True))
            ]
        )


def _exported(admin_client, column: str) -> set[str]:  # type: ignore[no-untyped-def]
    rows = csv.DictReader(io.StringIO(admin_client.get("/calls/export.csv").data.decode()))
    return {row[column] for row in rows}


def test_csv_export_neutralises_every_formula_lead(admin_client, demo):
    _named_calls(demo, FORMULAS, FORMULAS)
    assert _exported(admin_client, "caller_name") == {"'" + formula for formula in FORMULAS}
    assert _exported(admin_client, "caller_number") == {"'" + formula for formula in FORMULAS}


def test_csv_export_keeps_plain_numbers_and_text(admin_client, demo):
    plain = ["+12025550143", "-15", "1001", "Ann Lee", "Zoë = boss", "a@b.example"]
    _named_calls(demo, plain, plain)
    assert _exported(admin_client, "caller_name") == set(plain)
    assert _exported(admin_client, "caller_number") == set(plain)
