"""Versioned config directories on a PBX host, switched live atomically.

Switchboard owns CONFDIR/switchboard/: every deploy writes versions/<N>/ in full, then renames
a fresh `live` symlink over the old one, so the PBX reads either the old or the new version,
never a mix. The PBX's own files include switchboard/live/<file>. Version 0 is the installer's
empty baseline and is never pruned.

`LocalStore` is the embedded default (the PBX's config directory is a path on this machine);
worker.ssh_store.SshStore does the same on a remote host.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol

BASE = "switchboard"
LIVE = "live"
VERSIONS = "versions"
#: Recordings the PBX plays (broadcasts), beside the versions: <config dir>/switchboard/media/<name>
MEDIA = "media"
FILE_MODE = 0o640
DIR_MODE = 0o750
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


class StoreError(RuntimeError):
    """The version layout is missing, or a write or switch failed."""


class ConfigStore(Protocol):
    def versions(self) -> list[int]: ...

    def live_version(self) -> int | None: ...

    def read_version(self, version: int) -> dict[str, bytes]: ...

    def write_version(self, version: int, files: Mapping[str, bytes]) -> None: ...

    def activate(self, version: int) -> None: ...

    def remove_version(self, version: int) -> None: ...

    def write_media(self, name: str, content: bytes) -> None: ...


def check_relative(path: str) -> PurePosixPath:
    """A rendered file's path: relative, plain segments, nothing that climbs out of its version."""
    segments = path.split("/")
    if not path or not all(_SEGMENT.match(segment) for segment in segments):
        raise StoreError(f"refusing to write {path!r}: not a plain relative path")
    return PurePosixPath(path)


def prunable(versions: list[int], live: int | None, keep: int) -> list[int]:
    """Versions beyond the `keep` newest, never the live one and never the baseline 0."""
    newest = sorted((v for v in versions if v != 0), reverse=True)[:keep]
    return sorted(v for v in versions if v not in newest and v != live and v != 0)


class LocalStore:
    """The layout under a local directory (the PBX runs here, or the directory is its mount)."""

    def __init__(self, config_dir: str | Path) -> None:
        self.config_dir = Path(config_dir)
        self.base = self.config_dir / BASE
        self.versions_dir = self.base / VERSIONS

    def _owner(self) -> tuple[int, int]:
        """New files belong to whoever owns the base (the PBX user), as install.sh left it."""
        try:
            info = self.base.stat()
        except FileNotFoundError as exc:
            raise StoreError(
                f"{self.base} does not exist: run deploy/asterisk/install.sh (or the FreeSWITCH "
                "equivalent) on this PBX first"
            ) from exc
        return info.st_uid, info.st_gid

    def _chown(self, path: Path, owner: tuple[int, int]) -> None:
        if os.geteuid() == 0:
            os.chown(path, *owner, follow_symlinks=False)

    def versions(self) -> list[int]:
        if not self.versions_dir.is_dir():
            return []
        return sorted(int(entry.name) for entry in self.versions_dir.iterdir() if entry.name.isdigit())

    def live_version(self) -> int | None:
        try:
            target = os.readlink(self.base / LIVE)
        except OSError:
            return None
        name = PurePosixPath(target).name
        return int(name) if name.isdigit() else None

    def read_version(self, version: int) -> dict[str, bytes]:
        root = self.versions_dir / str(version)
        if not root.is_dir():
            raise StoreError(f"version {version} is not on this PBX")
        files: dict[str, bytes] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
        return files

    def write_version(self, version: int, files: Mapping[str, bytes]) -> None:
        owner = self._owner()
        target = self.versions_dir / str(version)
        if target.exists():
            raise StoreError(f"version {version} already exists")
        staging = self.versions_dir / f".{version}.incoming-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir(mode=DIR_MODE, parents=True)
            self._chown(staging, owner)
            for name, content in files.items():
                path = staging / check_relative(name)
                for parent in reversed(path.relative_to(staging).parents[:-1]):
                    directory = staging / parent
                    if not directory.exists():
                        directory.mkdir(mode=DIR_MODE)
                        self._chown(directory, owner)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
                self._chown(path, owner)
            os.rename(staging, target)
            _fsync_dir(self.versions_dir)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise StoreError(f"writing version {version} to {self.versions_dir}: {exc}") from exc

    def activate(self, version: int) -> None:
        if not (self.versions_dir / str(version)).is_dir():
            raise StoreError(f"version {version} is not on this PBX")
        owner = self._owner()
        staging = self.base / f".{LIVE}.new-{os.getpid()}"
        try:
            staging.unlink(missing_ok=True)
            staging.symlink_to(f"{VERSIONS}/{version}")
            self._chown(staging, owner)
            os.replace(staging, self.base / LIVE)
            _fsync_dir(self.base)
        except OSError as exc:
            staging.unlink(missing_ok=True)
            raise StoreError(f"switching {self.base / LIVE} to version {version}: {exc}") from exc

    def remove_version(self, version: int) -> None:
        if version == self.live_version():
            raise StoreError(f"version {version} is live")
        shutil.rmtree(self.versions_dir / str(version), ignore_errors=True)

    def write_media(self, name: str, content: bytes) -> None:
        """A recording, written whole (a reader never sees half of it), owned by the PBX user."""
        owner = self._owner()
        folder = self.base / MEDIA
        if not folder.is_dir():
            folder.mkdir(mode=0o750)
            self._chown(folder, owner)
        path = folder / check_relative(name).name
        partial = path.with_name(f".{path.name}.part")
        partial.write_bytes(content)
        partial.chmod(0o640)
        self._chown(partial, owner)
        partial.replace(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
