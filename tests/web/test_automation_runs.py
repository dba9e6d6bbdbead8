"""Automations that run, in-process (the rq job's function called directly): steps in order with
their results and timing, a failed step stops the run, a wait parks it, pause stops it, one run
per trigger event; the run log page; line activity with texts and callback tasks; deleting a
line keeps its history."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from control import config, webhooks
from control.db import unit_of_work, utcnow
from control.models import (
    ActivityItem,
    Automation,
    AutomationRun,
    AutomationStepResult,
    CallRecord,
    Contact,
    Line,
    PhoneNumber,
    Tag,
    TextMessage,
)
from control.services import automation_triggers, automations
from tests.integration.webhook_receiver import WebhookReceiver
from worker.automations import run_automation

CALLER = "+14155550999"


@pytest.fixture()
def receiver(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    server = WebhookReceiver(tmp_path)
    monkeypatch.setenv("SWITCHBOARD_WEBHOOK_CA_FILE", str(server.cert))
    monkeypatch.setattr(webhooks, "BACKOFF", (0.05, 0.05, 0.05))
    config.reset_settings()
    yield server
    server.close()
    config.reset_settings()


def _line(session, name: str = "Main line") -> Line:
    return session.scalars(select(Line).where(Line.name == name)).one()


def _automation(tenant_id: int, data: dict) -> tuple[int, str | None]:
    with unit_of_work() as s:
        automation = automations.create_automation(s, tenant_id, data, None)
        return automation.id, automations.issue_webhook_secret(s, automation, None)


def _missed(tenant_id: int, line_id: int, key: str, caller: str = CALLER) -> int:
    """A missed call on the line, as call_records derives it; returns its record id."""
    with unit_of_work() as s:
        line = s.get(Line, line_id)
        record = CallRecord(
            tenant_id=tenant_id,
            call_key=key,
            direction="inbound",
            missed=True,
            line_id=line_id,
            line_name=line.name,
            number_used="+12125550100",
            caller_number=caller,
            callee_number="+12125550100",
            started_at=utcnow() - timedelta(seconds=20),
            ended_at=utcnow(),
            duration=20,
        )
        s.add(record)
        s.flush()
        s.add(ActivityItem(tenant_id=tenant_id, kind="missed", line_id=line_id, call_record_id=record.id))
        automation_triggers.calls_ended(s, [record])
        return record.id


def _runs(session, automation_id: int) -> list[AutomationRun]:
    session.expire_all()
    return list(
        session.scalars(
            select(AutomationRun)
            .where(AutomationRun.automation_id == automation_id)
            .order_by(AutomationRun.id)
        )
    )


def test_a_missed_call_runs_the_steps_in_order_once(admin_client, session, demo, receiver) -> None:
    tenant_id = demo["tenant_id"]
    line_id = _line(session).id
    vip = session.scalars(select(Tag).where(Tag.name == "VIP")).one().id
    automation_id, secret = _automation(
        tenant_id,
        {
            "name": "Missed on main",
            "trigger": "call_missed",
            "line_id": line_id,
            "steps": [
                {"action": "add_tag", "value": str(vip)},
                {"action": "callback", "value": ""},
                {"action": "webhook", "value": receiver.url},
            ],
        },
    )
    assert secret
    record_id = _missed(tenant_id, line_id, "call-1")
    # The same call again (a replay): no second run.
    with unit_of_work() as s:
        automation_triggers.calls_ended(s, [s.get(CallRecord, record_id)])
    runs = _runs(session, automation_id)
    assert [(r.state, r.trigger_key) for r in runs] == [("queued", "call:None:call-1")]

    assert run_automation(runs[0].id) == "ended"
    assert run_automation(runs[0].id) == "not due"  # a second job for it does nothing
    run = _runs(session, automation_id)[0]
    assert run.state == "succeeded", run.error
    assert [(s.position, s.action, s.state, s.attempts) for s in run.steps] == [
        (0, "add_tag", "ok", 1),
        (1, "callback", "ok", 1),
        (2, "webhook", "ok", 1),
    ]
    assert run.steps[0].detail == f"Tagged {CALLER} (a new contact) VIP"
    assert run.started_at <= run.steps[0].started_at <= run.steps[2].finished_at <= run.finished_at
    # The caller is a contact now, tagged.
    contact = session.scalars(select(Contact).where(Contact.first_name == CALLER)).one()
    assert [t.name for t in contact.tags] == ["VIP"]
    # The callback task is on the line's activity, with Callback and Reply to the caller.
    task = session.scalars(select(ActivityItem).where(ActivityItem.kind == "callback")).one()
    assert (task.line_id, task.number, task.automation_run_id) == (line_id, CALLER, run.id)
    page = admin_client.get(f"/activity/?line_id={line_id}").data.decode()
    row = re.search(rf'<tr id="activity-{task.id}".*?</tr>', page, re.S).group(0)
    assert "callback to do" in row and CALLER in row
    assert f'name="target" value="{CALLER}"' in row and "<span>Callback</span>" in row
    assert f"to=%2B{CALLER[1:]}" in row and "<span>Reply</span>" in row
    assert f"/automations/{automation_id}/runs#run-{run.id}" in row and "More details" in row
    # The signed webhook.
    (delivery,) = receiver.received
    body = delivery.body
    assert webhooks.verify(
        secret, delivery.headers[webhooks.TIMESTAMP_HEADER], body, delivery.headers[webhooks.SIGNATURE_HEADER]
    )
    assert b'"number":"+14155550999"' in body and b'"trigger":"call_missed"' in body

    # The run log page.
    log = admin_client.get(f"/automations/{automation_id}/runs").data.decode()
    assert f'id="run-{run.id}"' in log and "succeeded" in log and "HTTP 200" in log
    assert "Callback task for +14155550999 on Main line&#39;s activity" in log
    assert (
        admin_client.get(f"/automations/{automation_id}/runs?state=failed")
        .data.decode()
        .count('<section class="card" id="run-')
        == 0
    )
    assert admin_client.get("/automations/999999/runs").status_code == 404


def test_a_failed_step_stops_the_run_with_its_reason(session, demo, receiver) -> None:
    automation_id, _ = _automation(
        demo["tenant_id"],
        {
            "name": "Hook then tag",
            "trigger": "call_missed",
            "steps": [
                {"action": "webhook", "value": receiver.url},
                {"action": "add_tag", "value": str(session.scalars(select(Tag)).first().id)},
            ],
        },
    )
    receiver.script = [503, 503, 503, 503]  # retried with backoff, then given up
    _missed(demo["tenant_id"], _line(session).id, "call-2")
    run_automation(_runs(session, automation_id)[0].id)
    run = _runs(session, automation_id)[0]
    assert run.state == "failed"
    assert run.error == "Step 1 (webhook): HTTP 503: ok after 4 attempts"
    assert [(s.action, s.state, s.attempts) for s in run.steps] == [("webhook", "failed", 4)]
    assert len(receiver.received) == 4

    receiver.script = [400]  # a 4xx is not retried
    _missed(demo["tenant_id"], _line(session).id, "call-3")
    run_automation(_runs(session, automation_id)[1].id)
    run = _runs(session, automation_id)[1]
    assert (run.state, run.steps[0].attempts) == ("failed", 1) and "HTTP 400" in run.error


def test_a_step_that_cannot_act_fails_with_the_reason(session, demo) -> None:
    automation_id, _ = _automation(
        demo["tenant_id"],
        {"name": "Text back", "trigger": "call_missed", "steps": [{"action": "send_text", "value": "Hi"}]},
    )
    _missed(demo["tenant_id"], _line(session).id, "call-4", caller="anonymous")
    run_automation(_runs(session, automation_id)[0].id)
    run = _runs(session, automation_id)[0]
    assert run.state == "failed" and run.error.startswith("Step 1 (send_text): ")
    assert run.steps[0].state == "failed"


def test_a_wait_parks_the_run_and_pause_stops_it(session, demo, receiver) -> None:
    tenant_id = demo["tenant_id"]
    automation_id, _ = _automation(
        tenant_id,
        {
            "name": "Wait then hook",
            "trigger": "call_missed",
            "steps": [{"action": "wait", "value": "3600"}, {"action": "webhook", "value": receiver.url}],
        },
    )
    _missed(tenant_id, _line(session).id, "call-5")
    _missed(tenant_id, _line(session).id, "call-6")
    first, second = (run.id for run in _runs(session, automation_id))
    assert run_automation(first) == "waiting" and run_automation(second) == "waiting"
    run = _runs(session, automation_id)[0]
    assert run.state == "waiting" and run.resume_at > utcnow() + timedelta(seconds=3500)
    assert run_automation(first) == "not due"  # too early: nothing happens
    # Time passes (the scheduled job would run now).
    with unit_of_work() as s:
        for parked in s.scalars(select(AutomationRun).where(AutomationRun.automation_id == automation_id)):
            parked.resume_at = utcnow() - timedelta(seconds=1)
    assert run_automation(first) == "ended"
    run = _runs(session, automation_id)[0]
    assert run.state == "succeeded" and [(s.action, s.state) for s in run.steps] == [
        ("wait", "ok"),
        ("webhook", "ok"),
    ]
    assert run.steps[0].detail == "Waited 3600 s."
    # Paused: the other parked run stops before its next step.
    with unit_of_work() as s:
        automations.set_status(s, tenant_id, automation_id, "paused", None)
    run_automation(second)
    run = _runs(session, automation_id)[1]
    assert run.state == "failed" and run.error == "Stopped at step 1 (wait): the automation was paused."
    assert [(s.action, s.state) for s in run.steps] == [("wait", "failed")]
    assert len(receiver.received) == 1
    # A paused automation starts no runs.
    _missed(tenant_id, _line(session).id, "call-7")
    assert len(_runs(session, automation_id)) == 2


def test_texts_number_status_and_schedules_start_runs(session, demo) -> None:
    tenant_id = demo["tenant_id"]
    line_id = _line(session).id
    hook = [{"action": "webhook", "value": "https://hooks.example/x"}]
    text_id, _ = _automation(
        tenant_id,
        {
            "name": "On text",
            "trigger": "text_received",
            "line_id": line_id,
            "steps": [{"action": "wait", "value": "1"}],
        },
    )
    status_id, _ = _automation(
        tenant_id,
        {
            "name": "Risky",
            "trigger": "number_status",
            "conditions": {"number_status": "high_risk"},
            "steps": hook,
        },
    )
    daily_id, _ = _automation(
        tenant_id, {"name": "Daily", "trigger": "schedule", "schedule": "0 9 * * mon-fri", "steps": hook}
    )
    with unit_of_work() as s:
        message = TextMessage(
            tenant_id=tenant_id,
            direction="inbound",
            line_id=line_id,
            from_number=CALLER,
            to_number="+12125550100",
            body="Hi",
        )
        s.add(message)
        s.flush()
        assert len(automation_triggers.text_received(s, message)) == 1
        assert automation_triggers.text_received(s, message) == []  # once per text
        number = s.scalars(select(PhoneNumber).where(PhoneNumber.e164 == "+12125550100")).one()
        number.status = "active"
        assert automation_triggers.number_status_changed(s, number, "active") == []  # no move
        number.status = "high_risk"
        (moved,) = automation_triggers.number_status_changed(s, number, "active")
        assert moved.context["status"] == "high_risk" and moved.context["old_status"] == "active"
        number.status = "to_be_cancelled"
        assert automation_triggers.number_status_changed(s, number, "high_risk") == []  # not its status
        monday_nine = utcnow().replace(year=2026, month=12, day=7, hour=9, minute=0)
        (scheduled,) = automation_triggers.schedules_due(s, monday_nine)
        assert scheduled.trigger_key == "schedule:2026-12-07T09:00"
        assert automation_triggers.schedules_due(s, monday_nine) == []  # once per minute
        assert automation_triggers.schedules_due(s, monday_nine + timedelta(minutes=1)) == []
    assert _runs(session, text_id)[0].context["number"] == CALLER
    assert len(_runs(session, status_id)) == 1 and len(_runs(session, daily_id)) == 1


def test_deleting_a_line_keeps_its_history(admin_client, session, demo) -> None:
    tenant_id = demo["tenant_id"]
    line = _line(session)
    line_id = line.id
    page = admin_client.get(f"/lines/{line_id}").data.decode()
    assert "Its calls, texts and activity stay in history under the name Main line." in page
    record_id = _missed(tenant_id, line_id, "call-8")
    response = admin_client.post(f"/lines/{line_id}/delete", follow_redirects=True)
    assert "its history keeps the name Main line" in response.data.decode()
    session.expire_all()
    assert session.get(Line, line_id) is None
    record = session.get(CallRecord, record_id)
    assert (record.line_id, record.line_name) == (None, "Main line")
    item = session.scalars(select(ActivityItem).where(ActivityItem.call_record_id == record_id)).one()
    assert (item.line_id, item.line_name, item.line_number) == (None, "Main line", "+12125550100")
    history = admin_client.get("/calls/").data.decode()
    assert "Main line" in history
    activity = admin_client.get("/activity/").data.decode()
    row = re.search(rf'<tr id="activity-{item.id}".*?</tr>', activity, re.S).group(0)
    assert "Main line" in row and "(deleted)" in row
    details = admin_client.get(f"/calls/{record_id}").data.decode()
    assert "Main line (deleted)" in details


def test_run_log_is_paged(admin_client, session, demo) -> None:
    automation_id, _ = _automation(
        demo["tenant_id"],
        {"name": "Many", "trigger": "call_missed", "steps": [{"action": "wait", "value": "1"}]},
    )
    line_id = _line(session).id
    with unit_of_work() as s:
        automation = s.get(Automation, automation_id)
        for n in range(30):
            s.add(
                AutomationRun(
                    tenant_id=automation.tenant_id,
                    automation_id=automation_id,
                    trigger="call_missed",
                    trigger_key=f"k{n}",
                    context={"line_id": line_id},
                )
            )
    first = admin_client.get(f"/automations/{automation_id}/runs").data.decode()
    assert first.count('<section class="card" id="run-') == 25 and "Page 1 of 2 · 30 in all" in first
    second = admin_client.get(f"/automations/{automation_id}/runs?page=2").data.decode()
    assert (
        second.count('<section class="card" id="run-') == 5
        and f"/automations/{automation_id}/runs?page=1" in second
    )


def test_the_clock_requeues_lost_runs_and_fails_stuck_ones(session, demo, monkeypatch) -> None:
    from control import automation_jobs
    from worker import automations as automation_worker

    automation_id, _ = _automation(
        demo["tenant_id"],
        {"name": "Lost", "trigger": "call_missed", "steps": [{"action": "wait", "value": "1"}]},
    )
    for key in ("lost", "stuck", "fresh"):
        _missed(demo["tenant_id"], _line(session).id, key)
    lost, stuck, fresh = (run.id for run in _runs(session, automation_id))
    long_ago = utcnow() - timedelta(hours=1)
    with unit_of_work() as s:
        s.get(AutomationRun, lost).created_at = long_ago
        run = s.get(AutomationRun, stuck)
        run.state, run.started_at = "running", long_ago
        s.add(
            AutomationStepResult(
                run_id=stuck, position=0, action="send_text", state="running", started_at=long_ago
            )
        )
    queued: list[int] = []
    clocks: list[object] = []
    monkeypatch.setattr(automation_jobs, "enqueue_run", lambda run_id, **_: queued.append(run_id))
    monkeypatch.setattr(automation_jobs, "schedule_clock", clocks.append)
    automation_worker.run_clock("2026-12-07T09:00:00+00:00")
    assert queued == [lost] and len(clocks) == 1  # the fresh one still has its own job
    run = _runs(session, automation_id)[1]
    assert (
        run.state == "failed" and run.error == "The worker stopped during step 1 (send_text); not repeated."
    )
    assert run.steps[0].state == "failed"
    assert _runs(session, automation_id)[2].id == fresh and _runs(session, automation_id)[2].state == "queued"
