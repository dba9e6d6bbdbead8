"""The OpenAPI 3 document is generated from the schemas and holds together."""

from __future__ import annotations

import re

RESOURCES = (
    "users", "teams", "numbers", "lines", "ring-groups", "queues",
    "contacts", "tags", "broadcasts", "automations", "nodes",
)  # fmt: skip
METHODS = {"get", "post", "put", "patch", "delete"}


def _refs(value: object) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def _resolve(spec: dict, ref: str) -> object:
    assert ref.startswith("#/"), ref
    node: object = spec
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, ref
        node = node[part]
    return node


def test_document_is_structurally_valid(api, app):
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
    spec = response.json
    assert spec["openapi"] == "3.0.3"
    assert spec["info"]["title"] == "Switchboard" and spec["info"]["version"] == "v1"
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `switchboard create-token <email>`.",
    }
    for ref in _refs(spec):
        assert _resolve(spec, ref) is not None

    paths = spec["paths"]
    for resource in RESOURCES:
        collection = paths[f"/api/v1/{resource}"]
        assert {"get", "post"} <= set(collection), resource
        items = [p for p in paths if re.fullmatch(rf"/api/v1/{resource}/\{{\w+\}}", p)]
        assert len(items) == 1, resource
        assert {"get", "patch", "delete"} <= set(paths[items[0]]), resource

    operations = 0
    for path, item in paths.items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), path
        for parameter in item.get("parameters", []):
            schema = parameter["schema"]
            assert parameter["required"] is True
            # an id, a choice, or a bounded PBX identifier (a live call's leg id)
            assert schema["type"] == "integer" or (
                schema["type"] == "string" and (schema.get("enum") or schema.get("maxLength"))
            ), path
        for method, operation in item.items():
            if method not in METHODS:
                continue
            operations += 1
            assert operation["responses"], (path, method)
            assert all(re.fullmatch(r"[1-5]\d\d|default", str(code)) for code in operation["responses"])
            if method in ("post", "patch", "put") and "requestBody" in operation:
                content = operation["requestBody"]["content"]  # JSON, or a file upload's form
                schema = (content.get("application/json") or content["multipart/form-data"])["schema"]
                assert _resolve(spec, schema["$ref"])
    routes = [
        m
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and not rule.rule.endswith("openapi.json")
        for m in rule.methods - {"HEAD", "OPTIONS"}
    ]
    assert operations == len(routes)


def test_schemas_come_from_marshmallow_and_hide_secrets(api):
    schemas = api.get("/api/v1/openapi.json").json["components"]["schemas"]
    user = schemas["User"]["properties"]
    assert user["team_ids"] == {"readOnly": True, "type": "array", "items": {"type": "integer"}}
    assert not {"password_hash", "sip_secret_enc", "password"} & set(user)
    assert "password" in schemas["UserCreate"]["properties"]
    assert schemas["UserCreate"]["required"] == ["email", "name"]
    assert "required" not in schemas["UserUpdate"]
    node = schemas["Node"]["properties"]
    assert not {"secret", "secret_enc"} & set(node)
    assert "secret" in schemas["NodeCreate"]["required"]
    page = schemas["UserPage"]["properties"]
    assert page["items"]["items"] == {"$ref": "#/components/schemas/User"}
    assert {"total", "page", "per_page"} <= set(page)
    assert schemas["RingGroupUpdate"]["properties"]["members"]["items"] == {
        "$ref": "#/components/schemas/RingMemberInput"
    }
    assert schemas["Error"]["properties"]["errors"]["type"] == "object"


def test_list_parameters_are_documented(api):
    spec = api.get("/api/v1/openapi.json").json
    parameters = {p["name"]: p for p in spec["paths"]["/api/v1/users"]["get"]["parameters"]}
    assert {"q", "sort", "page", "per_page", "status", "role", "team_id"} <= set(parameters)
    assert parameters["per_page"]["schema"]["maximum"] == 200
    assert parameters["status"]["schema"]["enum"] == ["active", "paused", "suspended"]
