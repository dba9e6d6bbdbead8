"""`switchboard numbers ...`: the operator loads the inventory, names approvers, reschedules."""

from __future__ import annotations

from click.testing import CliRunner
from rq import Queue
from sqlalchemy import select

from control import effects, jobs
from control.db import unit_of_work
from control.models import InventoryNumber, User
from control.services import number_lifecycle, numbers
from tests.worker.rq_support import deploy_redis
from web.cli import cli


def test_load_inventory_approver_and_reschedule(demo, tmp_path):
    runner = CliRunner()
    good = tmp_path / "numbers.csv"
    good.write_text("\ufeffNumber,Type\n+33123456701,local\n+33123456702,local\n", encoding="utf-8")
    result = runner.invoke(cli, ["numbers", "load-inventory", str(good)])
    assert result.exit_code == 0 and "2 numbers added" in result.output, result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("number\n+33123456703\nhello\n", encoding="utf-8")
    result = runner.invoke(cli, ["numbers", "load-inventory", str(bad)])
    assert result.exit_code == 1 and "Line 3:" in result.output
    with unit_of_work() as s:
        loaded = set(s.scalars(select(InventoryNumber.e164).where(InventoryNumber.country == "FR")))
    assert loaded == {"+33123456701", "+33123456702"}

    result = runner.invoke(cli, ["numbers", "approver", demo["agent_email"]])
    assert result.exit_code == 1 and "Only an admin can be a number approver." in result.output
    assert runner.invoke(cli, ["numbers", "approver", demo["admin_email"]]).exit_code == 0
    with unit_of_work() as s:
        assert s.get(User, demo["admin_id"]).approves_numbers is True

    with deploy_redis() as client:
        with unit_of_work() as s:
            old = numbers.find_number(s, "+12125550100")
            number_lifecycle.flag_high_risk(s, demo["tenant_id"], old.id, None)
            spare = numbers.find_number(s, "+18005550199")
            number_lifecycle.replace_number(s, demo["tenant_id"], old.id, {"replacement_id": spare.id}, None)
            old_id = old.id
        client.flushdb()  # Redis lost its jobs
        result = runner.invoke(cli, ["numbers", "reschedule"])
        effects.clear_handlers()
        assert result.exit_code == 0 and "1 cancellations scheduled" in result.output
        registry = Queue(jobs.NUMBER_QUEUE, connection=client).scheduled_job_registry
        assert registry.get_job_ids() == [jobs.number_cancellation_job_id(old_id)]
