"""Shared fixtures: a real database (SQLite file or PostgreSQL), the app, logged-in clients.

SWITCHBOARD_TEST_DB=sqlite (default) or postgresql picks the database; PostgreSQL runs use a
database of their own, created on the server at 127.0.0.1:5432 and dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from control import config, db, effects

PG_ADMIN_URL = os.environ.get("SWITCHBOARD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]


def pytest_report_header() -> str:
    return f"switchboard test database: {os.environ.get('SWITCHBOARD_TEST_DB', 'sqlite')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, run the tests that touch a database, and the integration tests.

    The rest (parsers, renders of in-memory models, framing) cannot differ between the two
    databases; the SQLite pass runs them.
    """
    if os.environ.get("SWITCHBOARD_TEST_DB", "sqlite") != "postgresql":
        return
    keep, skip = [], []
    for item in items:
        uses_database = "database_url" in getattr(item, "fixturenames", ())
        (keep if uses_database or item.get_closest_marker("integration") else skip).append(item)
    if skip:
        config.hook.pytest_deselected(items=skip)
        items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    """argon2 at its production cost takes ~60 ms a hash; the suite hashes thousands of passwords."""
    from argon2 import PasswordHasher

    from control import passwords

    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data")
    os.environ["SWITCHBOARD_DATA_DIR"] = str(path)
    os.environ.setdefault("SWITCHBOARD_SECRET_KEY", "test-secret-key-" + "x" * 32)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
    return path


@pytest.fixture(scope="session")
def _migrated(data_dir: Path) -> Iterator[str]:
    """Migrate once per session: a template SQLite file, or a fresh PostgreSQL database."""
    from control.migrate import upgrade

    kind = os.environ.get("SWITCHBOARD_TEST_DB", "sqlite")
    if kind == "postgresql":
        name = f"sb_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        upgrade(url)
        yield url
        db.dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        template = data_dir / "template.db"
        upgrade(f"sqlite:///{template}")
        db.dispose_all()
        yield str(template)


def _truncate_all(url: str) -> None:
    from control.db import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine(url).begin() as conn:
        # A session a test left open in a transaction would make TRUNCATE wait forever: fail instead.
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@contextmanager
def _clean_database(migrated: str, folder: Path) -> Iterator[str]:
    """A clean, migrated database set as DATABASE_URL: a copy of the SQLite template in `folder`,
    or the run's PostgreSQL database, emptied afterwards."""
    if migrated.startswith("postgresql"):
        url = migrated
    else:
        target = folder / "switchboard.db"
        shutil.copyfile(migrated, target)
        url = f"sqlite:///{target}"
    os.environ["DATABASE_URL"] = url
    config.reset_settings()
    yield url
    if url.startswith("postgresql"):
        _truncate_all(url)
    db.dispose_all()
    os.environ.pop("DATABASE_URL", None)
    config.reset_settings()


@pytest.fixture()
def database_url(_migrated: str, tmp_path: Path) -> Iterator[str]:
    """A clean database for one test."""
    with _clean_database(_migrated, tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def module_database_url(_migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A clean database shared by a module's tests (an integration scenario built once)."""
    with _clean_database(_migrated, tmp_path_factory.mktemp("module-db")) as url:
        yield url


XML_CURL_USER, XML_CURL_PASSWORD = "freeswitch", "xml-curl-test-password-1"
# A Redis database of the xml_curl tests' own (one per pass): the model generation the answers are
# cached on must move only when the test changes the model.
XML_CURL_REDIS = os.environ.get(
    "SWITCHBOARD_TEST_XML_CURL_REDIS",
    "redis://127.0.0.1:6379/11"
    if os.environ.get("SWITCHBOARD_TEST_DB") == "postgresql"
    else "redis://127.0.0.1:6379/13",
)


@contextmanager
def xml_curl_endpoint(
    user: str = XML_CURL_USER, password: str = XML_CURL_PASSWORD, allow: str = "127.0.0.1,::1"
) -> Iterator:
    """The mod_xml_curl endpoint configured (credentials, who may ask), its answers cached on an
    empty Redis of its own; yields that Redis. The environment is restored afterwards."""
    import redis

    from control.services import xml_curl

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWITCHBOARD_XML_CURL_USER", user)
        patch.setenv("SWITCHBOARD_XML_CURL_PASSWORD", password)
        patch.setenv("SWITCHBOARD_XML_CURL_ALLOW", allow)
        patch.setenv("REDIS_URL", XML_CURL_REDIS)
        config.reset_settings()
        client = redis.Redis.from_url(XML_CURL_REDIS)
        client.flushdb()
        xml_curl.forget()
        try:
            yield client
        finally:
            xml_curl.forget()
            client.flushdb()
    config.reset_settings()


@pytest.fixture()
def xml_curl_on(database_url: str) -> Iterator:
    """The mod_xml_curl endpoint configured (credentials, loopback allowed), its answers cached on
    an empty Redis of its own; yields that Redis."""
    with xml_curl_endpoint() as client:
        yield client


@pytest.fixture()
def session(database_url: str) -> Iterator:
    s = db.new_session(database_url)
    yield s
    s.rollback()
    s.close()


@pytest.fixture()
def demo(database_url: str) -> dict:
    """The demo tenant, as ids and e-mails (objects would belong to a closed session)."""
    from control.demo import DEMO_ADMIN, DEMO_AGENT, DEMO_PASSWORD, seed_demo
    from control.services import users

    with db.unit_of_work() as s:
        tenant = seed_demo(s)
        admin = users.find_user_by_email(s, DEMO_ADMIN)
        agent = users.find_user_by_email(s, DEMO_AGENT)
        ids = {"tenant_id": tenant.id, "admin_id": admin.id, "agent_id": agent.id}
    return ids | {"admin_email": DEMO_ADMIN, "agent_email": DEMO_AGENT, "password": DEMO_PASSWORD}


@pytest.fixture()
def app(database_url: str):  # type: ignore[no-untyped-def]
    from web.app import create_app

    application = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    yield application
    effects.clear_handlers()


@pytest.fixture()
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def login(client, email: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture()
def admin_client(client, demo):  # type: ignore[no-untyped-def]
    response = login(client, demo["admin_email"], demo["password"])
    assert response.status_code == 302, response.data[:500]
    return client


@pytest.fixture()
def agent_client(app, demo):  # type: ignore[no-untyped-def]
    other = app.test_client()
    response = login(other, demo["agent_email"], demo["password"])
    assert response.status_code == 302
    return other


@pytest.fixture(scope="session")
def asterisk_sandbox():  # type: ignore[no-untyped-def]
    """The real Asterisk 22 in its Debian sid chroot (built once, cached, left running)."""
    from tests.integration.asterisk_sandbox import AsteriskSandbox

    sandbox = AsteriskSandbox()
    sandbox.ensure()
    sandbox.start()
    return sandbox


@pytest.fixture(scope="session")
def freeswitch_sandbox():  # type: ignore[no-untyped-def]
    """The real FreeSWITCH 1.11 on its vanilla configuration wired by install.sh (installed once,
    started once, left running)."""
    from tests.integration.freeswitch_sandbox import FreeswitchSandbox

    sandbox = FreeswitchSandbox()
    sandbox.ensure()
    sandbox.start()
    return sandbox


@pytest.fixture(scope="module", params=["asterisk", "freeswitch"])
def pbx(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """One scenario, two PBX kinds (style rule 13): the module's tests run on the sandbox
    Asterisk, then on the sandbox FreeSWITCH (select one with -k asterisk / -k freeswitch)."""
    from tests.integration.pbx_kinds import Pbx

    return Pbx(request.param, request.getfixturevalue(f"{request.param}_sandbox"))


@pytest.fixture(scope="module")
def pbx_database_url(pbx, _migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A clean database for a module's scenario on one PBX kind: the scenario is built anew for
    each kind."""
    with _clean_database(_migrated, tmp_path_factory.mktemp(f"module-db-{pbx.kind}")) as url:
        yield url
