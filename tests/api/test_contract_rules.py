"""The pieces of the API's contract one by one: UTC date-times, PATCH needs a body, strict booleans
and integers, bounded dates, and the services' rules stated in the document from their constants."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control import validators
from control.services import (
    automations,
    broadcasts,
    calls,
    contacts,
    deploys,
    lines,
    nodes,
    numbers,
    queues,
    ring_groups,
    tags,
    teams,
    users,
)
from web.api.datetimes import DATE, DATE_TIME_RE


def _spec(api) -> dict:  # type: ignore[no-untyped-def]
    return api.get("/api/v1/openapi.json").json


def _schema(spec: dict, name: str) -> dict:
    return spec["components"]["schemas"][name]


def test_date_times_are_answered_in_utc_with_z(api):
    for path in ("/api/v1/teams/1", "/api/v1/users/1", "/api/v1/broadcasts/1"):
        created = api.get(path).json["created_at"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", created), (path, created)


def test_a_patch_without_a_body_is_a_400_on_every_operation(api):
    spec = _spec(api)
    patches = [path for path, item in spec["paths"].items() if "patch" in item]
    assert len(patches) >= 10
    for template in patches:
        url = re.sub(r"\{\w+\}", "1", template)
        response = api.patch(url)
        assert response.status_code == 400, (url, response.status_code)
        assert response.json["message"] == "Send the fields to change as a JSON object."
        response = api.patch(url, data="  ", content_type="application/json")
        assert response.status_code == 400, url


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("put", "/api/v1/apply", {"auto_apply": 0}, "auto_apply"),
        ("put", "/api/v1/apply", {"auto_apply": "true"}, "auto_apply"),
        ("put", "/api/v1/queues/1/members/2", {"active": 1}, "active"),
        ("patch", "/api/v1/users/2", {"dnd": "yes"}, "dnd"),
        ("patch", "/api/v1/numbers/1", {"do_not_use": 1}, "do_not_use"),
        ("patch", "/api/v1/ring-groups/1", {"timeout": "30"}, "timeout"),
        ("patch", "/api/v1/ring-groups/1", {"timeout": True}, "timeout"),
        ("patch", "/api/v1/ring-groups/1", {"timeout": 30.5}, "timeout"),
        ("patch", "/api/v1/users/2", {"team_ids": ["1"]}, "team_ids-0"),
    ],
)
def test_booleans_and_integers_are_strict(api, method, path, body, field):
    response = api.open(method.upper(), path, json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["errors"], response.json


def test_booleans_in_query_strings_are_the_words(api):
    assert api.get("/api/v1/calls?missed=true").status_code == 200
    assert api.get("/api/v1/calls?missed=1").status_code == 422


@pytest.mark.parametrize("value", ["0617-03-01T10:00:00Z", "2100-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
def test_dates_outside_the_years_are_refused(api, value):
    response = api.post(
        "/api/v1/broadcasts",
        json={"name": "B", "message": "m", "tag_ids": [1], "scheduled_at": value},
    )
    assert response.status_code == 422 and "scheduled_at" in response.json["errors"]
    assert api.get(f"/api/v1/calls?since={value[:10]}").status_code == 422


def test_a_date_with_an_offset_is_stored_in_utc(api):
    tag_id = api.get("/api/v1/tags").json["items"][0]["id"]
    response = api.post(
        "/api/v1/broadcasts",
        json={"name": "B", "message": "m", "tag_ids": [tag_id], "scheduled_at": "2030-06-01T10:00:00+02:00"},
    )
    assert response.status_code == 201, response.json
    assert response.json["scheduled_at"] == "2030-06-01T08:00:00Z"


def test_the_forms_bound_dates_too():
    errors: validators.Errors = {}
    assert validators.when(errors, {"at": "0617-03-01 10:00"}, "at") is not None
    assert errors == {"at": ["Enter a date from 2000 to 2099."]}


def test_the_date_pattern_is_exactly_the_real_days_of_the_years():
    day_re = re.compile(f"^{DATE}$")
    for year in (1999, 2000, 2001, 2004, 2024, 2099, 2100):
        for month in range(1, 13):
            for day in range(1, 32):
                text = f"{year}-{month:02d}-{day:02d}"
                try:
                    real = date(year, month, day).year in validators.DATE_YEARS
                except ValueError:
                    real = False
                assert bool(day_re.match(text)) == real, text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(DATE_TIME_RE, fullmatch=True))
def test_every_date_time_the_document_allows_is_accepted(text):
    errors: validators.Errors = {}
    assert validators.when(errors, {"at": text}, "at") is not None and not errors, text


SORTED_LISTS = {
    "/api/v1/users": users.SORTS,
    "/api/v1/teams": teams.SORTS,
    "/api/v1/tags": tags.SORTS,
    "/api/v1/lines": lines.SORTS,
    "/api/v1/numbers": numbers.SORTS,
    "/api/v1/ring-groups": ring_groups.SORTS,
    "/api/v1/queues": queues.SORTS,
    "/api/v1/contacts": contacts.SORTS,
    "/api/v1/broadcasts": broadcasts.SORTS,
    "/api/v1/automations": automations.SORTS,
    "/api/v1/nodes": nodes.SORTS,
    "/api/v1/calls": calls.SORTS,
    "/api/v1/nodes/{node_id}/deploys": deploys.SORTS,
}


def test_sort_keys_are_in_the_document_and_every_one_works(api):
    spec = _spec(api)
    for path, sorts in SORTED_LISTS.items():
        parameters = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        keys = [*sorts, *(f"-{key}" for key in sorts)]
        assert [key for key in parameters["sort"]["schema"]["enum"] if key is not None] == keys, path
        if "{" in path:
            continue
        for key in keys:
            assert api.get(f"{path}?sort={key}").status_code == 200, (path, key)
        response = api.get(f"{path}?sort=nope")
        assert response.status_code == 422 and "sort" in response.json["errors"]


def test_the_services_rules_are_in_the_document(api):
    spec = _spec(api)
    queue = _schema(spec, "QueueCreate")["properties"]
    assert queue["extension"]["pattern"] == f"^(?:{validators.EXTENSION.pattern.pattern})$"
    assert (queue["max_wait"]["minimum"], queue["max_wait"]["maximum"]) == tuple(validators.QUEUE_MAX_WAIT)
    assert (queue["wrap_up_time"]["minimum"], queue["wrap_up_time"]["maximum"]) == tuple(
        validators.QUEUE_WRAP_UP
    )
    group = _schema(spec, "RingGroupUpdate")["properties"]
    assert (group["timeout"]["minimum"], group["timeout"]["maximum"]) == tuple(validators.RING_GROUP_TIMEOUT)
    assert group["members"]["maxItems"] == ring_groups.MAX_MEMBERS
    member = _schema(spec, "RingMemberInput")["properties"]
    assert (member["timeout"]["minimum"], member["timeout"]["maximum"]) == tuple(validators.MEMBER_TIMEOUT)
    assert member["kind"]["enum"][: len(ring_groups.MEMBER_KINDS)] == list(ring_groups.MEMBER_KINDS)
    user = _schema(spec, "UserCreate")
    assert user["required"] == ["email", "name"] or set(user["required"]) == {"email", "name"}
    assert user["properties"]["name"]["maxLength"] == validators.MAX_TEXT
    assert user["properties"]["email"]["maxLength"] == validators.MAX_EMAIL
    assert _schema(spec, "TagCreate")["properties"]["name"]["maxLength"] == tags.MAX_NAME
    assert _schema(spec, "TagUpdate")["properties"]["color"]["pattern"] == validators.COLOR_RE.pattern
    assert _schema(spec, "NodeUpdate")["properties"]["name"]["pattern"] == nodes.NAME_RE.pattern
    for name, schema in spec["components"]["schemas"].items():
        if name.endswith(("Create", "Update", "Input", "Body", "Change")) or name in (
            "Transfer",
            "Membership",
        ):
            assert schema.get("additionalProperties") is False, name
        for field, prop in schema.get("properties", {}).items():
            if "pattern" in prop:
                re.compile(prop["pattern"])
            if (
                prop.get("type") == "integer"
                and not prop.get("readOnly")
                and name.endswith(("Create", "Update"))
            ):
                assert "minimum" in prop and "maximum" in prop, (name, field)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(name=st.from_regex(r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,40}$", fullmatch=True))
def test_a_name_the_document_allows_is_a_name_the_service_takes(name):
    from web.api.schemas import VISIBLE

    errors: validators.Errors = {}
    value = validators.text(errors, {"name": name}, "name", required=True)
    if VISIBLE.fullmatch(name):
        assert not errors and value, name
