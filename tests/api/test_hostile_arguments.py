"""No input makes a 500: huge, negative and garbage integers in every page's and every API route's
arguments, and lone surrogates in every JSON body, answer 400/404/422 naming the argument."""

from __future__ import annotations

import re
from typing import Any

import pytest

HUGE = "9" * 30
BAD_INTEGERS = (HUGE, "-1", "0", "abc", "1e3", "٣", "9" * 5000)
# Every integer query argument an HTML page reads.
PAGE_ARGUMENTS = {
    "/users/": ("page", "team"),
    "/teams/": ("page",),
    "/tags/": ("page",),
    "/lines/": ("page",),
    "/numbers/": ("page",),
    "/ring-groups/": ("page",),
    "/queues/": ("page",),
    "/contacts/": ("page", "tag"),
    "/contacts/team": ("page",),
    "/broadcasts/": ("page",),
    "/automations/": ("page",),
    "/nodes/": ("page",),
    "/audit/": ("page",),
    "/calls/": ("page", "user_id", "line_id"),
    "/calls/export.csv": ("user_id", "line_id"),
    "/activity/": ("user_id", "line_id"),
    "/activity/calls": ("page",),
}
NAMED = re.compile(rb"\b(page|team|tag|user_id|line_id)\b")


def _get_rules(app: Any) -> list[Any]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static" and not rule.rule.startswith("/api/")
    ]


def test_every_integer_query_argument_of_the_pages_is_bounded(admin_client, app):
    listed = {rule.rule for rule in _get_rules(app)}
    assert set(PAGE_ARGUMENTS) <= listed
    for path, names in PAGE_ARGUMENTS.items():
        for name in names:
            for value in BAD_INTEGERS:
                response = admin_client.get(path, query_string={name: value})
                assert response.status_code == 400, (path, name, value[:20], response.status_code)
                body = response.get_data()
                assert name.encode() in body and NAMED.search(body), (path, name)
            assert admin_client.get(path, query_string={name: "1"}).status_code in (200, 404), (path, name)


def test_an_agent_reaches_no_500_on_activity(agent_client):
    for path in ("/activity/", "/activity/calls"):
        for value in BAD_INTEGERS:
            response = agent_client.get(path, query_string={"page": value, "user_id": value})
            assert response.status_code in (200, 400), (path, value[:20])


@pytest.mark.parametrize("value", [HUGE, "2147483648", "0"])
def test_every_integer_in_a_page_path_is_bounded(admin_client, app, value):
    """`/users/<int:user_id>` and the like: a number past the ids' range is a 404, never a 500."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or not rule.arguments:
            continue
        converters = {name: type(rule._converters[name]).__name__ for name in rule.arguments}
        if set(converters.values()) - {"IdConverter", "IntegerConverter"}:
            continue
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = admin_client.open(url, method=method)
            assert response.status_code == 404, (method, url[:60], response.status_code)


def test_form_ids_that_overflow_are_refused(admin_client, session):
    from control.models import Line, PbxNode, PhoneNumber

    number = session.query(PhoneNumber).first()
    line = session.query(Line).first()
    response = admin_client.post(f"/numbers/{number.id}/transfer", data={"transfer_line_id": HUGE})
    assert response.status_code == 400
    response = admin_client.get("/broadcasts/contact-options", query_string={"contact_ids": HUGE})
    assert response.status_code == 200
    response = admin_client.post(f"/lines/{line.id}", data={"name": line.name, "number_ids": HUGE})
    assert response.status_code in (302, 400)
    node = session.query(PbxNode).first()
    if node is not None:
        response = admin_client.post(f"/nodes/{node.id}/rollback", data={"version": HUGE})
        assert response.status_code in (302, 400)


# --- JSON bodies ---------------------------------------------------------------------------------

LONE = "\ud800"


def _string_properties(spec: dict, schema: dict, prefix: str = "") -> list[tuple[list[Any], str]]:
    """(path into the body, service-style field name) of every string a request body may hold."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    found: list[tuple[list[Any], str]] = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("readOnly"):
            continue
        field = f"{prefix}-{name}" if prefix else name
        if "$ref" in prop:
            prop = spec["components"]["schemas"][prop["$ref"].rsplit("/", 1)[1]]
        kinds = prop.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "string" in kinds:
            found.append(([name], field))
        elif "array" in kinds:
            items = prop.get("items", {})
            if "$ref" in items or items.get("type") == "object":
                for path, inner in _string_properties(spec, items, f"{field}-0"):
                    found.append(([name, 0, *path], inner))
            elif items.get("type") == "string":
                found.append(([name, 0], field))
    return found


def _body_with(path: list[Any], value: str) -> Any:
    head, *rest = path
    if isinstance(head, int):
        return [_body_with(rest, value) if rest else value]
    return {head: _body_with(rest, value) if rest else value}


def test_a_lone_surrogate_in_any_json_body_names_the_field(api):
    spec = api.get("/api/v1/openapi.json").json
    checked = 0
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("post", "put", "patch"):
                continue
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if not content:
                continue
            url = re.sub(r"\{\w+\}", "1", template)
            for path, field in _string_properties(spec, content["schema"]):
                response = api.open(method.upper(), url, json=_body_with(path, f"a{LONE}b"))
                assert response.status_code in (400, 422), (method, url, field, response.status_code)
                assert field in response.json.get("errors", {}), (method, url, field, response.json)
                checked += 1
    assert checked > 60


def test_a_lone_surrogate_in_a_key_or_deep_value_is_refused(api):
    response = api.post("/api/v1/teams", json={"name": "Ok", LONE: 1})
    assert response.status_code in (400, 422)
    response = api.post(
        "/api/v1/ring-groups",
        json={"name": "G", "extension": "7711", "members": [{"kind": "external", "target": LONE}]},
    )
    assert response.status_code in (400, 422) and "members-0-target" in response.json["errors"]


@pytest.mark.parametrize("text", ["\x00", "a\x00b", "\ufffd", "%", "\\"])
def test_any_search_text_is_answered(api, admin_client, text):
    """PostgreSQL refuses a NUL in a string: a search for one still answers."""
    for path in ("/api/v1/users", "/api/v1/contacts", "/api/v1/numbers", "/api/v1/nodes"):
        assert api.get(path, query_string={"q": text}).status_code in (200, 422), path
    for path in ("/users/", "/contacts/", "/numbers/", "/audit/"):
        assert admin_client.get(path, query_string={"q": text, "action": text}).status_code in (200, 400), (
            path
        )


def test_a_nul_in_a_body_or_a_query_names_the_field_after_the_token_check(api, app):
    response = api.post("/api/v1/teams", json={"name": "a\x00b"})
    assert response.status_code == 422 and "name" in response.json["errors"]
    response = api.get("/api/v1/users", query_string={"q": "\x00"})
    assert response.status_code == 422 and response.json["errors"] == {
        "q": ["A NUL character is not allowed here."]
    }
    outsider = app.test_client().get("/api/v1/users", query_string={"q": "\x00"})
    assert outsider.status_code == 401
