"""No secret leaves the API, except a SIP secret on its explicit, audited reveal."""

from __future__ import annotations

import json

from control import crypto
from control.models import ApiToken, PbxNode, User

RESOURCES = (
    "users", "teams", "numbers", "lines", "ring-groups", "queues",
    "contacts", "tags", "broadcasts", "automations", "nodes",
)  # fmt: skip
SECRET_KEYS = {"password", "password_hash", "secret", "sip_secret", "sip_secret_enc", "secret_enc", "digest"}


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_no_secret_in_any_output(api, session, demo):
    node = api.post(
        "/api/v1/nodes",
        json={
            "name": "fs-1",
            "kind": "freeswitch",
            "host": "10.0.0.5",
            "secret": "esl-secret-ClueCon-42",
            "config_dir": "/etc/freeswitch",
        },
    )
    assert node.status_code == 201
    created = api.post(
        "/api/v1/users",
        json={
            "name": "Gus",
            "email": "gus@acme.example",
            "extension": "1020",
            "password": "gus-password-123",
        },
    )
    assert created.status_code == 201
    session.expire_all()
    people = session.query(User).all()
    secrets = {crypto.decrypt(u.sip_secret_enc) for u in people if u.sip_secret_enc}
    assert len(secrets) == len(people) == 7
    secrets |= {u.password_hash for u in people if u.password_hash} | {u.sip_secret_enc for u in people}
    secrets |= {"esl-secret-ClueCon-42", "gus-password-123", demo["password"]}
    secrets |= {row.secret_enc for row in session.query(PbxNode)} | {
        t.digest for t in session.query(ApiToken)
    }
    secrets.discard(None)

    answers = [node, created, api.get("/api/v1/openapi.json")]
    for resource in RESOURCES:
        listing = api.get(f"/api/v1/{resource}", query_string={"per_page": 200})
        assert listing.status_code == 200 and listing.json["total"] > 0, resource
        answers.append(listing)
        for item in listing.json["items"]:
            answers.append(api.get(f"/api/v1/{resource}/{item['id']}"))
    answers.append(api.patch(f"/api/v1/users/{demo['agent_id']}", json={"password": "new-agent-password"}))
    answers.append(api.patch(f"/api/v1/nodes/{node.json['id']}", json={"secret": "rotated-esl-secret"}))
    secrets.add("new-agent-password")
    secrets.add("rotated-esl-secret")

    assert len(answers) > 40
    for answer in answers:
        assert answer.status_code in (200, 201), answer.request.path
        text = answer.get_data(as_text=True)
        leaked = [secret for secret in secrets if secret in text]
        assert not leaked, (answer.request.path, leaked)
        if answer.request.path != "/api/v1/openapi.json":
            assert not _keys(json.loads(text)) & SECRET_KEYS, answer.request.path


def test_the_reveal_is_the_only_way_to_a_sip_secret(api, agent_api, session, demo):
    secret = crypto.decrypt(session.get(User, demo["agent_id"]).sip_secret_enc)
    assert secret not in api.get(f"/api/v1/users/{demo['agent_id']}").get_data(as_text=True)
    denied = agent_api.post(f"/api/v1/users/{demo['agent_id']}/sip-secret")
    assert denied.status_code == 403 and secret not in denied.get_data(as_text=True)
    assert api.post(f"/api/v1/users/{demo['agent_id']}/sip-secret").json["sip_secret"] == secret
