from __future__ import annotations

import io
import re
from datetime import datetime

from control.db import unit_of_work
from control.models import Broadcast, Contact, Line, Tag
from control.services import broadcasts, tenants


def _form(**overrides: object) -> dict:
    form = {
        "name": "Spring offer",
        "kind": "text",
        "message": "Spring prices: call us back.",
        "line_id": "",
        "scheduled_at": "",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def _error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return match.group(1) if match else ""


def _tag(session, name: str) -> int:
    return session.query(Tag).filter_by(name=name).one().id


def _contact(session, last_name: str) -> int:
    return session.query(Contact).filter_by(last_name=last_name).one().id


def _add(demo, name: str, status: str, kind: str = "text") -> None:
    """A broadcast in `status` (recorded as the sender would leave it)."""
    with unit_of_work() as s:
        vip = s.query(Tag).filter_by(tenant_id=demo["tenant_id"], name="VIP").one()
        b = broadcasts.create_broadcast(
            s,
            demo["tenant_id"],
            {
                "name": name,
                "kind": kind,
                "message": "hello",
                "tag_ids": [vip.id],
                "scheduled_at": "2031-01-01T09:00",
            },
            None,
        )
        b.status = status


def _tab_count(page: str, label: str) -> int:
    return int(re.search(rf'>{label} <span class="count">(\d+)</span>', page).group(1))


def test_list_has_status_tabs_with_counts_and_filters(admin_client, demo):
    _add(demo, "Running one", "running", kind="voice")
    _add(demo, "Paused one", "paused")
    _add(demo, "Done one", "done", kind="voice")
    _add(demo, "Scheduled one", "scheduled", kind="voice")
    page = admin_client.get("/broadcasts/").data.decode()
    counts = {
        label: _tab_count(page, label) for label in ("All", "Draft", "Scheduled", "Running", "Paused", "Done")
    }
    assert counts == {"All": 5, "Draft": 1, "Scheduled": 1, "Running": 1, "Paused": 1, "Done": 1}
    assert "not available" not in page
    page = admin_client.get("/broadcasts/?status=paused").data.decode()
    assert "Paused one" in page and "Running one" not in page and "Maintenance notice" not in page
    assert _tab_count(page, "All") == 5  # the tabs keep counting everything
    page = admin_client.get("/broadcasts/?kind=text").data.decode()
    assert "Paused one" in page and "Maintenance notice" in page and "Done one" not in page
    page = admin_client.get("/broadcasts/?q=sched").data.decode()
    assert "Scheduled one" in page and "Paused one" not in page
    page = admin_client.get("/broadcasts/?sort=name").data.decode()
    assert (
        page.index(">Done one</a>") < page.index(">Maintenance notice</a>") < page.index(">Running one</a>")
    )
    assert admin_client.get("/broadcasts/?sort=message").status_code == 400


def test_create_shows_audience_size_then_edit(admin_client, session, demo):
    line_id = session.query(Line).filter_by(name="Main line").one().id
    vip, ken, grace = _tag(session, "VIP"), _contact(session, "Thompson"), _contact(session, "Hopper")
    form = _form(
        line_id=str(line_id),
        scheduled_at="2031-03-01T10:30",
        tag_ids=[str(vip)],
        contact_ids=[str(ken), str(grace)],  # Grace also has the VIP tag: counted once
    )
    response = admin_client.post("/broadcasts/new", data=form)
    assert response.status_code == 302
    broadcast = session.query(Broadcast).filter_by(name="Spring offer").one()
    assert (broadcast.kind, broadcast.status, broadcast.line_id) == ("text", "draft", line_id)
    assert broadcast.scheduled_at == datetime(2031, 3, 1, 10, 30)
    assert [t.id for t in broadcast.tags] == [vip] and {c.id for c in broadcast.contacts} == {ken, grace}
    page = admin_client.get(response.headers["Location"]).data.decode()
    assert '<strong id="audience-size">3</strong>' in page
    assert 'value="2031-03-01T10:30"' in page
    assert "not available" not in page and "Each recipient gets the text from the line" in page
    edit = _form(name="Spring offer", kind="voice", contact_ids=[str(ken)])  # tags cleared
    assert admin_client.post(f"/broadcasts/{broadcast.id}", data=edit).status_code == 302
    session.expire_all()
    broadcast = session.get(Broadcast, broadcast.id)
    assert broadcast.kind == "voice" and broadcast.tags == [] and [c.id for c in broadcast.contacts] == [ken]
    assert broadcast.scheduled_at is None and broadcast.line_id is None
    page = admin_client.get(f"/broadcasts/{broadcast.id}").data.decode()
    assert '<strong id="audience-size">1</strong>' in page


def _sendable(session, demo) -> None:  # type: ignore[no-untyped-def]
    """The demo tenant with a trunk and a node, so a broadcast can start."""
    from control.services import nodes

    with unit_of_work() as s:
        tenant = tenants.get_tenant(s, demo["tenant_id"])
        tenants.update_tenant(
            s, tenant.id, {"name": tenant.name, "domain": tenant.domain, "trunk_host": "127.0.0.1"}, None
        )
        nodes.create_node(
            s,
            {
                "name": "demo-node",
                "kind": "asterisk",
                "host": "127.0.0.1",
                "port": 5038,
                "username": "sb",
                "secret": "secret-secret",
                "config_dir": "/tmp/demo-node",
                "tenant_id": tenant.id,
            },
            None,
        )


def test_action_buttons_start_pause_resume_cancel_and_show_results(admin_client, session, demo):
    _sendable(session, demo)
    notice = session.query(Broadcast).filter_by(name="Maintenance notice").one()
    url = f"/broadcasts/{notice.id}"
    page = admin_client.get(url).data.decode()
    assert re.findall(r'name="action" value="(\w+)"', page) == ["schedule", "start"]
    # Scheduling needs a time: refused, still a draft.
    response = admin_client.post(f"{url}/action", data={"action": "schedule"}, follow_redirects=True)
    assert "Set a time before scheduling." in response.data.decode()
    # Starting needs the line it is sent from.
    response = admin_client.post(f"{url}/action", data={"action": "start"}, follow_redirects=True)
    assert "Choose the line the broadcast is sent from." in response.data.decode()
    session.expire_all()
    assert session.get(Broadcast, notice.id).status == "draft"
    line_id = session.query(Line).filter_by(name="Main line").one().id
    form = _form(
        name="Maintenance notice",
        line_id=str(line_id),
        scheduled_at="2031-05-01T02:00",
        tag_ids=[str(_tag(session, "VIP"))],
        retry_count="1",
    )
    assert admin_client.post(url, data=form).status_code == 302
    assert admin_client.post(f"{url}/action", data={"action": "schedule"}).status_code == 302
    page = admin_client.get(url).data.decode()
    assert re.findall(r'name="action" value="(\w+)"', page) == ["unschedule", "start", "cancel"]
    response = admin_client.post(f"{url}/action", data={"action": "start"}, follow_redirects=True)
    assert "Maintenance notice is sending." in response.data.decode()
    session.expire_all()
    assert session.get(Broadcast, notice.id).status == "running"
    page = admin_client.get(url).data.decode()
    assert re.findall(r'name="action" value="(\w+)"', page) == ["pause", "cancel"]
    # The audience is fixed: the results table lists each recipient, live.
    assert 'id="broadcast-results"' in page and 'data-live-refresh="broadcast"' in page
    assert '<dd data-count="remaining">2</dd>' in page
    assert page.count("<tr data-recipient=") == 2
    assert 'id="broadcast-form"' not in page and "A running broadcast cannot be edited." in page
    response = admin_client.post(url, data=_form(name="Changed", tag_ids=[str(_tag(session, "VIP"))]))
    assert response.status_code == 400
    response = admin_client.post(f"{url}/action", data={"action": "unschedule"}, follow_redirects=True)
    assert "A running broadcast cannot unschedule." in response.data.decode()
    assert admin_client.post(f"{url}/action", data={"action": "pause"}).status_code == 302
    assert admin_client.post(f"{url}/action", data={"action": "resume"}).status_code == 302
    assert admin_client.post(f"{url}/action", data={"action": "cancel"}).status_code == 302
    session.expire_all()
    assert session.get(Broadcast, notice.id).status == "cancelled"
    assert "Cancelled: no further action." in admin_client.get(url).data.decode()
    results = admin_client.get(f"{url}/results").data.decode()
    assert '<dd data-count="remaining">0</dd>' in results
    exported = admin_client.get(f"{url}/results.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    lines_ = exported.data.decode().splitlines()
    assert lines_[0] == "name,number,status,attempts,last_attempt_at,detail" and len(lines_) == 3
    assert all(",cancelled,0,," in line for line in lines_[1:])


def test_recording_upload_is_checked_by_content_and_converted(admin_client, session, demo, tmp_path):
    import shutil
    import subprocess
    import wave

    if shutil.which("sox") is None:
        raise AssertionError("sox is needed (Debian: sox libsox-fmt-mp3)")
    vip = [str(_tag(session, "VIP"))]
    assert (
        admin_client.post("/broadcasts/new", data=_form(name="Call", kind="voice", tag_ids=vip)).status_code
        == 302
    )
    broadcast = session.query(Broadcast).filter_by(name="Call").one()
    url = f"/broadcasts/{broadcast.id}/recording"
    source = tmp_path / "tone.ogg"
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", str(source), "synth", "0.5", "sine", "440"], check=True
    )
    fake = {"recording": (io.BytesIO(b"MZ\x90\x00 not audio at all"), "tone.wav")}
    page = admin_client.post(url, data=fake, follow_redirects=True).data.decode()
    assert "Upload a WAV, MP3 or OGG recording." in page
    broken = {"recording": (io.BytesIO(b"OggS" + b"\x00" * 200), "tone.ogg")}
    page = admin_client.post(url, data=broken, follow_redirects=True).data.decode()
    assert "This OGG file cannot be read." in page
    session.expire_all()
    assert session.get(Broadcast, broadcast.id).recording is None
    upload = {"recording": (io.BytesIO(source.read_bytes()), "whatever.bin")}
    page = admin_client.post(url, data=upload, follow_redirects=True).data.decode()
    assert "Recording saved" in page
    session.expire_all()
    name = session.get(Broadcast, broadcast.id).recording
    assert re.fullmatch(r"broadcast-\d+-[0-9a-f]{16}\.wav", name)
    from control.services.broadcast_recordings import recording_path

    with wave.open(str(recording_path(name))) as converted:
        assert (converted.getframerate(), converted.getnchannels(), converted.getsampwidth()) == (8000, 1, 2)
        assert abs(converted.getnframes() - 4000) < 50


def test_bad_input_shows_messages_and_saves_nothing(admin_client, session, demo):
    before = session.query(Broadcast).count()
    vip = [str(_tag(session, "VIP"))]
    cases = [
        (_form(name="", tag_ids=vip), "name", "This field is required."),
        (_form(name="b" * 10_000, tag_ids=vip), "name", "At most 120 characters (got 10000)."),
        (_form(message="  ", tag_ids=vip), "message", "Write the message to send."),
        (_form(message="x" * 1601, tag_ids=vip), "message", "At most 1600 characters."),
        (_form(), "tag_ids", "Choose an audience: tags, contacts or both."),
        (_form(kind="fax", tag_ids=vip), "kind", "Choose one of: voice, text."),
        (
            _form(scheduled_at="next tuesday", tag_ids=vip),
            "scheduled_at",
            "Enter a date and time (YYYY-MM-DD HH:MM).",
        ),
        (_form(line_id="999999", tag_ids=vip), "line_id", "Choose a line of this tenant."),
        (_form(contact_ids=["999999"]), "contact_ids", "Choose contacts of this tenant."),
    ]
    for form, field, message in cases:
        response = admin_client.post("/broadcasts/new", data=form)
        assert response.status_code == 400, message
        assert _error(response.data.decode(), field) == message, (field, message)
    # A voice message may be longer than a text.
    assert (
        admin_client.post(
            "/broadcasts/new", data=_form(kind="voice", message="x" * 1601, tag_ids=vip)
        ).status_code
        == 302
    )
    session.expire_all()
    assert session.query(Broadcast).count() == before + 1


def test_contact_picker_search_keeps_the_chosen(admin_client, session, demo):
    ken = _contact(session, "Thompson")
    response = admin_client.get(f"/broadcasts/contact-options?contact_q=kernel&contact_ids={ken}")
    options = re.findall(r'<option value="(\d+)" (selected)?', response.data.decode())
    assert options == [(str(ken), "selected"), (str(_contact(session, "Torvalds")), "")]
    page = admin_client.get("/broadcasts/contact-options?contact_q=0143").data.decode()
    assert "Grace Hopper +12025550143" in page and "Torvalds" not in page
    assert "Mum" not in admin_client.get("/broadcasts/contact-options?contact_q=mum").data.decode()


def test_delete(admin_client, session, demo):
    notice_id = session.query(Broadcast).filter_by(name="Maintenance notice").one().id
    assert admin_client.post(f"/broadcasts/{notice_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(Broadcast, notice_id) is None
    assert admin_client.post(f"/broadcasts/{notice_id}/delete").status_code == 404


def test_agent_gets_403(agent_client, session, demo):
    notice_id = session.query(Broadcast).filter_by(name="Maintenance notice").one().id
    assert agent_client.get("/broadcasts/").status_code == 403
    assert agent_client.get("/broadcasts/contact-options?contact_q=a").status_code == 403
    assert agent_client.post(f"/broadcasts/{notice_id}/action", data={"action": "start"}).status_code == 403
    assert agent_client.post(f"/broadcasts/{notice_id}/delete").status_code == 403
    assert (
        agent_client.post("/broadcasts/limits", data={"broadcast_calls_per_second": "50"}).status_code == 403
    )
    assert agent_client.get(f"/broadcasts/{notice_id}/results.csv").status_code == 403
    session.expire_all()
    assert session.get(Broadcast, notice_id).status == "draft"


def test_sending_limits_are_the_tenants(admin_client, session, demo):
    page = admin_client.get("/broadcasts/").data.decode()
    assert 'id="broadcast_calls_per_second"' in page and 'value="5"' in page
    response = admin_client.post(
        "/broadcasts/limits",
        data={"broadcast_calls_per_second": "51", "broadcast_max_concurrent": "4"},
        follow_redirects=True,
    )
    assert "Calls or texts a second: Enter a number from 1 to 50." in response.data.decode()
    ok = {"broadcast_calls_per_second": "2", "broadcast_max_concurrent": "4"}
    assert admin_client.post("/broadcasts/limits", data=ok).status_code == 302
    tenant = tenants.get_tenant(session, demo["tenant_id"])
    session.refresh(tenant)
    assert (tenant.broadcast_calls_per_second, tenant.broadcast_max_concurrent) == (2, 4)


def test_the_missed_start_choice_and_a_missed_broadcast(admin_client, session, demo):
    vip = _tag(session, "VIP")
    form = _form(scheduled_at="2031-03-01T10:30", tag_ids=[str(vip)], if_missed="missed")
    page = admin_client.get("/broadcasts/new").data.decode()
    assert re.search(r'<label for="if_missed"\s*>If Switchboard is down at that time</label>', page)
    assert admin_client.post("/broadcasts/new", data=form).status_code == 302
    broadcast = session.query(Broadcast).filter_by(name="Spring offer").one()
    assert broadcast.if_missed == "missed"
    refused = admin_client.post("/broadcasts/new", data=_form(tag_ids=[str(vip)], if_missed="later"))
    assert refused.status_code == 400
    assert _error(refused.data.decode(), "if_missed") == "Choose one of: start, missed."
    # Marked missed by the scheduler: said so, still editable, can start now or be scheduled again.
    with unit_of_work() as s:
        s.get(Broadcast, broadcast.id).status = "missed"
    page = admin_client.get(f"/broadcasts/{broadcast.id}").data.decode()
    assert 'id="missed-notice"' in page and "passed while Switchboard was not running" in page
    assert 'id="broadcast-form"' in page
    actions = re.findall(r'name="action" value="(\w+)"', page)
    assert actions == ["schedule", "start", "cancel"], actions
    assert _tab_count(admin_client.get("/broadcasts/").data.decode(), "Missed") == 1
