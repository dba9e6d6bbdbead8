from __future__ import annotations

import difflib

from worker import file_diff
from worker.file_diff import diff_versions


def _text(lines: list[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def test_one_changed_line_in_a_large_file_gives_the_same_hunks_as_difflib():
    old = [f"[{n}]\ntype = endpoint" for n in range(5000)]
    new = list(old)
    new[2500] = "[2500]\ntype = endpoint\ncontext = changed"
    old_bytes, new_bytes = _text(old), _text(new)
    changes, text = diff_versions({"pjsip.conf": old_bytes}, {"pjsip.conf": new_bytes})
    assert [c.as_dict() for c in changes] == [
        {"path": "pjsip.conf", "status": "changed", "added": 1, "removed": 0}
    ]
    reference = difflib.unified_diff(
        old_bytes.decode().splitlines(),
        new_bytes.decode().splitlines(),
        "a/pjsip.conf",
        "b/pjsip.conf",
        lineterm="",
    )
    assert text == "\n".join(reference) + "\n"
    assert "+context = changed" in text


def test_added_removed_and_unchanged_files():
    changes, text = diff_versions(
        {"pjsip.conf": b"a\n", "old.conf": b"gone\n", "same.conf": b"s\n"},
        {"pjsip.conf": b"a\n", "new.conf": b"fresh\n", "same.conf": b"s\n"},
    )
    assert [(c.path, c.status, c.added, c.removed) for c in changes] == [
        ("new.conf", "added", 1, 0),
        ("old.conf", "removed", 0, 1),
    ]
    assert "+fresh" in text and "-gone" in text and "same.conf" not in text


def test_an_empty_file_that_appears_is_still_a_change():
    changes, _ = diff_versions({}, {"queues.conf": b""})
    assert [(c.path, c.status) for c in changes] == [("queues.conf", "added")]


def test_huge_rewrites_are_counted_not_diffed(monkeypatch):
    monkeypatch.setattr(file_diff, "MAX_DIFF_LINES", 100)
    old = _text([f"old {n}" for n in range(300)])
    new = _text([f"new {n}" for n in range(200)])
    changes, text = diff_versions({"x.conf": old}, {"x.conf": new})
    assert (changes[0].added, changes[0].removed) == (200, 300)
    assert "too large to show" in text


def test_the_diff_text_is_capped(monkeypatch):
    monkeypatch.setattr(file_diff, "MAX_TEXT", 500)
    changes, text = diff_versions({}, {"x.conf": _text([f"line {n}" for n in range(1000)])})
    assert changes[0].added == 1000
    assert len(text) < 600 and text.endswith("truncated at 500 characters\n")


def test_secrets_are_masked_in_the_diff_text():
    old = {
        "pjsip.conf": b"[1001]\ntype = auth\npassword = old-secret\n",
        "directory/acme.xml": b'<user id="1001"><params><param name="password" value="fs-old"/></params></user>\n',
    }
    new = {
        "pjsip.conf": b"[1001]\ntype = auth\npassword = new-secret\n",
        "directory/acme.xml": b'<user id="1001"><params><param value="fs-new" name="a1-hash"/></params></user>\n',
    }
    changes, text = diff_versions(old, new)
    assert [(c.path, c.added, c.removed) for c in changes] == [
        ("directory/acme.xml", 1, 1),
        ("pjsip.conf", 1, 1),
    ]
    for secret in ("old-secret", "new-secret", "fs-old", "fs-new"):
        assert secret not in text
    assert "-password = ********" in text and "+password = ********" in text
    assert 'name="password" value="********"' in text and 'value="********" name="a1-hash"' in text
