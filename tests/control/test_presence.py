from __future__ import annotations

import orjson

from control import live
from control.db import unit_of_work
from control.models import User
from control.redis_conn import redis_client
from control.services import presence, users


def _state(tenant_id: int, user_id: int) -> str:
    with unit_of_work() as s:
        return presence.tenant_presence(s, tenant_id, [user_id])[0].state


def test_four_states_from_registration_calls_and_choice(database_url, demo):
    t, agent = demo["tenant_id"], demo["agent_id"]
    assert _state(t, agent) == "offline"
    with unit_of_work() as s:
        presence.set_line_state(s, s.get(User, agent), registrations=1)
    assert _state(t, agent) == "available"
    with unit_of_work() as s:
        presence.set_line_state(s, s.get(User, agent), active_calls=1)
    assert _state(t, agent) == "in_call"
    with unit_of_work() as s:
        users.set_flag(s, t, agent, "dnd", True, None)
    assert _state(t, agent) == "in_call"
    with unit_of_work() as s:
        presence.set_line_state(s, s.get(User, agent), active_calls=0)
    assert _state(t, agent) == "unavailable"
    with unit_of_work() as s:
        presence.set_line_state(s, s.get(User, agent), registrations=0)
    assert _state(t, agent) == "offline"


def test_presence_change_is_published_after_commit(database_url, demo):
    t, agent = demo["tenant_id"], demo["agent_id"]
    live.register_publish_handlers()
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live.channel(t))
    try:
        with unit_of_work() as s:
            presence.set_line_state(s, s.get(User, agent), registrations=1)
            assert pubsub.get_message(timeout=0.2) is None
        message = pubsub.get_message(timeout=2)
        assert message is not None
        body = orjson.loads(message["data"])
        assert body == body | {"type": "presence", "user_id": agent, "state": "available"}
    finally:
        pubsub.close()
        from control import effects

        effects.clear_handlers()
