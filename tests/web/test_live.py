from __future__ import annotations

import threading
import time

import orjson

from control import live


def test_event_stream_needs_login(client, demo):
    assert client.get("/live/events").status_code == 302


def test_event_stream_delivers_published_presence(admin_client, demo):
    response = admin_client.get("/live/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = response.response
    assert b"connected" in next(chunks)

    def later() -> None:
        time.sleep(0.3)
        live.publish_all([(demo["tenant_id"], {"type": "presence", "user_id": 7, "state": "in_call"})])

    threading.Thread(target=later).start()
    chunk = next(chunks)
    assert chunk.startswith(b"data: ")
    assert orjson.loads(chunk[6:].strip())["state"] == "in_call"
    response.close()


def test_users_and_team_contacts_pages_show_presence_dots(admin_client, demo):
    from control.db import unit_of_work
    from control.models import SipRegistration, User
    from control.services import presence

    with unit_of_work() as s:
        s.add(SipRegistration(node="n", user_id=demo["agent_id"], contact="sip:1001@127.0.0.1"))
        presence.set_line_state(s, s.get(User, demo["agent_id"]), registrations=1)
    for url in ("/users/", "/contacts/team"):
        page = admin_client.get(url).data.decode()
        assert f'data-presence-user="{demo["agent_id"]}" data-presence="available"' in page
        assert f'data-presence-user="{demo["admin_id"]}" data-presence="offline"' in page
