from __future__ import annotations

import html
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
    return html.unescape(match.group(1)) if match else ""


def _tab_count(page: str, label: str) -> int:
    return int(re.search(rf'>{label} <span class="count">(\d+)</span>', page).group(1))


def _vip_tagger(session) -> Automation:
    return session.query(Automation).filter_by(name="Tag missed VIP callers").one()


def test_list_has_status_tabs_trigger_filter_and_sort(admin_client, session, demo):
    with unit_of_work() as s:
        for name, trigger in (("Answered hook", "call_ended"), ("Voicemail hook", "number_status")):
            steps = [{"action": "webhook", "value": "https://hooks.example/x"}]
            a = automations.create_automation(
                s, demo["tenant_id"], {"name": name, "trigger": trigger, "steps": steps}, None
            )
        automations.set_status(s, demo["tenant_id"], a.id, "paused", None)
    page = admin_client.get("/automations/").data.decode()
    assert (_tab_count(page, "All"), _tab_count(page, "Active"), _tab_count(page, "Paused")) == (3, 2, 1)
    row = re.search(r'<tr id="automation-\d+">.*?Tag missed VIP callers</a>.*?</tr>', page, re.S).group(0)
    assert "A call on a line is missed" in row and "Tag the caller → Call the caller back" in row
    assert "Any line" in row
    page = admin_client.get("/automations/?status=paused").data.decode()
    assert "Voicemail hook" in page and "Answered hook" not in page
    page = admin_client.get("/automations/?trigger=call_ended").data.decode()
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
        trigger="call_ended",
        line_id=str(line_id),
        direction="inbound",
        min_duration="30",
        max_duration="",
        **{
            "steps-1-action": "add_tag",
            "steps-1-value": str(partner),
            "steps-2-action": "",  # an empty added row is ignored
            "steps-3-action": "wait",
            "steps-3-value": "90",
            "steps-4-action": "webhook",
            "steps-4-value": "https://crm.example/hook",
            "steps-5-action": "callback",
            "steps-5-value": str(demo["agent_id"]),
            "steps-6-action": "callback",
            "steps-6-value": "",
        },
    )
    response = admin_client.post("/automations/new", data=form)
    # With a webhook step the page shows the new signing secret, this once (never in a flash).
    assert response.status_code == 200, response.data[-2000:]
    page = response.data.decode()
    secret = re.search(
        r'id="webhook-secret" type="text" readonly aria-readonly="true" value="(whsec_[^"]+)"', page
    )
    assert secret, page[-2000:]
    automation = session.query(Automation).filter_by(name="Text missed callers").one()
    assert (automation.trigger, automation.line_id, automation.status) == ("call_ended", line_id, "active")
    assert automation.conditions == {"direction": "inbound", "min_duration": 30, "max_duration": 0}
    assert [(s.position, s.action, s.params) for s in automation.steps] == [
        (0, "send_text", {"text": "Sorry we missed you, we call back soon."}),
        (1, "add_tag", {"tag_id": partner}),
        (2, "wait", {"seconds": 90}),
        (3, "webhook", {"url": "https://crm.example/hook"}),
        (4, "callback", {"user_id": demo["agent_id"]}),
        (5, "callback", {}),
    ]
    assert automation.webhook_secret_enc and secret[1] not in automation.webhook_secret_enc
    assert automations.webhook_secret(automation) == secret[1]
    # Shown once: the automation's page never shows it again.
    edit_page = admin_client.get(f"/automations/{automation.id}").data.decode()
    assert secret[1] not in edit_page and "New webhook secret" in edit_page


def test_action_change_refreshes_the_value_field_without_saving(admin_client, session, demo):
    before = session.query(Automation).count()
    form = _form(refresh="1", **{"steps-0-action": "callback", "steps-1-action": "webhook"})
    response = admin_client.post("/automations/new", data=form)
    assert response.status_code == 200
    page = response.data.decode()
    assert '<select id="steps-0-value" name="steps-0-value"' in page and ">Alice Agent</option>" in page
    assert "Nobody: a task on the line&#39;s activity" in page
    assert '<input id="steps-1-value" name="steps-1-value" type="url"' in page
    assert session.query(Automation).count() == before


def test_edit_replaces_steps_and_keeps_status(admin_client, session, demo):
    tagger = _vip_tagger(session)
    tagger_id = tagger.id
    automations_page = admin_client.get(f"/automations/{tagger_id}").data.decode()
    assert 'name="steps-1-value"' in automations_page
    assert admin_client.post(f"/automations/{tagger_id}/pause").status_code == 302
    form = _form(name="Tag missed VIP callers", trigger="text_received")
    assert admin_client.post(f"/automations/{tagger_id}", data=form).status_code == 302
    session.expire_all()
    tagger = session.get(Automation, tagger_id)
    assert (tagger.trigger, tagger.status) == ("text_received", "paused")
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
            "Choose one of: call_missed, call_ended, text_received, number_status, schedule.",
        ),
        (
            _form(
                trigger="schedule",
                schedule="61 * * * *",
                **{"steps-0-action": "webhook", "steps-0-value": "https://a.example/"},
            ),
            "schedule",
            "Five cron fields: minute hour day month weekday, like 0 9 * * mon-fri (UTC).",
        ),
        (
            _form(trigger="schedule", schedule="0 9 * * *"),
            "steps-0-action",
            "This trigger has no caller to text, call back or tag: use wait and webhook steps.",
        ),
        (
            _form(trigger="call_ended", direction="sideways"),
            "direction",
            "Choose one of: any, inbound, outbound, internal.",
        ),
        (_form(trigger="call_ended", min_duration="-1"), "min_duration", "Enter a number from 0 to 86400."),
        (
            _form(trigger="call_ended", min_duration="60", max_duration="30"),
            "max_duration",
            "At least the minimum duration (0: no maximum).",
        ),
        (
            _form(
                trigger="number_status",
                number_status="sold",
                **{"steps-0-action": "webhook", "steps-0-value": "https://a.example/"},
            ),
            "number_status",
            "Choose one of: any, pending, active, high_risk, to_be_cancelled, released.",
        ),
        (
            _form(**{"steps-0-action": "wait", "steps-0-value": "0"}),
            "steps-0-value",
            "Enter a number from 1 to 604800.",
        ),
        (
            _form(**{"steps-0-action": "wait", "steps-0-value": "soon"}),
            "steps-0-value",
            "Enter a whole number.",
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
            _form(**{"steps-1-action": "callback", "steps-1-value": "999999"}),
            "steps-1-value",
            "Choose a user, or none for a task on the line's activity.",
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
