"""Two agents for the portal tests: alice (the demo agent) and bob, each logged in."""

from __future__ import annotations

from typing import Any

from control.db import unit_of_work
from control.services import users
from tests.conftest import login

BOB = "bob@acme.example"


def user_id(email: str) -> int:
    with unit_of_work() as s:
        user = users.find_user_by_email(s, email)
        assert user is not None
        return user.id


def logged_in(app: Any, email: str, password: str) -> Any:
    client = app.test_client()
    response = login(client, email, password)
    assert response.status_code == 302, response.data[:300]
    return client
