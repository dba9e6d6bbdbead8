"""FreeSWITCH's parse and flatten reuse what they read before (worker/model_cache.py), and a
version assembled from kept parses is judged exactly as one read from scratch."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from worker import freeswitch_apply
from worker.asterisk_conf import ConfError

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden" / "freeswitch"


def _golden() -> dict[str, bytes]:
    return {path.relative_to(GOLDEN).as_posix(): path.read_bytes() for path in sorted(GOLDEN.rglob("*.xml"))}


def _digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


def _user_file(files: dict[str, bytes]) -> str:
    return next(
        name for name, content in files.items() if name.startswith("directory/") and b"<user" in content
    )


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = freeswitch_apply._read

    def read(path: str, content: bytes, role: str) -> freeswitch_apply.FileObjects:
        reads.append(path)
        return real(path, content, role)

    monkeypatch.setattr(freeswitch_apply, "_read", read)
    monkeypatch.setattr(freeswitch_apply, "_CACHE", freeswitch_apply.ModelCache())
    return reads


def test_a_version_parsed_before_costs_nothing_and_a_change_costs_its_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = _counting(monkeypatch)
    files = _golden()
    first = freeswitch_apply.parse(files, _digests(files), "hash-1")
    assert sorted(reads) == sorted(files)
    assert freeswitch_apply.parse(files, _digests(files), "hash-1") is first
    reads.clear()
    name = _user_file(files)
    changed = dict(files)
    changed[name] = files[name].replace(b'<user id="', b'<user id="9', 1)
    second = freeswitch_apply.parse(changed, _digests(changed), "hash-2")
    assert reads == [name]
    fresh = freeswitch_apply.ModelCache()
    monkeypatch.setattr(freeswitch_apply, "_CACHE", fresh)
    scratch = freeswitch_apply.parse(changed)
    assert second.users == scratch.users and second.users != first.users
    assert (second.extensions, second.queues, second.tiers) == (
        scratch.extensions,
        scratch.queues,
        scratch.tiers,
    )


def test_an_object_another_file_defines_is_still_found_with_kept_parses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _counting(monkeypatch)
    files = _golden()
    freeswitch_apply.parse(files, _digests(files), "hash-1")
    name = _user_file(files)
    twice = dict(files) | {name.replace(".xml", "-copy.xml"): files[name]}
    with pytest.raises(ConfError, match="is defined twice"):
        freeswitch_apply.parse(twice, _digests(twice), "hash-2")


def test_flatten_from_kept_files_writes_the_same_bytes_as_from_scratch() -> None:
    files = _golden()
    name = _user_file(files)
    before = freeswitch_apply.flatten(files)
    changed = dict(files)
    changed[name] = files[name].replace(b"</user>", b"</user>\n<!-- changed -->", 1)
    after = freeswitch_apply.flatten(changed)
    freeswitch_apply._LEAVES.clear()
    freeswitch_apply._MATCHES.clear()
    assert freeswitch_apply.flatten(changed) == after
    assert freeswitch_apply.flatten(files) == before
    assert after["directory.xml"] != before["directory.xml"] and b"<!-- changed -->" in after["directory.xml"]
