from __future__ import annotations

import re

from control.db import unit_of_work
from control.models import Automation, AutomationStep, Line, Tag
from control.services import automations


def _form(**overrides: object) -> dict:
    form = {
        "name": "Text missed callers",
        "trigger": "call_missed",
        "line_id": "",
        "steps-0-action": "send_text",
        "steps-0-value": "Sorry we missed you, we call back soon.",
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def _error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return match.group(1) if match else ""


def _tab_count(page: str, label: str) -> int:
    return int(re.search(rf'>{label} <span class="count">(\d+)</span>', page).group(1))


def _vip_tagger(session) -> Automation:
    return session.query(Automation).filter_by(name="Tag missed VIP callers").one()


def test_list_has_status_tabs_trigger_filter_and_sort(admin_client, session, demo):
    with unit_of_work() as s:
        for name, trigger in (("Answered hook", "call_answered"), ("Voicemail hook", "voicemail")):
            steps = [{"action": "webhook", "value": "https://hooks.example/x"}]
            a = automations.create_automation(
                s, demo["tenant_id"], {"name": name, "trigger": trigger, "steps": steps}, None
            )
        automations.set_status(s, demo["tenant_id"], a.id, "paused", None)
    page = admin_client.get("/automations/").data.decode()
    assert (_tab_count(page, "All"), _tab_count(page, "Active"), _tab_count(page, "Paused")) == (3, 2, 1)
    row = re.search(r'<tr id="automation-\d+">.*?Tag missed VIP callers</a>.*?</tr>', page, re.S).group(0)
    assert "A call is missed" in row and "Tag the caller → Notify a user" in row and "Any line" in row
    page = admin_client.get("/automations/?status=paused").data.decode()
    assert "Voicemail hook" in page and "Answered hook" not in page
    page = admin_client.get("/automations/?trigger=call_answered").data.decode()
    assert "Answered hook" in page and "Voicemail hook" not in page and "Tag missed" not in page
    page = admin_client.get("/automations/?sort=-name").data.decode()
    assert (
        page.index(">Voicemail hook</a>")
        < page.index(">Tag missed VIP callers</a>")
        < page.index(">Answered hook</a>")
    )
    assert admin_client.get("/automations/?sort=line_id").status_code == 400


def test_create_with_ordered_steps(admin_client, session, demo):
    line_id = session.query(Line).filter_by(name="Support line").one().id
    partner = session.query(Tag).filter_by(name="Partner").one().id
    form = _form(
        trigger="voicemail",
        line_id=str(line_id),
        **{
            "steps-1-action": "add_tag",
            "steps-1-value": str(partner),
            "steps-2-action": "",  # an empty added row is ignored
            "steps-3-action": "webhook",
            "steps-3-value": "https://crm.example/hook",
            "steps-4-action": "notify_user",
            "steps-4-value": str(demo["agent_id"]),
        },
    )
    response = admin_client.post("/automations/new", data=form)
    assert response.status_code == 302, response.data[-2000:]
    automation = session.query(Automation).filter_by(name="Text missed callers").one()
    assert (automation.trigger, automation.line_id, automation.status) == ("voicemail", line_id, "active")
    assert [(s.position, s.action, s.params) for s in automation.steps] == [
        (0, "send_text", {"text": "Sorry we missed you, we call back soon."}),
        (1, "add_tag", {"tag_id": partner}),
        (2, "webhook", {"url": "https://crm.example/hook"}),
        (3, "notify_user", {"user_id": demo["agent_id"]}),
    ]


def test_action_change_refreshes_the_value_field_without_saving(admin_client, session, demo):
    before = session.query(Automation).count()
    form = _form(refresh="1", **{"steps-0-action": "notify_user", "steps-1-action": "webhook"})
    response = admin_client.post("/automations/new", data=form)
    assert response.status_code == 200
    page = response.data.decode()
    assert '<select id="steps-0-value" name="steps-0-value"' in page and ">Alice Agent</option>" in page
    assert '<input id="steps-1-value" name="steps-1-value" type="url"' in page
    assert session.query(Automation).count() == before


def test_edit_replaces_steps_and_keeps_status(admin_client, session, demo):
    tagger = _vip_tagger(session)
    tagger_id = tagger.id
    automations_page = admin_client.get(f"/automations/{tagger_id}").data.decode()
    assert 'name="steps-1-value"' in automations_page
    assert admin_client.post(f"/automations/{tagger_id}/pause").status_code == 302
    form = _form(name="Tag missed VIP callers", trigger="call_answered")
    assert admin_client.post(f"/automations/{tagger_id}", data=form).status_code == 302
    session.expire_all()
    tagger = session.get(Automation, tagger_id)
    assert (tagger.trigger, tagger.status) == ("call_answered", "paused")
    assert [s.action for s in tagger.steps] == ["send_text"]
    assert session.query(AutomationStep).filter_by(automation_id=tagger_id).count() == 1


def test_pause_and_activate(admin_client, session, demo):
    tagger_id = _vip_tagger(session).id
    response = admin_client.post(
        f"/automations/{tagger_id}/pause", headers={"Referer": "http://localhost/automations/?status=active"}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/automations/?status=active"
    )
    session.expire_all()
    assert session.get(Automation, tagger_id).status == "paused"
    page = admin_client.get("/automations/").data.decode()
    assert _tab_count(page, "Paused") == 1 and _tab_count(page, "Active") == 0
    response = admin_client.post(
        f"/automations/{tagger_id}/activate", headers={"Referer": "https://evil.example/"}
    )
    assert response.headers["Location"].endswith("/automations/")
    session.expire_all()
    assert session.get(Automation, tagger_id).status == "active"
    assert admin_client.post(f"/automations/{tagger_id}/explode").status_code == 404


def test_bad_input_shows_messages_and_saves_nothing(admin_client, session, demo):
    before = (session.query(Automation).count(), session.query(AutomationStep).count())
    cases = [
        (_form(name=""), "name", "This field is required."),
        (_form(name="n" * 10_000), "name", "At most 120 characters (got 10000)."),
        (
            _form(trigger="call_dropped"),
            "trigger",
            "Choose one of: call_missed, call_answered, call_outbound, voicemail.",
        ),
        (_form(line_id="999999"), "line_id", "Choose a line of this tenant."),
        (_form(**{"steps-0-action": ""}), "steps-0-action", "Add at least one step."),
        (
            _form(**{"steps-0-action": "webhook", "steps-0-value": "http://plain.example"}),
            "steps-0-value",
            "An https:// address.",
        ),
        (_form(**{"steps-0-action": "add_tag", "steps-0-value": "999999"}), "steps-0-value", "Choose a tag."),
        (
            _form(**{"steps-1-action": "notify_user", "steps-1-value": "999999"}),
            "steps-1-value",
            "Choose a user.",
        ),
        (
            _form(**{"steps-0-value": "t" * 1601}),
            "steps-0-value",
            "Write the text (at most 1600 characters).",
        ),
    ]
    for form, field, message in cases:
        response = admin_client.post("/automations/new", data=form)
        assert response.status_code == 400, message
        assert _error(response.data.decode(), field) == message, (field, message)
    session.expire_all()
    assert (session.query(Automation).count(), session.query(AutomationStep).count()) == before


def test_delete(admin_client, session, demo):
    tagger_id = _vip_tagger(session).id
    assert admin_client.post(f"/automations/{tagger_id}/delete").status_code == 302
    session.expire_all()
    assert session.get(Automation, tagger_id) is None
    assert session.query(AutomationStep).filter_by(automation_id=tagger_id).count() == 0


def test_agent_gets_403(agent_client, session, demo):
    tagger_id = _vip_tagger(session).id
    assert agent_client.get("/automations/").status_code == 403
    assert agent_client.post("/automations/new", data=_form()).status_code == 403
    assert agent_client.post(f"/automations/{tagger_id}/pause").status_code == 403
    assert agent_client.post(f"/automations/{tagger_id}/delete").status_code == 403
    session.expire_all()
    assert session.get(Automation, tagger_id).status == "active"
