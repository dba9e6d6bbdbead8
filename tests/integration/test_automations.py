"""Issue 11 against the real PBX (each kind, the `pbx` fixture): a missed call on a line runs an
automation in `switchboard worker`: a text to the caller (sipp receives the MESSAGE) and a signed
webhook to a local HTTPS server, which checks the HMAC; the call derived again, as after a
listener reconnect, does not run it twice.

The world is tests/integration/events_world.py's: line B rings Ben (1002), who never answers;
outside callers arrive where the carrier's calls do; the sipp trunk receives outbound texts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from control import db, webhooks
from control.models import AutomationRun, CallRecord, PbxNode, SipRegistration
from control.services import call_records
from tests.integration.events_world import (
    CONTACT_NUMBER,
    LINE_B,
    OUTSIDE_NUMBER,
    Api,
    EventsWorld,
    admin_api,
    events_world,
    read,
    wait_for,
)
from tests.integration.pbx_kinds import Pbx
from tests.integration.webhook_receiver import WebhookReceiver
from tests.integration.worker_process import Worker

pytestmark = pytest.mark.integration

SORRY = "Sorry we missed you: we call back within the hour. Ünïcode ✓ & <ok>"


@pytest.fixture(scope="module")
def world(pbx_database_url: str, pbx: Pbx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsWorld]:
    with events_world(pbx_database_url, pbx, tmp_path_factory.mktemp(f"automations-{pbx.kind}")) as built:
        built.register("1002", answer_after=None)  # Ben's phone rings and is never answered
        wait_for(
            "Ben's phone registered",
            lambda: read(
                lambda s: s.scalar(
                    select(SipRegistration).where(SipRegistration.user_id == built.user_id("1002"))
                )
            ),
            timeout=20,
        )
        yield built


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(tmp_path_factory.mktemp("webhooks"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def rq_worker(
    world: EventsWorld, receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """`switchboard worker` as operators run it, trusting the receiver's certificate."""
    worker = Worker(
        tmp_path_factory.mktemp("worker") / "worker.log", SWITCHBOARD_WEBHOOK_CA_FILE=str(receiver.cert)
    )
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def api(world: EventsWorld) -> Api:
    return admin_api("automations")


def _runs(automation_id: int) -> list[AutomationRun]:
    return read(
        lambda s: list(
            s.scalars(
                select(AutomationRun)
                .where(AutomationRun.automation_id == automation_id)
                .options(selectinload(AutomationRun.steps))
                .order_by(AutomationRun.id)
            )
        )
    )


def _ended(automation_id: int, count: int, worker: Worker, timeout: float = 60.0) -> list[AutomationRun]:
    def done() -> list[AutomationRun] | None:
        if worker.exited():
            raise AssertionError(f"switchboard worker exited:\n{worker.log()[-4000:]}")
        runs = _runs(automation_id)
        ended = [r for r in runs if r.state in ("succeeded", "failed")]
        return runs if len(ended) >= count else None

    try:
        return wait_for(f"{count} run(s) of automation {automation_id} to end", done, timeout)
    except AssertionError as exc:
        log = worker.log()[-4000:]
        raise AssertionError(
            f"{exc}\nruns: {[(r.id, r.state, r.error) for r in _runs(automation_id)]}\n{log}"
        ) from None


def _missed_call(world: EventsWorld, caller: str) -> CallRecord:
    after = read(lambda s: s.scalar(select(func.max(CallRecord.id))) or 0)
    result = world.outside.call(LINE_B, caller=caller, cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    record = world.wait_record("the missed call's record", lambda r: r.id > after)
    assert record.missed and record.line_id == world.ids["line_b"]
    return record


def _check_signed(delivery: Any, secret: str) -> dict:
    timestamp = delivery.headers[webhooks.TIMESTAMP_HEADER]
    signed = delivery.headers[webhooks.SIGNATURE_HEADER]
    assert webhooks.verify(secret, timestamp, delivery.body, signed), "the signature does not verify"
    assert not webhooks.verify("whsec_not-the-secret", timestamp, delivery.body, signed)
    assert not webhooks.verify(secret, str(int(timestamp) + 1), delivery.body, signed), "timestamp not signed"
    assert delivery.headers["Content-Type"] == "application/json"
    return orjson.loads(delivery.body)


def test_a_missed_call_texts_the_caller_and_calls_a_signed_webhook_once(
    world: EventsWorld, api: Api, receiver: WebhookReceiver, rq_worker: Worker
) -> None:
    created = api.post(
        "/api/v1/automations",
        {
            "name": "Missed on line B",
            "trigger": "call_missed",
            "line_id": world.ids["line_b"],
            "steps": [
                {"action": "send_text", "value": SORRY},
                {"action": "webhook", "value": receiver.url},
            ],
        },
    )
    assert created.status_code == 201, created.json
    automation_id, secret = created.json["id"], created.json["webhook_secret"]
    assert secret.startswith("whsec_") and created.json["has_webhook_secret"] is True
    shown = api.get(f"/api/v1/automations/{automation_id}").json
    assert "webhook_secret" not in shown and secret not in orjson.dumps(shown).decode()

    texts_before, hooks_before = len(world.trunk.texts()), len(receiver.received)
    receiver.script = [503]  # the receiver fails once: the step retries with backoff
    record = _missed_call(world, CONTACT_NUMBER)

    runs = _ended(automation_id, 1, rq_worker)
    assert len(runs) == 1
    run = runs[0]
    assert run.state == "succeeded", run.error
    assert run.trigger_key == f"call:{record.node_id}:{record.call_key}"
    assert [(step.action, step.state) for step in run.steps] == [("send_text", "ok"), ("webhook", "ok")]
    assert all(step.finished_at and step.finished_at >= step.started_at for step in run.steps)
    assert run.steps[0].detail.startswith(f"Text to {CONTACT_NUMBER} from {LINE_B}")
    assert run.steps[1].detail == "HTTP 200" and run.steps[1].attempts == 2

    deliveries = receiver.wait_for(hooks_before + 2)[hooks_before:]
    assert [d.answered for d in deliveries] == [503, 200]
    event = _check_signed(deliveries[-1], secret)
    assert event["trigger"] == "call_missed" and event["automation"] == {
        "id": automation_id,
        "name": "Missed on line B",
    }
    assert event["event"]["number"] == CONTACT_NUMBER and event["event"]["call_record_id"] == record.id
    assert event["event"]["line_name"] == "Line B" and event["event"]["line_number"] == LINE_B
    assert event["event"]["missed"] is True and event["event"]["contact_id"] == world.ids["contact"]
    assert deliveries[0].headers["X-Switchboard-Delivery"] == deliveries[1].headers["X-Switchboard-Delivery"]

    # The run log, as the API gives it.
    log = api.get(f"/api/v1/automations/{automation_id}/runs").json
    assert log["total"] == 1 and log["items"][0]["steps"][1]["detail"] == "HTTP 200"

    # Replayed: the call derived again from its raw events, as a listener reconnect's resync or a
    # spool replay does. The record is rebuilt; no second run is recorded or queued.
    with db.unit_of_work() as s:
        node = s.get(PbxNode, record.node_id)
        assert node is not None
        again = call_records.derive(s, node, record.call_key)
        assert again is not None and again.id == record.id
    assert len(_runs(automation_id)) == 1

    # A second missed call (from another number) runs it once more: the replay queued nothing
    # before it, so exactly two runs, two texts and one more webhook arrive.
    receiver.script = []
    _missed_call(world, OUTSIDE_NUMBER)
    runs = _ended(automation_id, 2, rq_worker)
    assert len(runs) == 2 and runs[1].state == "succeeded", runs[1].error
    last = receiver.wait_for(hooks_before + 3)[-1]
    assert _check_signed(last, secret)["event"]["number"] == OUTSIDE_NUMBER
    assert len(receiver.received) == hooks_before + 3

    # Each caller got the text from the line's number, as sipp at the trunk received it: two
    # texts, not three.
    assert world.trunk.wait_for_texts(texts_before + 2)[-2:] == [SORRY, SORRY]
    assert len(world.trunk.texts()) == texts_before + 2


def test_a_paused_automation_does_not_run(
    world: EventsWorld, api: Api, receiver: WebhookReceiver, rq_worker: Worker
) -> None:
    paused = api.post(
        "/api/v1/automations",
        {
            "name": "Paused hook",
            "trigger": "call_missed",
            "line_id": world.ids["line_b"],
            "status": "paused",
            "steps": [{"action": "webhook", "value": receiver.url}],
        },
    ).json
    active = api.post(
        "/api/v1/automations",
        {
            "name": "Active hook",
            "trigger": "call_ended",
            "steps": [{"action": "webhook", "value": receiver.url}],
        },
    ).json
    _missed_call(world, CONTACT_NUMBER)
    runs = _ended(active["id"], 1, rq_worker)
    assert runs[0].state == "succeeded", runs[0].error
    assert _runs(paused["id"]) == []
