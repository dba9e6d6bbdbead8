"""Issue 11, broadcasts, against the real Asterisk and the real FreeSWITCH (the module runs on
each, `-k asterisk` / `-k freeswitch`): the API starts a broadcast, `switchboard worker` sends it
through `switchboard listen`'s AMI or ESL connection, and a sipp carrier behind the trunk answers,
is busy or never answers by number and timestamps every INVITE.

One world per module and PBX kind (tests/integration/events_world.py), its trunk pointed at the
carrier.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from control import db
from control.models import Broadcast, BroadcastRecipient, ContactNumber
from control.services import broadcast_recordings, broadcasts, contacts, tags, tenants
from tests.integration.events_world import (
    DOMAIN,
    LINE_A,
    Api,
    EventsWorld,
    admin_api,
    deploy,
    events_world,
    read,
    wait_for,
)
from tests.integration.pbx_kinds import Pbx
from tests.integration.sipp import Phone, SipMessage
from tests.integration.worker_process import Worker

pytestmark = pytest.mark.integration

RATE = 5
#: The carrier's subscribers: +1415555 2xxx answer, 3xxx are busy, 4xxx never answer, 5xxx do not
#: exist (404).
ANSWER = [f"+141555520{n:02d}" for n in range(8)]
BUSY = [f"+141555530{n:02d}" for n in range(6)]
NO_ANSWER = [f"+141555540{n:02d}" for n in range(6)]
FAILED = [f"+141555550{n:02d}" for n in range(2)]
PAUSED = [f"+141555521{n:02d}" for n in range(20)]


@pytest.fixture(scope="module")
def world(
    pbx_database_url: str, pbx: Pbx, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EventsWorld, Phone]]:
    workdir = tmp_path_factory.mktemp(f"broadcasts-{pbx.kind}")
    with events_world(pbx_database_url, pbx, workdir) as built:
        carrier = built.sipp.uas("carrier", "uas_carrier.xml")
        with db.unit_of_work() as s:
            tenant = tenants.get_tenant(s, built.tenant_id)
            tenants.update_tenant(
                s,
                tenant.id,
                {
                    "name": tenant.name,
                    "domain": DOMAIN,
                    "trunk_host": "127.0.0.1",
                    "trunk_port": carrier.port,
                    "broadcast_calls_per_second": RATE,
                    "broadcast_max_concurrent": 10,
                },
                None,
            )
        deploy(built.node_id)
        worker = Worker(workdir / "worker.log", pbx_database_url)
        try:
            yield built, carrier
        finally:
            worker.stop()


@pytest.fixture(scope="module")
def api(world: tuple[EventsWorld, Phone]) -> Api:
    return admin_api("broadcasts")


def _audience(tenant_id: int, tag_name: str, numbers: list[str]) -> int:
    with db.unit_of_work() as s:
        tag = tags.create_tag(s, tenant_id, {"name": tag_name}, None)
        for index, number in enumerate(numbers):
            contacts.create_contact(
                s,
                tenant_id,
                {"first_name": f"{tag_name} {index}", "numbers": [{"number": number}], "tag_ids": [tag.id]},
                None,
            )
        return tag.id


def _create(tenant_id: int, name: str, tag_id: int, kind: str, message: str, **extra: Any) -> int:
    """A draft broadcast from Line A to the contacts with `tag_id`."""
    with db.unit_of_work() as s:
        from control.models import Line

        line = s.scalar(select(Line).where(Line.tenant_id == tenant_id, Line.name == "Line A"))
        assert line is not None
        data = {"name": name, "kind": kind, "message": message, "line_id": line.id, "tag_ids": [tag_id]}
        return broadcasts.create_broadcast(s, tenant_id, data | extra, None).id


def _voice(tenant_id: int, name: str, tag_id: int, recording: Path, **extra: Any) -> int:
    broadcast_id = _create(tenant_id, name, tag_id, "voice", "Our offices move.", **extra)
    with db.unit_of_work() as s:
        broadcast_recordings.save_recording(s, tenant_id, broadcast_id, recording.read_bytes(), None)
    return broadcast_id


def _recording(tmp_path: Path) -> Path:
    path = tmp_path / "announcement.mp3"
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", "-C", "128", str(path), "synth", "0.5", "sine", "440"],
        check=True,
    )
    return path


def _broadcast(broadcast_id: int) -> Broadcast:
    return read(lambda s: s.get(Broadcast, broadcast_id))


def _recipients(broadcast_id: int) -> list[BroadcastRecipient]:
    return read(
        lambda s: list(
            s.scalars(
                select(BroadcastRecipient)
                .where(BroadcastRecipient.broadcast_id == broadcast_id)
                .order_by(BroadcastRecipient.id)
            )
        )
    )


def _invites(carrier: Phone, numbers: list[str]) -> list[SipMessage]:
    """First INVITE of each call the carrier received for `numbers` (retransmissions folded)."""
    seen: set[str] = set()
    invites = []
    for message in carrier.uas.messages():
        if message.sent or message.method != "INVITE":
            continue
        number = message.start_line.split()[1].removeprefix("sip:").split("@")[0]
        call_id = message.headers.get("call-id", "")
        if number in numbers and call_id not in seen:
            seen.add(call_id)
            invites.append(message)
    return invites


def _number(message: SipMessage) -> str:
    return message.start_line.split()[1].removeprefix("sip:").split("@")[0]


def _most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times)), default=0)


def test_voice_broadcast_records_every_outcome_retries_and_keeps_the_rate(
    world: tuple[EventsWorld, Phone], api: Api, tmp_path: Path
) -> None:
    events, carrier = world
    tag_id = _audience(events.tenant_id, "Customers", ANSWER + BUSY + NO_ANSWER + FAILED)
    with db.unit_of_work() as s:  # one opted out, one whose number no longer parses
        opted = contacts.create_contact(
            s,
            events.tenant_id,
            {
                "first_name": "Opted",
                "numbers": [{"number": "+14155552099"}],
                "tag_ids": [tag_id],
                "do_not_call": True,
            },
            None,
        )
        broken = contacts.create_contact(
            s,
            events.tenant_id,
            {"first_name": "Broken", "numbers": [{"number": "+14155552098"}], "tag_ids": [tag_id]},
            None,
        )
        s.get(ContactNumber, broken.numbers[0].id).e164 = "+1555"
        assert opted.do_not_call
    broadcast_id = _voice(
        events.tenant_id,
        "Move notice",
        tag_id,
        _recording(tmp_path),
        retry_count=1,
        retry_delay=2,
        ring_seconds=5,
    )
    started = api.post(f"/api/v1/broadcasts/{broadcast_id}/action", {"action": "start"})
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["status"] == "running"
    done = wait_for(
        "the broadcast to finish",
        lambda: (b := _broadcast(broadcast_id)).status in ("done", "paused") and b,
        timeout=120,
        every=0.25,
    )
    assert done.status == "done", done.status
    rows = {r.number: r for r in _recipients(broadcast_id)}
    assert {n: rows[n].status for n in ANSWER} == dict.fromkeys(ANSWER, "answered")
    assert {n: rows[n].status for n in BUSY} == dict.fromkeys(BUSY, "busy")
    assert {n: rows[n].status for n in NO_ANSWER} == dict.fromkeys(NO_ANSWER, "no_answer")
    assert {n: rows[n].status for n in FAILED} == dict.fromkeys(FAILED, "failed")
    assert {n: rows[n].attempts for n in ANSWER + FAILED} == dict.fromkeys(ANSWER + FAILED, 1)
    assert {n: rows[n].attempts for n in BUSY + NO_ANSWER} == dict.fromkeys(BUSY + NO_ANSWER, 2)
    assert rows["+14155552099"].status == "skipped" and rows["+1555"].status == "invalid"
    results = api.get(f"/api/v1/broadcasts/{broadcast_id}/results").get_json()["progress"]
    assert (results["sent"], results["answered"], results["busy"], results["no_answer"]) == (22, 8, 6, 6)
    assert results["failed"] == 2
    assert (results["skipped"], results["invalid"], results["remaining"]) == (1, 1, 0)

    # At the carrier: one call per answered or failed number, two (one retry) per busy or
    # unanswered one, from the line's number, never more than RATE INVITEs within one second.
    called = ANSWER + BUSY + NO_ANSWER + FAILED
    invites = _invites(carrier, called)
    per_number = {n: sum(1 for m in invites if _number(m) == n) for n in called}
    assert per_number == {n: 1 if n in ANSWER + FAILED else 2 for n in per_number}, per_number
    assert all(LINE_A in m.headers["from"] for m in invites), invites[0].headers
    times = sorted(m.at for m in invites)
    assert _most_in_one_second(times) <= RATE, times
    first_wave = times[:20]
    sustained = (len(first_wave) - 1) / (first_wave[-1] - first_wave[0])
    last_result = max(r.updated_at for r in rows.values()).timestamp()
    first_call = min(r.last_attempt_at for r in rows.values() if r.last_attempt_at).timestamp()
    print(
        f"\nbroadcast throughput: {sustained:.2f} calls/s sustained over the first 20 INVITEs "
        f"(limit {RATE}); {len(invites)} calls, every outcome recorded, "
        f"{last_result - first_call:.1f} s from first call to last result; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    # A floor, not the figure: a sender that waited for each call's outcome would manage ~1/s.
    assert sustained > RATE * 0.4


def test_pause_stops_new_calls_within_a_second_and_resume_continues(
    world: tuple[EventsWorld, Phone], api: Api, tmp_path: Path
) -> None:
    events, carrier = world
    tag_id = _audience(events.tenant_id, "Paused", PAUSED)
    broadcast_id = _voice(events.tenant_id, "Paused notice", tag_id, _recording(tmp_path), retry_count=0)
    assert api.post(f"/api/v1/broadcasts/{broadcast_id}/action", {"action": "start"}).status_code == 200
    wait_for("calls to go out", lambda: len(_invites(carrier, PAUSED)) >= 4, timeout=30)
    import time

    paused = api.post(f"/api/v1/broadcasts/{broadcast_id}/action", {"action": "pause"})
    paused_at = time.time()
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    # The calls already out end; no new one starts.
    wait_for(
        "the calls out to end",
        lambda: not any(r.status == "sending" for r in _recipients(broadcast_id)),
        timeout=30,
    )
    before = _invites(carrier, PAUSED)
    late = [m.at - paused_at for m in before if m.at > paused_at + 1.0]
    assert not late, f"INVITEs {late} s after the pause"
    assert len(before) < len(PAUSED)
    waiting = sum(1 for r in _recipients(broadcast_id) if r.status == "pending")
    assert waiting == len(PAUSED) - len(before)
    assert api.post(f"/api/v1/broadcasts/{broadcast_id}/action", {"action": "resume"}).status_code == 200
    wait_for(
        "the broadcast to finish", lambda: _broadcast(broadcast_id).status == "done", timeout=60, every=0.25
    )
    assert {r.status for r in _recipients(broadcast_id)} == {"answered"}
    after = _invites(carrier, PAUSED)
    assert sorted(_number(m) for m in after) == sorted(PAUSED), "each number called once"
    assert _most_in_one_second([m.at for m in after]) <= RATE


def test_two_broadcasts_of_a_tenant_at_once_keep_its_rate_together(
    world: tuple[EventsWorld, Phone], api: Api, tmp_path: Path, pbx_database_url: str
) -> None:
    """Two workers, each sending one of the tenant's broadcasts at the same time: the carrier never
    sees more than the tenant's rate from both together, and neither waits for the other."""
    events, carrier = world
    # Each alone takes 4 s at the rate: long enough that they overlap whichever worker is slower
    # to take its job on a busy machine.
    first = [f"+141555525{n:02d}" for n in range(20)]
    second = [f"+141555526{n:02d}" for n in range(20)]
    ids = [
        _voice(events.tenant_id, name, _audience(events.tenant_id, name, numbers), _recording(tmp_path))
        for name, numbers in (("Together A", first), ("Together B", second))
    ]
    other = Worker(tmp_path / "second-worker.log", pbx_database_url)
    try:
        wait_for("the second worker to listen", lambda: "Listening on" in other.log(), timeout=30)
        for broadcast_id in ids:
            assert (
                api.post(f"/api/v1/broadcasts/{broadcast_id}/action", {"action": "start"}).status_code == 200
            )
        for broadcast_id in ids:
            wait_for(
                "the broadcasts to finish",
                lambda b=broadcast_id: _broadcast(b).status == "done",
                timeout=90,
                every=0.25,
            )
    finally:
        other.stop()
    assert {r.status for b in ids for r in _recipients(b)} == {"answered"}
    invites = _invites(carrier, first + second)
    assert sorted(_number(m) for m in invites) == sorted(first + second), "each number called once"
    times = sorted(m.at for m in invites)
    assert _most_in_one_second(times) <= RATE, times
    a_times = [m.at for m in invites if _number(m) in first]
    b_times = [m.at for m in invites if _number(m) in second]
    assert min(b_times) < max(a_times) and min(a_times) < max(b_times), "the two ran at the same time"


def test_text_broadcast_delivers_every_message(world: tuple[EventsWorld, Phone], api: Api) -> None:
    events, carrier = world
    numbers = [f"+141555522{n:02d}" for n in range(20)]
    tag_id = _audience(events.tenant_id, "Texted", numbers)
    before = len(carrier.texts())
    broadcast_id = _create(events.tenant_id, "Texts", tag_id, "text", "Offices move on Monday ✓")
    assert api.post(f"/api/v1/broadcasts/{broadcast_id}/action", {"action": "start"}).status_code == 200
    wait_for(
        "the broadcast to finish", lambda: _broadcast(broadcast_id).status == "done", timeout=60, every=0.25
    )
    assert {r.status for r in _recipients(broadcast_id)} == {"delivered"}
    texts = carrier.wait_for_texts(before + 20, timeout=10)[before:]
    assert texts == ["Offices move on Monday ✓"] * 20
    messages = [m for m in carrier.uas.messages() if not m.sent and m.method == "MESSAGE"][before:]
    assert sorted(m.start_line.split()[1].removeprefix("sip:").split("@")[0] for m in messages) == sorted(
        numbers
    )
    assert all(LINE_A in m.headers["from"] for m in messages)


def test_a_scheduled_broadcast_starts_on_time_from_rqs_scheduler(
    world: tuple[EventsWorld, Phone], api: Api
) -> None:
    from datetime import timedelta

    from control.db import utcnow

    events, carrier = world
    numbers = [f"+141555523{n:02d}" for n in range(3)]
    tag_id = _audience(events.tenant_id, "Scheduled", numbers)
    before = len(carrier.texts())
    due = (utcnow() + timedelta(seconds=3)).replace(microsecond=0)
    broadcast_id = _create(
        events.tenant_id, "Later", tag_id, "text", "Reminder", scheduled_at=due.isoformat()
    )
    scheduled = api.post(f"/api/v1/broadcasts/{broadcast_id}/action", {"action": "schedule"})
    assert scheduled.status_code == 200 and scheduled.get_json()["status"] == "scheduled"
    done = wait_for(
        "the scheduled broadcast to run",
        lambda: (b := _broadcast(broadcast_id)).status == "done" and b,
        timeout=60,
        every=0.25,
    )
    assert done.started_at is not None and done.started_at >= due
    assert {r.status for r in _recipients(broadcast_id)} == {"delivered"}
    assert carrier.wait_for_texts(before + 3, timeout=10)[before:] == ["Reminder"] * 3


def test_a_start_missed_while_no_worker_ran_is_taken_when_a_worker_starts(
    world: tuple[EventsWorld, Phone], api: Api, tmp_path: Path, pbx_database_url: str
) -> None:
    """No worker ran at the scheduled time, and Redis lost the scheduled job with it: the broadcast
    still says scheduled, 20 minutes late. A worker that starts sends it then; one whose operator
    chose "mark it as missed" is marked so, and nothing goes out."""
    from datetime import timedelta

    from control.db import utcnow
    from control.models import AuditLog

    events, carrier = world
    late_numbers = [f"+141555527{n:02d}" for n in range(3)]
    missed_numbers = [f"+141555528{n:02d}" for n in range(3)]
    before = len(carrier.texts())
    past = (utcnow() - timedelta(minutes=20)).replace(microsecond=0)
    ids = {}
    for name, numbers, if_missed in (("Catch up", late_numbers, "start"), ("Skip", missed_numbers, "missed")):
        tag_id = _audience(events.tenant_id, name, numbers)
        ids[name] = _create(
            events.tenant_id,
            name,
            tag_id,
            "text",
            f"{name} notice",
            scheduled_at=past.isoformat(),
            if_missed=if_missed,
        )
        with db.unit_of_work() as s:
            s.get(Broadcast, ids[name]).status = "scheduled"  # as `schedule` leaves it; its rq job is gone
    back = utcnow()
    other = Worker(tmp_path / "returning-worker.log", pbx_database_url)
    try:
        done = wait_for(
            "the late broadcast to run",
            lambda: (b := _broadcast(ids["Catch up"])).status == "done" and b,
            timeout=60,
            every=0.25,
        )
        skipped = wait_for(
            "the other to be marked missed",
            lambda: (b := _broadcast(ids["Skip"])).status == "missed" and b,
            timeout=30,
            every=0.25,
        )
    finally:
        other.stop()
    assert "2 scheduled starts were due" in other.log()
    assert done.started_at is not None and done.started_at >= back
    assert {r.status for r in _recipients(done.id)} == {"delivered"}
    assert carrier.wait_for_texts(before + 3, timeout=10)[before:] == ["Catch up notice"] * 3
    assert skipped.started_at is None and _recipients(skipped.id) == []
    audit = read(
        lambda s: {
            (a.target_id, a.action)
            for a in s.scalars(select(AuditLog).where(AuditLog.target_id.in_(list(ids.values()))))
        }
    )
    assert {(done.id, "broadcast.late_start"), (skipped.id, "broadcast.missed")} <= audit
    assert "Skip notice" not in carrier.texts()
    page = api.get(f"/api/v1/broadcasts/{skipped.id}").get_json()
    assert (page["status"], page["if_missed"]) == ("missed", "missed")
