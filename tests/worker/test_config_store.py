from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from worker.config_store import LocalStore, StoreError, prunable


@pytest.fixture()
def confdir(tmp_path: Path) -> Path:
    """A PBX config dir as install.sh leaves it: versions/0 and live -> versions/0."""
    base = tmp_path / "asterisk" / "switchboard"
    (base / "versions" / "0").mkdir(parents=True)
    (base / "versions" / "0" / "pjsip.conf").write_text("; empty\n")
    (base / "live").symlink_to("versions/0")
    if os.geteuid() == 0:
        os.chown(base, 4242, 4343)
    return tmp_path / "asterisk"


def test_write_then_activate_switches_live_and_keeps_the_old_version(confdir: Path):
    store = LocalStore(confdir)
    assert store.live_version() == 0
    store.write_version(1, {"pjsip.conf": b"[a]\n", "sub/lines.conf": b"x\n"})
    assert store.live_version() == 0, "writing must not switch"
    store.activate(1)
    assert store.live_version() == 1
    assert os.readlink(confdir / "switchboard" / "live") == "versions/1"
    assert (confdir / "switchboard" / "live" / "sub" / "lines.conf").read_bytes() == b"x\n"
    assert store.read_version(1) == {"pjsip.conf": b"[a]\n", "sub/lines.conf": b"x\n"}
    assert store.read_version(0) == {"pjsip.conf": b"; empty\n"}
    assert store.versions() == [0, 1]
    leftovers = [p.name for p in (confdir / "switchboard").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_files_belong_to_the_pbx_user_and_are_not_world_readable(confdir: Path):
    store = LocalStore(confdir)
    store.write_version(1, {"pjsip.conf": b"[a]\n", "sub/lines.conf": b"x\n"})
    store.activate(1)
    version = confdir / "switchboard" / "versions" / "1"
    for path in (version, version / "sub", version / "pjsip.conf", version / "sub" / "lines.conf"):
        info = path.stat()
        assert info.st_mode & 0o007 == 0, path
        if os.geteuid() == 0:
            assert (info.st_uid, info.st_gid) == (4242, 4343), path
    assert stat.S_IMODE((version / "pjsip.conf").stat().st_mode) == 0o640
    if os.geteuid() == 0:
        assert (confdir / "switchboard" / "live").lstat().st_uid == 4242


def test_the_live_link_is_never_missing_while_switching(confdir: Path):
    store = LocalStore(confdir)
    for version in (1, 2):
        store.write_version(version, {"pjsip.conf": f"v{version}\n".encode()})
    store.activate(1)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add((confdir / "switchboard" / "live" / "pjsip.conf").read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(300):
            store.activate(1)
            store.activate(2)
    finally:
        stop.set()
        reader.join()
    assert seen <= {b"v1\n", b"v2\n"} and seen


def test_refuses_paths_that_leave_the_version_and_existing_versions(confdir: Path):
    store = LocalStore(confdir)
    for bad in ("../escape.conf", "/etc/passwd", "a/../../b", ".hidden", "a/./b", "a//b", "", "a b"):
        with pytest.raises(StoreError, match="plain relative path"):
            store.write_version(5, {bad: b"x"})
    assert store.versions() == [0]
    store.write_version(5, {"pjsip.conf": b"x"})
    with pytest.raises(StoreError, match="already exists"):
        store.write_version(5, {"pjsip.conf": b"y"})
    assert store.read_version(5) == {"pjsip.conf": b"x"}


def test_the_live_version_cannot_be_removed(confdir: Path):
    store = LocalStore(confdir)
    store.write_version(1, {"pjsip.conf": b"x"})
    store.activate(1)
    with pytest.raises(StoreError, match="is live"):
        store.remove_version(1)
    store.remove_version(0)
    assert store.versions() == [1]


def test_a_pbx_without_the_layout_is_a_clear_error(tmp_path: Path):
    store = LocalStore(tmp_path / "nothing-here")
    assert store.live_version() is None and store.versions() == []
    with pytest.raises(StoreError, match="install.sh"):
        store.write_version(1, {"pjsip.conf": b"x"})


def test_pruning_keeps_the_newest_the_live_one_and_the_baseline():
    versions = [0, 1, 2, 3, 4, 5, 6]
    assert prunable(versions, live=6, keep=3) == [1, 2, 3]
    assert prunable(versions, live=2, keep=3) == [1, 3]
    assert prunable([0, 1], live=1, keep=3) == []
