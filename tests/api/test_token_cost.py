"""What authenticating an API request costs: a token is a 256-bit random string, so its SHA-256
digest is looked up in one query; the slow password hash (argon2) is never run, and a token used
a moment ago writes nothing (no commit of its own before the request's work)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from control import db, passwords
from control.models import ApiToken
from control.services import accounts
from tests.api.conftest import ApiClient


@pytest.fixture()
def statements() -> Iterator[list[str]]:
    """The SQL statements the test's database receives (COMMIT included), in order."""
    seen: list[str] = []
    engine = db.engine()

    def on_execute(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement.split(None, 1)[0].upper())

    def on_commit(_conn) -> None:  # type: ignore[no-untyped-def]
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)


def test_a_token_is_never_checked_with_the_password_hash(
    app, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class SlowHash:
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"token authentication ran the password hash ({name})")

    monkeypatch.setattr(passwords, "_hasher", SlowHash())
    api = ApiClient(app.test_client(), admin_token)
    assert api.get("/api/v1/users").status_code == 200
    assert ApiClient(app.test_client(), "sb_" + "x" * 43).get("/api/v1/users").status_code == 401


def test_one_query_finds_the_token_its_user_and_tenant(
    demo: dict, admin_token: str, statements: list[str]
) -> None:
    with db.unit_of_work() as s:  # the first use records when
        assert accounts.user_for_token(s, admin_token) is not None
    statements.clear()
    with db.unit_of_work() as s:
        user = accounts.user_for_token(s, admin_token)
        assert user is not None and user.id == demo["admin_id"]
        assert statements == ["SELECT"]
        assert not s.dirty  # used a moment ago: nothing to write
        assert user.tenant.id == demo["tenant_id"] and statements == ["SELECT"]  # loaded with it
    with db.unit_of_work() as s:
        assert accounts.user_for_token(s, "sb_unknown") is None


def test_the_last_used_time_is_still_kept(demo: dict, admin_token: str) -> None:
    with db.unit_of_work() as s:
        assert accounts.user_for_token(s, admin_token) is not None
        row = s.query(ApiToken).one()
        first = row.last_used_at
        assert first is not None
        row.last_used_at = first - accounts.LAST_USED_EVERY - timedelta(seconds=1)
    with db.unit_of_work() as s:
        accounts.user_for_token(s, admin_token)
        assert s.dirty  # stale: written again with the request
    with db.unit_of_work() as s:
        assert s.query(ApiToken).one().last_used_at >= first  # type: ignore[operator]


def test_an_api_request_does_not_commit_before_its_work(
    app, demo: dict, admin_token: str, statements: list[str]
) -> None:
    api = ApiClient(app.test_client(), admin_token)
    assert api.get("/api/v1/users").status_code == 200  # the first use records when
    statements.clear()
    assert api.get("/api/v1/users").status_code == 200
    assert statements and "COMMIT" not in statements and set(statements) == {"SELECT"}
