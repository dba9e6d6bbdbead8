"""The Asterisk render, loaded by the real Asterisk 22 of deploy/asterisk/sandbox.

Each render is written to switchboard/versions/<N>/, made live, reloaded; then Asterisk's own
view (`pjsip show endpoints`, `dialplan show <context>`, `queue show`) must be exactly what the
files declare, with no ERROR in the log. A render with hostile names must give Asterisk the same
contexts, extensions, priorities and endpoints as the benign one.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest

from control import db
from control.demo import seed_demo
from control.render import RenderOptions, renderer
from control.render.incremental import TenantRender
from control.render.snapshot import Snapshot, load_snapshot
from tests.integration.asterisk_sandbox import AsteriskSandbox
from tests.render import conf_parser
from tests.render.factories import NOW
from tests.render.hostile import with_names

pytestmark = pytest.mark.integration

# The sandbox binds its own UDP transport (127.0.0.1:5060); Switchboard renders none there.
OPTIONS = RenderOptions(sip_bind=None)
VERSIONS = (9101, 9102, 9103)
HOSTILE = (
    'Eve "/><x> ]]> ${SHELL(id)} $[1+1] ;--\n[evil]\ntype = endpoint\nexten => 666,1,System(id)\n'
    "#include /etc/passwd\r, ) ( & | \\ \x00 \u202e\u2028 Zoë 名前 " + "x" * 10_000
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXTEN_LINE = re.compile(r"^\s*'([^']+)' =>\s+(\d+)\.\s+([A-Za-z0-9_]+)\(")
PRIORITY_LINE = re.compile(r"^\s+(?:\[[A-Za-z0-9_-]+\]\s+)?(\d+)\.\s+([A-Za-z0-9_]+)\(")
#: an extension's hint, shown on its first line: `'1001' =>  hint: PJSIP/1001&PJSIP/1001-webphone`
HINT_LINE = re.compile(r"^\s*'([^']+)' =>\s+hint:")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AsteriskSandbox]:
    box = AsteriskSandbox()
    box.start()
    with box.exclusive():
        previous = box.live_version() if (box.switchboard_dir / "live").is_symlink() else 0
        try:
            yield box
        finally:
            box.activate_version(previous)
            box.reload()
            for number in VERSIONS:
                shutil.rmtree(box.version_dir(number), ignore_errors=True)


def load(box: AsteriskSandbox, number: int, files: dict[str, bytes]) -> None:
    target = box.version_dir(number)
    shutil.rmtree(target, ignore_errors=True)
    owner = box.config_dir.stat()
    for path, content in files.items():
        file = target / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content)
    for folder, dirs, names in os.walk(target):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + names)]:
            os.chown(name, owner.st_uid, owner.st_gid)
            os.chmod(name, 0o750 if os.path.isdir(name) else 0o640)
    box.mark_log()
    box.activate_version(number)
    box.reload()


def endpoints(box: AsteriskSandbox) -> set[str]:
    found = set()
    for line in box.cli("pjsip show endpoints").splitlines():
        match = re.match(r"^ Endpoint:\s+([^\s<][^\s/]*)", line)
        if match:
            found.add(match.group(1))
    return found


def dialplan(box: AsteriskSandbox, contexts: frozenset[str]) -> set[tuple[str, str, int, str]]:
    """(context, extension, priority, application) as Asterisk shows them."""
    found = set()
    for context in contexts:
        output = box.cli(f"dialplan show {context}")
        extension = None
        for line in output.splitlines():
            if match := HINT_LINE.match(line):
                extension = match.group(1)
                found.add((context, extension, 0, "hint"))
            elif match := EXTEN_LINE.match(line):
                extension = match.group(1)
                found.add((context, extension, int(match.group(2)), match.group(3)))
            elif (match := PRIORITY_LINE.match(line)) and extension is not None:
                found.add((context, extension, int(match.group(1)), match.group(2)))
    return found


def queue_members(box: AsteriskSandbox, queues: frozenset[str]) -> set[tuple[str, str, str]]:
    found = set()
    for queue in queues:
        for line in ANSI.sub("", box.cli(f"queue show {queue}")).splitlines():
            # `Ann (Local/1001@switchboard-devices from hint:1001@switchboard-devices) (dynamic)...`
            match = re.search(r"\(((?:PJSIP|Local)/[^\s)]+)", line)
            if match:
                found.add((queue, match.group(1), "1" if "(paused" in line else "0"))
    return found


def assert_asterisk_sees(box: AsteriskSandbox, files: dict[str, bytes]) -> conf_parser.Structure:
    declared = conf_parser.structure(files)
    assert box.log_errors() == []
    users = {name for name, kind in declared.pjsip if kind == "endpoint"}
    assert endpoints(box) >= users
    assert dialplan(box, declared.contexts) == set(declared.priorities)
    assert queue_members(box, declared.queues) == set(declared.members)
    return declared


def render(data: Snapshot) -> dict[str, bytes]:
    return dict(TenantRender(renderer("asterisk"), data, NOW, OPTIONS, incremental=False).rendered.files)


def test_demo_tenant_loads_completely(sandbox, database_url):
    with db.unit_of_work() as s:
        tenant_id = seed_demo(s).id
    with db.new_session(database_url) as s:
        files = render(load_snapshot(s, tenant_id))
    load(sandbox, VERSIONS[0], files)
    declared = assert_asterisk_sees(sandbox, files)
    assert endpoints(sandbox) >= {"1000", "1001", "1002", "1003", "1004", "1005"}
    assert {("switchboard-internal", e) for e in ("600", "601", "700")} <= declared.extensions
    assert "queue-700" in sandbox.cli("queue show queue-700")


def test_hostile_names_give_asterisk_nothing_more(sandbox, session, golden):
    data = load_snapshot(session, golden.tenant_id)
    # a trunk on loopback: the sandbox's transport is bound there
    data.tenant = data.tenant._replace(trunk_host="127.0.0.1", trunk_port=5090)
    benign = render(with_names(data, "Benign Name"))
    load(sandbox, VERSIONS[1], benign)
    seen_benign = (endpoints(sandbox), dialplan(sandbox, conf_parser.structure(benign).contexts))
    declared = assert_asterisk_sees(sandbox, benign)
    assert {"2001", "switchboard-trunk", "switchboard-uri"} <= endpoints(sandbox)

    hostile = render(with_names(data, HOSTILE))
    load(sandbox, VERSIONS[2], hostile)
    assert assert_asterisk_sees(sandbox, hostile) == declared
    assert (endpoints(sandbox), dialplan(sandbox, declared.contexts)) == seen_benign
    shown = sandbox.cli("pjsip show endpoint 2001")
    assert 'callerid                           : "Eve' in shown
    assert "666" not in sandbox.cli("dialplan show switchboard-internal")
