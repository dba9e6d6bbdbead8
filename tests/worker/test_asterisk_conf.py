from __future__ import annotations

import pytest

from worker import asterisk_apply
from worker import asterisk_conf as conf
from worker.asterisk_conf import ConfError, merge, read_file, strip_comment

PJSIP_CONF = b"""; rendered
[phone](!)
type = endpoint
disallow = all
allow = ulaw

[1001](phone)
context = acme-internal
auth = 1001
aors = 1001

[1001]
type = auth
auth_type = userpass
username = 1001
password = a\\;b ; the escaped semicolon stays

[1001]
type = aor
max_contacts = 1
"""

EXTENSIONS = b"""[acme-internal]
exten => 1001,hint,PJSIP/1001
exten => 1001,1,Dial(PJSIP/1001,20)
 same => n(vm),Hangup()
exten => 600,1,Set(X=a\\;b)
exten => 600,2,Dial(PJSIP/1001&PJSIP/1002,20)
include => acme-lines
#include "switchboard/live/acme/lines.conf"
"""

LINES = b"""[acme-lines]
exten => _+12125550100,1,Goto(acme-internal,600,1)
"""

QUEUES_CONF = b"""[general]
persistentmembers = no

[acme-700]
strategy = ringall
member => PJSIP/1001,0,Alice,PJSIP/1001
member => PJSIP/1002,0,Bob,PJSIP/1002,no,0,1
"""

FILES = {
    "pjsip.conf": PJSIP_CONF,
    "extensions.conf": EXTENSIONS,
    "acme/lines.conf": LINES,
    "queues.conf": QUEUES_CONF,
}


def test_comments_end_at_an_unescaped_semicolon_only():
    assert strip_comment("password = a\\;b ; note") == "password = a;b "
    assert strip_comment("x = 1;2") == "x = 1"
    assert strip_comment("plain") == "plain"


def test_pjsip_objects_resolve_templates_and_key_by_type_and_id():
    objects = merge("pjsip.conf", FILES, role=conf.PJSIP).endpoints
    assert set(objects) == {("endpoint", "1001"), ("auth", "1001"), ("aor", "1001")}
    endpoint = objects[("endpoint", "1001")]
    assert endpoint["allow"] == ["ulaw"] and endpoint["context"] == ["acme-internal"]
    assert objects[("auth", "1001")]["password"] == ["a;b"]


def test_dialplan_numbers_priorities_and_reads_included_files():
    merged = merge("extensions.conf", FILES, role=conf.DIALPLAN)
    assert merged.steps[("acme-internal", "1001")] == {
        -1: ("hint", "PJSIP/1001"),
        1: ("Dial", "PJSIP/1001,20"),
        2: ("Hangup", ""),
    }
    assert merged.steps[("acme-internal", "600")][1] == ("Set", "X=a;b")
    assert merged.steps[("acme-lines", "_+12125550100")][1] == ("Goto", "acme-internal,600,1")
    assert merged.files == ["extensions.conf", "acme/lines.conf"]
    assert merged.contexts == {"acme-internal", "acme-lines"}


def test_queue_members_and_their_paused_flag():
    queues = merge("queues.conf", FILES, role=conf.QUEUES).queues
    assert list(queues) == ["acme-700"]
    assert queues["acme-700"].members == (("PJSIP/1001", False), ("PJSIP/1002", True))


def test_one_file_is_read_on_its_own_and_the_same_bytes_read_the_same():
    first = read_file("acme/lines.conf", LINES, conf.DIALPLAN)
    assert first == read_file("acme/lines.conf", LINES, conf.DIALPLAN)
    assert first.problems == [] and list(first.steps) == [("acme-lines", "_+12125550100")]


@pytest.mark.parametrize(
    ("root", "content", "message"),
    [
        ("pjsip.conf", b"context = x\n", "outside any section"),
        ("pjsip.conf", b"[a]\ntype = endpoint\ncontext = x\x07y\n", "control character"),
        ("pjsip.conf", b"[a]\ntype = endpoint\n#exec /bin/sh\n", "only #include"),
        ("pjsip.conf", b'[a]\ntype = endpoint\n#include "/etc/passwd"\n', "must name rendered files"),
        ("pjsip.conf", b"#include switchboard/live/nothing/*.conf\n", "matches no rendered file"),
        ("pjsip.conf", b"#include switchboard/live/acme/lines.conf\ncontext = x\n", "outside any section"),
        ("pjsip.conf", b"[a]\ncontext = x\n", "has no type"),
        ("pjsip.conf", b"[a]\ntype = endpoint\n[a]\ntype = endpoint\n", "defined twice"),
        ("pjsip.conf", b"[a]\ntype = endpoint\n;-- block\n", "block comments"),
        ("pjsip.conf", b"[a b]\ntype = endpoint\n", "malformed section header"),
        ("pjsip.conf", b"[a]\ntype = endpoint\njust words\n", "expected 'name = value'"),
        ("pjsip.conf", b"[a](missing)\ntype = endpoint\n", "unknown template"),
        ("pjsip.conf", b"[a]\ntype = endpoint\xff\n", "not UTF-8"),
        ("extensions.conf", b"[c]\nexten => 600,n,Dial(x)\n", "priority 'n' on the first line"),
        ("extensions.conf", b"[c]\nsame => n,Dial(x)\n", "without an 'exten =>'"),
        ("extensions.conf", b"[c]\nexten => 600\n", "expected 'exten =>"),
        ("extensions.conf", b"[c]\nexten => 600,1,Dial(x\n", "bad application"),
        ("extensions.conf", b"[c]\nexten => 600,2,Dial(x)\n", "has no priority 1"),
        ("extensions.conf", b"[c]\nexten => 60;0,1,Dial(x)\n", "expected 'exten =>"),
        ("extensions.conf", b"[c]\nexten => 600,1,Dial(x)\nexten => 600,1,Hangup()\n", "defined twice"),
        ("extensions.conf", b"[c]\nmember => x\n", "not a dialplan statement"),
        ("queues.conf", b"[q]\nmember => nobody\n", "bad member"),
        ("queues.conf", b"[q]\nstrategy = ringall\n[q]\nstrategy = ringall\n", "defined twice"),
    ],
)
def test_strict_reader_refuses_what_a_render_must_never_contain(root, content, message):
    files = dict(FILES, **{root: content})
    with pytest.raises(ConfError) as caught:
        asterisk_apply.parse(files)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_a_rendered_file_nobody_includes_is_refused():
    with pytest.raises(ConfError, match="not included by any"):
        asterisk_apply.parse(dict(FILES, **{"stray.conf": b"[x]\n"}))


def test_glob_includes_read_matching_files_in_sorted_order():
    files = {
        "pjsip.conf": b"#include switchboard/live/pjsip.d/*.conf\n",
        "pjsip.d/1002.conf": b"[1002]\ntype = aor\n",
        "pjsip.d/1001.conf": b"[1001]\ntype = aor\n",
        "pjsip.d/deeper/x.conf": b"[x]\ntype = aor\n",
    }
    merged = merge("pjsip.conf", files, role=conf.PJSIP)
    assert merged.files == ["pjsip.conf", "pjsip.d/1001.conf", "pjsip.d/1002.conf"]
    assert list(merged.endpoints) == [("aor", "1001"), ("aor", "1002")]


def test_the_same_object_in_two_files_is_refused():
    files = {
        "pjsip.conf": b"#include switchboard/live/pjsip.d/*.conf\n",
        "pjsip.d/a.conf": b"[1001]\ntype = aor\n",
        "pjsip.d/b.conf": b"[1001]\ntype = aor\n",
    }
    with pytest.raises(ConfError, match="already defined in pjsip.d/a.conf"):
        merge("pjsip.conf", files, role=conf.PJSIP)


def test_flattening_writes_every_include_in_place_and_reads_the_same():
    flat = asterisk_apply.flatten(FILES)
    assert set(flat) == {"pjsip.conf", "extensions.conf", "queues.conf"}
    assert b"#include" not in flat["extensions.conf"]
    assert flat["extensions.conf"].index(b"[acme-lines]") > flat["extensions.conf"].index(
        b"include => acme-lines"
    )
    rendered, on_disk = asterisk_apply.parse(FILES), asterisk_apply.parse(flat)
    assert (rendered.endpoints, rendered.steps, rendered.queues) == (
        on_disk.endpoints,
        on_disk.steps,
        on_disk.queues,
    )


def test_circular_includes_are_refused():
    files = dict(FILES, **{"acme/lines.conf": b'#include "switchboard/live/acme/lines.conf"\n'})
    with pytest.raises(ConfError, match="circular"):
        asterisk_apply.parse(files)


def test_changed_parts_follow_includes():
    config = asterisk_apply.parse(FILES)
    assert asterisk_apply.changed_parts(config, ["acme/lines.conf"]) == {"dialplan"}
    assert config.part_files["dialplan"] == {"extensions.conf", "acme/lines.conf"}
    assert asterisk_apply.changed_parts(config, ["pjsip.conf", "queues.conf"]) == {"endpoints", "queues"}
    assert asterisk_apply.changed_parts(config, []) == set()


def _tenant(users: dict[str, str]) -> dict[str, bytes]:
    files = {
        "pjsip.conf": b"#include switchboard/live/pjsip.d/*.conf\n",
        "extensions.conf": b"#include switchboard/live/extensions.d/*.conf\n\n[switchboard-internal]\n",
        "queues.conf": b"; none\n",
    }
    for ext, name in users.items():
        files[f"pjsip.d/{ext}.conf"] = f'[{ext}]\ntype = endpoint\ncallerid = "{name}" <{ext}>\n'.encode()
        files[f"extensions.d/user-{ext}.conf"] = (
            f"[switchboard-internal]\nexten => {ext},1,Dial(PJSIP/{ext},30)\n same => n,Hangup()\n".encode()
        )
    return dict(sorted(files.items()))


def test_a_version_parsed_after_another_matches_a_parse_from_scratch():
    import random

    rng = random.Random(7)
    users = {str(1000 + n): f"User {n}" for n in range(60)}
    for step in range(40):
        ext = rng.choice(sorted(users))
        if step % 7 == 3:
            users.pop(ext)
        elif step % 11 == 5:
            users[str(5000 + step)] = f"New {step}"
        else:
            users[ext] = f"Renamed {step}"
        files = _tenant(users)
        again = asterisk_apply.parse(files)
        asterisk_apply._STATES.clear()
        scratch = asterisk_apply.parse(files)
        assert (again.endpoints, again.steps, again.queues, again.contexts, again.part_files) == (
            scratch.endpoints,
            scratch.steps,
            scratch.queues,
            scratch.contexts,
            scratch.part_files,
        )
        flat = asterisk_apply.flatten(files)
        from_disk = asterisk_apply.parse(flat)
        assert (from_disk.endpoints, from_disk.steps) == (scratch.endpoints, scratch.steps)


def test_a_duplicate_brought_in_by_a_changed_file_is_refused_after_a_good_version():
    users = {"1001": "Ann", "1002": "Ben"}
    files = _tenant(users)
    asterisk_apply.parse(files)
    files["pjsip.d/1002.conf"] = b"[1001]\ntype = endpoint\n"
    with pytest.raises(ConfError, match="already defined in pjsip.d/1001.conf"):
        asterisk_apply.parse(files)
    files["pjsip.d/1002.conf"] = b"[1002]\ntype = endpoint\ncontext = x\n"
    assert ("endpoint", "1002") in asterisk_apply.parse(files).endpoints


def test_a_file_without_a_final_line_break_is_refused():
    files = _tenant({"1001": "Ann"})
    files["pjsip.d/1001.conf"] = files["pjsip.d/1001.conf"].rstrip(b"\n")
    with pytest.raises(ConfError, match="does not end with a line break"):
        asterisk_apply.parse(files)
