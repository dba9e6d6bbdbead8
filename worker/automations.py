"""rq jobs that run automations: one run's steps in order, and the minute clock."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from control import automation_jobs, command_channel, live, webhooks
from control.db import unit_of_work
from control.errors import Conflict, Forbidden, Invalid, NotFound
from control.services import automation_runs, automation_triggers

log = logging.getLogger(__name__)

#: seconds a step waits for the PBX's answer to its text or call (the command's own expiry + send)
COMMAND_WAIT = 45.0


def _register() -> None:
    command_channel.register_command_handlers()
    live.register_publish_handlers()
    automation_jobs.register_automation_handlers()


def _reason(exc: Exception) -> str:
    if isinstance(exc, Invalid):
        return " ".join(message for messages in exc.errors.values() for message in messages) or str(exc)
    return str(exc) or type(exc).__name__


def _wait_for_command(command_id: int) -> tuple[bool, str]:
    deadline = time.monotonic() + COMMAND_WAIT
    delay = 0.05
    while time.monotonic() < deadline:
        with unit_of_work() as s:
            command = automation_runs.command_outcome(s, command_id)
            if command is not None:
                return command.state == "ok", f"{command.state}: {command.answer}".strip()[:300]
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    return False, f"no answer from the PBX within {COMMAND_WAIT:.0f} s (command {command_id})"


def _run_step(plan: automation_runs.StepPlan) -> None:
    run_id, position = plan.run_id, plan.position
    if plan.action == "webhook":
        with unit_of_work() as s:
            url, secret, body = automation_runs.webhook_request(s, run_id, position)
        delivery = webhooks.deliver(url, secret, body, delivery_id=f"{run_id}-{position}")
        with unit_of_work() as s:
            if delivery.ok:
                automation_runs.finish_step(s, run_id, position, delivery.detail, delivery.attempts)
            else:
                automation_runs.fail_step(s, run_id, position, delivery.detail, delivery.attempts)
        return
    with unit_of_work() as s:
        detail, command_id = automation_runs.perform(s, run_id, position)
    ok, answer = (True, "") if command_id is None else _wait_for_command(command_id)
    with unit_of_work() as s:
        if ok:
            automation_runs.finish_step(s, run_id, position, f"{detail}: {answer}" if answer else detail)
        else:
            automation_runs.fail_step(s, run_id, position, f"{detail}: {answer}")


def run_automation(run_id: int) -> str:
    """Run a due run's steps until it ends or waits; a failed step ends it with its reason."""
    _register()
    with unit_of_work() as s:
        if not automation_runs.claim(s, run_id):
            return "not due"
    while True:
        with unit_of_work() as s:
            plan = automation_runs.next_step(s, run_id)
        if plan is None:
            return "ended"
        if plan.action == "wait":
            assert plan.resume_at is not None
            automation_jobs.enqueue_run(run_id, at=plan.resume_at, step=plan.position)
            return "waiting"
        try:
            _run_step(plan)
        except (Invalid, Conflict, Forbidden, NotFound) as exc:
            with unit_of_work() as s:
                automation_runs.fail_step(s, run_id, plan.position, _reason(exc))
        except Exception as exc:
            log.exception("automation run %s: step %s failed", run_id, plan.position + 1)
            with unit_of_work() as s:
                automation_runs.fail_step(s, run_id, plan.position, f"internal error ({type(exc).__name__})")
            return "failed"


def run_clock(minute_iso: str) -> int:
    """Start the schedules due this minute, re-queue lost runs, and set the next minute's clock."""
    _register()
    minute = datetime.fromisoformat(minute_iso).astimezone(UTC)
    try:
        with unit_of_work() as s:
            started = automation_triggers.schedules_due(s, minute.replace(tzinfo=None))
        with unit_of_work() as s:
            automation_runs.abandon_stuck(s)
            stale = automation_runs.stale_runs(s)
        for run_id in stale:
            automation_jobs.enqueue_run(run_id, step=-1)
    finally:
        automation_jobs.schedule_clock(automation_jobs.next_minute(max(minute, datetime.now(UTC))))
    return len(started)
