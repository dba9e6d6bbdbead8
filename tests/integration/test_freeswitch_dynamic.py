"""Dynamic mode on the real FreeSWITCH: no Switchboard file is live (the sandbox's live ->
versions/0, empty includes), and mod_xml_curl, as install.sh wired it, asks a real Switchboard
web server (create_app under werkzeug, at the sandbox's control URL, with the credentials the
sandbox gave install.sh). Phones of the tenant's SIP domain register, an extension call, ring
group 600 and the line's DID from the trunk on the external profile are routed from its
answers alone; a model edit is in the next answer with no deploy; wrong credentials get 401
and FreeSWITCH falls back to its static XML, as deploy/freeswitch/README.md says.

One scenario per module (pbx_world.build_model); the sandbox is held exclusively and left with
live -> versions/0 at the end.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from control import config, db, effects
from control.services import ring_groups, users, xml_curl
from tests.conftest import xml_curl_endpoint
from tests.integration.freeswitch_sandbox import FreeswitchSandbox
from tests.integration.pbx_sandbox import LogMark
from tests.integration.pbx_world import (
    LINE_NUMBER,
    TENANT,
    DeployWorld,
    Model,
    SippCalls,
    build_model,
    create_node,
    group_600_rings_both_at_once,
)
from tests.integration.sipp import Phone, SippSession
from tests.worker.rq_support import deploy_redis
from web.views.xml_curl import fetch_fields

pytestmark = pytest.mark.integration

# mod_xml_curl logs each refused lookup (the wrong-credentials test) at ERR level.
REFUSED_LOOKUP = "Received HTTP error 401"


@dataclass(frozen=True)
class Fetch:
    """One POST /freeswitch/xml-curl as the server answered it."""

    section: str
    status: int
    answered: bool  # 200 with a document other than "not found"


class FetchRecorder:
    """WSGI middleware keeping every fetch mod_xml_curl made and what it got."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.fetches: list[Fetch] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[int] = []

        def recording_start(code: str, headers: list, exc_info: Any = None) -> Any:
            status.append(int(code.split(" ", 1)[0]))
            return start_response(code, headers, exc_info)

        chunks = list(self.app(environ, recording_start))
        document = b"".join(chunks)
        fetch = Fetch(
            fetch_fields(body).get("section", ""),
            status[0],
            status[0] == 200 and document != xml_curl.NOT_FOUND,
        )
        with self.lock:
            self.fetches.append(fetch)
        return chunks

    def mark(self) -> int:
        return len(self.fetches)

    def since(self, mark: int) -> list[Fetch]:
        with self.lock:
            return self.fetches[mark:]


@dataclass
class World(SippCalls):
    sandbox: FreeswitchSandbox
    model: Model
    server: FetchRecorder
    phones_sipp: SippSession
    trunk: SippSession
    phones: dict[str, Phone] = field(default_factory=dict)
    started: LogMark | None = None

    def answered(self, section: str, since: int) -> int:
        return sum(1 for f in self.server.since(since) if f.section == section and f.answered)


@pytest.fixture(scope="module")
def control_plane(module_database_url: str, freeswitch_sandbox: FreeswitchSandbox) -> Iterator[FetchRecorder]:
    """Switchboard's web app serving mod_xml_curl where the sandbox asks, with the sandbox's
    credentials; its answers cached on an empty Redis of their own."""
    from web.app import create_app

    sandbox = freeswitch_sandbox
    url = urlsplit(sandbox.control_url)
    with xml_curl_endpoint(sandbox.xml_curl_user, sandbox.xml_curl_password, allow="127.0.0.1"):
        recorder = FetchRecorder(create_app({"TESTING": True}))
        server = make_server(url.hostname or "127.0.0.1", url.port or 80, recorder, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield recorder
        finally:
            server.shutdown()
            thread.join(10)
            server.server_close()
            effects.clear_handlers()  # create_app registered the apply handlers (as the app fixture)


@pytest.fixture(scope="module")
def world(
    control_plane: FetchRecorder,
    freeswitch_sandbox: FreeswitchSandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    sandbox = freeswitch_sandbox
    with sandbox.exclusive():
        sandbox.reset()
        mark = sandbox.mark_log()
        model = build_model()
        workdir = tmp_path_factory.mktemp("sipp")
        with (
            SippSession(
                workdir / "phones", sip_port=sandbox.sip_internal_port, domain=model.domain
            ) as phones,
            SippSession(workdir / "trunk", sip_port=sandbox.sip_external_port) as trunk,
        ):
            world = World(sandbox, model, control_plane, phones, trunk, started=mark)
            try:
                yield world
            finally:
                phones.close()
                trunk.close()
                sandbox.reset()


def _wrong_credentials(password: str) -> None:
    """The control plane's password (the module's MonkeyPatch restores the variable at the end)."""
    os.environ["SWITCHBOARD_XML_CURL_PASSWORD"] = password
    config.reset_settings()


def test_no_switchboard_file_is_live(world: World) -> None:
    assert world.sandbox.live_version() == 0
    assert world.sandbox.api(f"user_exists id 1001 {world.model.domain}").strip() == "true", (
        "the directory answers from xml_curl"
    )
    live = world.sandbox.switchboard_dir / "live"
    assert not (live / "directory").exists() and not (live / "dialplan" / "default").exists()


def test_phones_of_the_tenant_domain_register_from_xml_curl_answers(world: World) -> None:
    since = world.server.mark()
    for ext in ("1001", "1002"):
        world.phones[ext] = world.phones_sipp.phone(ext, world.model.secrets[ext], answer_after=None)
    assert {f"1001@{world.model.domain}", f"1002@{world.model.domain}"} <= world.sandbox.registrations()
    assert world.answered("directory", since) >= 2
    # A wrong password is refused: the answer carries the model's secret, not any password.
    assert world.phones_sipp.register("1003", "not-the-secret", contact_port=9, expires=60) in (401, 403)


def test_an_extension_call_is_routed_from_xml_curl_answers(world: World) -> None:
    since, started = world.server.mark(), time.time()
    result = world.call("1002", cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    assert len(world.invites("1002", started)) == 1
    assert world.invites("1001", started) == []
    assert world.answered("dialplan", since) >= 1, "context default came from xml_curl"
    assert world.answered("directory", since) >= 2, "the caller's digest and user/1002 came from xml_curl"


def test_ring_group_600_rings_both_members_at_once(world: World) -> None:
    group_600_rings_both_at_once(world)


def test_a_did_from_the_trunk_is_routed_by_its_number(world: World) -> None:
    since, started = world.server.mark(), time.time()
    # The carrier's INVITE names the PBX's address as the request host (issue 8, defect 3).
    result = world.trunk.call(LINE_NUMBER, caller="15551234567", cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    assert len(world.invites("1001", started)) == 1, "the line goes to 601, whose first member is 1001"
    assert world.invites("1002", started) == []
    assert world.answered("dialplan", since) >= 2, "context public, then default for group 601"


def test_a_model_edit_is_in_the_next_answer_with_no_deploy(world: World) -> None:
    model = world.model
    with db.unit_of_work() as s:
        ring_groups.update_ring_group(
            s,
            model.tenant_id,
            model.ids["600"],
            {"members": [{"kind": "user", "target": model.ids["1002"], "timeout": 20}]},
            None,
        )
        new_user = users.create_user(
            s, model.tenant_id, {"name": "Dan", "email": f"1004@{TENANT}.example", "extension": "1004"}, None
        )
        secret = users.sip_secret(s, model.tenant_id, new_user.id, None)
    assert world.sandbox.live_version() == 0, "nothing was deployed"

    world.phones["1004"] = world.phones_sipp.phone("1004", secret, answer_after=None)
    assert f"1004@{model.domain}" in world.sandbox.registrations()

    started = time.time()
    result = world.call("600", cancel_after=2.0, timeout=20)
    assert result.outcome == "cancelled", result
    assert len(world.invites("1002", started)) == 1
    assert world.invites("1001", started) == [], "1001 left group 600"

    started = time.time()
    result = world.call("1004", cancel_after=1.5, timeout=20)
    assert result.outcome == "cancelled", result
    assert len(world.invites("1004", started)) == 1


def test_wrong_credentials_get_401_and_freeswitch_falls_back_to_its_static_xml(
    world: World, module_database_url: str
) -> None:
    model = world.model
    _wrong_credentials("not-what-install-sh-wrote")
    try:
        since, mark = world.server.mark(), world.sandbox.mark_log()
        # Nothing of the tenant's is in the static XML (live -> versions/0): refused.
        assert world.phones_sipp.register("1001", model.secrets["1001"], contact_port=9, expires=60) in (
            401,
            403,
        )
        refused = world.server.since(since)
        assert refused and {f.status for f in refused} == {401}, refused
        assert any(REFUSED_LOOKUP in line for line in world.sandbox.log_errors(since=mark))

        # With the tenant deployed as static files, the same phone registers from them.
        with deploy_redis() as client:
            record = DeployWorld(client, create_node(world.sandbox, model.tenant_id)).deploy()
        assert record.result == "success", record.error
        assert world.sandbox.live_version() == record.version
        since = world.server.mark()
        assert world.phones_sipp.register("1001", model.secrets["1001"], contact_port=9, expires=60) == 200
        assert world.server.since(since) and not any(f.answered for f in world.server.since(since))
    finally:
        _wrong_credentials(world.sandbox.xml_curl_password)
    world.sandbox.activate_version(0)
    world.sandbox.reload()


def test_freeswitch_logged_no_error_but_the_refused_lookups(world: World) -> None:
    errors = world.sandbox.log_errors(since=world.started, ignore=(REFUSED_LOOKUP, "trying to fetch http"))
    assert errors == []
