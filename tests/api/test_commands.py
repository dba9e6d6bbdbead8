"""The command API without a PBX: validation, authorisation, the rate limit, the record and the
hand-over to the node's Redis stream (the executor's side is proven in
tests/integration/test_commands.py)."""

from __future__ import annotations

import orjson
import pytest
import redis
from sqlalchemy import select

from control import command_channel, db
from control.models import AuditLog, Command
from control.redis_conn import redis_client
from control.services import commands, numbers
from control.services.queues import memberships
from tests.api.conftest import ApiClient
from tests.command_nodes import add_node

NODE = "api-commands-node"


@pytest.fixture()
def node(demo: dict) -> str:
    add_node(demo["tenant_id"], NODE, demo["agent_id"])
    try:
        redis_client().delete(command_channel.stream(NODE))
    except redis.RedisError:
        pytest.fail("the command tests need Redis (REDIS_URL)")
    return NODE


def _stream(node: str) -> list[dict]:
    return [
        orjson.loads(fields[b"command"]) for _, fields in redis_client().xrange(command_channel.stream(node))
    ]


def test_an_agent_calls_out_from_their_own_phone(agent_api: ApiClient, demo: dict, node: str) -> None:
    answer = agent_api.post("/api/v1/calls", json={"target": "+1 415 555 0123"})
    assert answer.status_code == 202, answer.json
    body = answer.json
    assert body["state"] == "queued" and body["node"] == node and body["user_id"] == demo["agent_id"]
    assert body["target"] == "+14155550123" and body["created_at"].endswith("Z")
    (entry,) = _stream(node)
    assert entry["id"] == body["id"] and entry["kind"] == "originate"
    assert entry["params"]["endpoint"] == "1001" and entry["params"]["target"] == "+14155550123"
    assert agent_api.get(f"/api/v1/commands/{body['id']}").json["state"] == "queued"
    with db.unit_of_work() as s:
        assert s.scalar(select(AuditLog).where(AuditLog.action == "command.originate")) is not None


def test_an_agent_acts_only_for_themselves(
    agent_api: ApiClient, api: ApiClient, demo: dict, node: str
) -> None:
    other = agent_api.post("/api/v1/calls", json={"user_id": demo["admin_id"], "target": "1002"})
    assert other.status_code == 403
    mine = api.post("/api/v1/calls", json={"user_id": demo["agent_id"], "target": "1002"})
    assert mine.status_code == 202, mine.json  # an admin for anyone of the tenant
    # the admin's command on Alice's behalf is visible to Alice; an admin's own is not
    assert agent_api.get(f"/api/v1/commands/{mine.json['id']}").status_code == 200
    dnd = agent_api.put(f"/api/v1/users/{demo['admin_id']}/dnd", json={"dnd": True})
    assert dnd.status_code == 403
    assert _stream(node) and len(_stream(node)) == 1


def test_bad_input_names_the_field_and_sends_nothing(api: ApiClient, demo: dict, node: str) -> None:
    with db.unit_of_work() as s:
        numbers.create_number(s, demo["tenant_id"], {"number": "+12125550177", "do_not_use": True}, None)
    cases = [
        ({"user_id": demo["agent_id"], "target": "12"}, "target"),
        ({"user_id": demo["agent_id"], "target": "not a number"}, "target"),
        ({"user_id": demo["agent_id"], "target": "1002", "caller_id": "+12125550177"}, "caller_id"),
        ({"user_id": demo["agent_id"], "target": "1002", "caller_id": "+14155550100"}, "caller_id"),
        ({"user_id": demo["agent_id"]}, "target"),
        ({"user_id": demo["agent_id"], "target": "1002", "ring": 1}, "ring"),
    ]
    for body, field in cases:
        answer = api.post("/api/v1/calls", json=body)
        assert answer.status_code == 422, (body, answer.json)
        assert field in answer.json["errors"], (body, answer.json)
    nobody = api.post("/api/v1/calls", json={"user_id": demo["admin_id"], "target": "1002"})
    assert nobody.status_code == 409 and nobody.json["message"] == "no registered phone"
    for loose in ("true", 1, 0, None):
        answer = api.put(f"/api/v1/users/{demo['agent_id']}/dnd", json={"dnd": loose})
        assert answer.status_code == 422 and "dnd" in answer.json["errors"], loose
    long_text = api.post("/api/v1/messages", json={"line_id": 1, "to": "+14155550123", "body": "x" * 1601})
    assert long_text.status_code == 422 and "body" in long_text.json["errors"]
    assert _stream(node) == []
    with db.unit_of_work() as s:
        assert s.scalars(select(Command)).all() == []


def test_a_stuck_button_is_rate_limited(agent_api: ApiClient, node: str) -> None:
    for _ in range(10):
        assert agent_api.post("/api/v1/calls", json={"target": "1002"}).status_code == 202
    answer = agent_api.post("/api/v1/calls", json={"target": "1002"})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    assert len(_stream(node)) == 10


def test_dnd_records_one_command_per_node_and_shows_unavailable(
    agent_api: ApiClient, demo: dict, node: str
) -> None:
    answer = agent_api.put(f"/api/v1/users/{demo['agent_id']}/dnd", json={"dnd": True})
    assert answer.status_code == 200, answer.json
    assert answer.json["dnd"] is True and answer.json["presence"] == "unavailable"
    (entry,) = _stream(node)
    assert entry["kind"] == "dnd" and entry["params"]["on"] is True
    with db.unit_of_work() as s:
        queues = [q.extension for q, _ in memberships(s, demo["tenant_id"], demo["agent_id"])]
    assert queues, "Alice is in the demo's queues"
    assert entry["params"]["queues"] == [{"extension": ext, "paused": True} for ext in queues]


def test_a_command_is_claimed_once_and_an_old_one_expires(agent_api: ApiClient, node: str) -> None:
    from datetime import timedelta

    first = agent_api.post("/api/v1/calls", json={"target": "1002"}).json["id"]
    second = agent_api.post("/api/v1/calls", json={"target": "1002"}).json["id"]
    with db.unit_of_work() as s:
        old = s.get(Command, second)
        assert old is not None
        old.created_at -= commands.EXPIRES_AFTER + timedelta(seconds=1)
    with db.unit_of_work() as s:
        assert commands.claim(s, first) is True
    with db.unit_of_work() as s:
        assert commands.claim(s, first) is False, "never sent twice"
        assert commands.claim(s, second) is False
    with db.unit_of_work() as s:
        assert s.get(Command, first).state == "sending"
        expired = s.get(Command, second)
        assert expired.state == "failed" and expired.answer.startswith("expired")
        assert commands.abandon_in_flight(s, node) == [first]
    with db.unit_of_work() as s:
        assert s.get(Command, first).state == "unknown"


def test_an_agent_takes_themselves_out_of_a_queue(agent_api: ApiClient, demo: dict, node: str) -> None:
    with db.unit_of_work() as s:
        (queue, _), *_ = memberships(s, demo["tenant_id"], demo["agent_id"])
        queue_id, queue_ext = queue.id, queue.extension
    answer = agent_api.put(f"/api/v1/users/{demo['agent_id']}/queues/{queue_id}", json={"active": False})
    assert answer.status_code == 200, answer.json
    assert answer.json == {"user_id": demo["agent_id"], "queue_id": queue_id, "active": False}
    (entry,) = _stream(node)
    assert entry["kind"] == "queue_pause"
    assert entry["params"] | {"domain": ""} == {
        "extension": "1001",
        "queue": queue_ext,
        "paused": True,
        "domain": "",
    }
    other = agent_api.put(f"/api/v1/users/{demo['admin_id']}/queues/{queue_id}", json={"active": False})
    assert other.status_code in (403, 404)
    assert (
        agent_api.put(f"/api/v1/users/{demo['agent_id']}/queues/{queue_id}", json={"active": 0}).status_code
        == 422
    )
