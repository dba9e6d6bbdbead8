"""API clients that send a bearer token made the way `switchboard create-token` makes it."""

from __future__ import annotations

from typing import Any

import pytest

from control.db import unit_of_work
from control.services import accounts, users


def make_token(email: str) -> str:
    with unit_of_work() as s:
        user = users.find_user_by_email(s, email)
        assert user is not None
        token = accounts.create_token(s, user, "tests")
    return token


class ApiClient:
    """The Flask test client with `Authorization: Bearer <token>` on every request."""

    def __init__(self, client: Any, token: str | None) -> None:
        self.client = client
        self.token = token

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.open("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.open("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.open("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.open("DELETE", path, **kwargs)


@pytest.fixture()
def admin_token(demo: dict) -> str:
    return make_token(demo["admin_email"])


@pytest.fixture()
def agent_token(demo: dict) -> str:
    return make_token(demo["agent_email"])


@pytest.fixture()
def api(app: Any, admin_token: str) -> ApiClient:
    return ApiClient(app.test_client(), admin_token)


@pytest.fixture()
def agent_api(app: Any, agent_token: str) -> ApiClient:
    return ApiClient(app.test_client(), agent_token)
