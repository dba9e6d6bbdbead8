"""GET /api/v1/users/{id}/diagnosis."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from control import listener_status, pbx_reads
from control.db import unit_of_work
from control.models import User
from control.services import nodes
from tests.web.test_nodes import NODE


def test_the_diagnosis_of_a_user(api, agent_api, demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as s:
        nodes.create_node(s, NODE | {"tenant_id": demo["tenant_id"]}, None)
        alice = s.scalars(select(User.id).filter_by(tenant_id=demo["tenant_id"], extension="1001")).one()

    def ask_all(questions: dict[str, Any], timeout: float | None = None) -> dict:
        return {node: None for node in questions}

    monkeypatch.setattr(pbx_reads, "ask_all", ask_all)
    listener_status.beat("pbx-1", None, since=time.time(), ttl=120)  # its listener is connected
    try:
        answer = api.get(f"/api/v1/users/{alice}/diagnosis")
    finally:
        listener_status.clear("pbx-1", None)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["user_id"] == alice and body["extension"] == "1001" and body["registered"] is False
    [node] = body["nodes"]
    assert (
        node["name"] == "pbx-1"
        and node["answered"] is False
        and node["error"] == "the node did not answer in time"
    )
    assert node["endpoint_present"] is None and node["contacts"] == []
    assert body["findings"][0]["level"] == "problem"
    assert api.get("/api/v1/users/999999/diagnosis").status_code == 404
    assert agent_api.get(f"/api/v1/users/{alice}/diagnosis").status_code == 403
