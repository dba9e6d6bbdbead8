"""The versioned layout of worker.config_store on a remote PBX host, over OpenSSH and rsync.

Host keys are always checked (StrictHostKeyChecking=yes, BatchMode=yes: an unknown or changed
key fails the deploy, it is never accepted silently). Which user, port and key reach a host is
ordinary ssh_config: Switchboard uses DATA_DIR/ssh/config and DATA_DIR/ssh/known_hosts when they
exist, the invoking user's ~/.ssh otherwise. Log in as the PBX user (or one in its group), so
that the files rsync creates (0640, directories 0750) are readable by the PBX.

Writing a version: rsync into versions/.<N>.incoming (files whose checksum matches the live
version's are hard-linked to it with --link-dest instead of sent), then one remote `mv -T` makes
versions/<N> appear whole; switching is `ln -sfn` to a temporary name and `mv -T` over `live`,
which is a rename(2) on the host.
"""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from worker.config_store import BASE, LIVE, MEDIA, VERSIONS, StoreError, check_relative
from worker.pbx_errors import PbxError, PbxUnreachable

SSH_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class SshOptions:
    config_file: Path | None = None
    known_hosts: Path | None = None
    connect_timeout: int = 10

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SshOptions:
        config = data_dir / "ssh" / "config"
        known = data_dir / "ssh" / "known_hosts"
        return cls(config if config.exists() else None, known if known.exists() else None)

    def command(self) -> list[str]:
        args = ["ssh"]
        if self.config_file is not None:
            args += ["-F", str(self.config_file)]
        args += [
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
        ]
        if self.known_hosts is not None:
            args += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
        return args


class SshStore:
    def __init__(self, host: str, config_dir: str, options: SshOptions) -> None:
        self.host = host
        self.options = options
        self.base = PurePosixPath(config_dir) / BASE
        self.versions_dir = self.base / VERSIONS

    def _fail(self, done: subprocess.CompletedProcess[bytes], what: str) -> None:
        message = done.stderr.decode("utf-8", "replace").strip()[-500:]
        if "Host key verification failed" in message or "REMOTE HOST IDENTIFICATION HAS CHANGED" in message:
            raise PbxError(f"ssh {self.host}: host key not trusted ({what}); add it to known_hosts")
        if done.returncode == 255:
            raise PbxUnreachable(f"ssh {self.host}: {message or 'connection failed'}")
        raise StoreError(f"ssh {self.host}: {what} failed: {message or f'exit {done.returncode}'}")

    def _run(self, script: str, what: str, stdin: bytes | None = None) -> bytes:
        command = [*self.options.command(), self.host, "--", script]
        try:
            done = subprocess.run(command, input=stdin, capture_output=True, timeout=SSH_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PbxUnreachable(f"ssh {self.host}: {what} took over {SSH_TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            self._fail(done, what)
        return done.stdout

    def _q(self, path: PurePosixPath) -> str:
        return shlex.quote(str(path))

    def versions(self) -> list[int]:
        out = self._run(f"ls -1 {self._q(self.versions_dir)}", "listing versions")
        return sorted(int(name) for name in out.decode().split() if name.isdigit())

    def live_version(self) -> int | None:
        out = self._run(f"readlink {self._q(self.base / LIVE)} || true", "reading the live version")
        name = PurePosixPath(out.decode().strip()).name
        return int(name) if name.isdigit() else None

    def read_version(self, version: int) -> dict[str, bytes]:
        root = self.versions_dir / str(int(version))
        out = self._run(f"tar -C {self._q(root)} -cf - .", f"reading version {version}")
        files: dict[str, bytes] = {}
        with tarfile.open(fileobj=io.BytesIO(out), mode="r:") as archive:
            for member in archive.getmembers():
                if member.isfile():
                    handle = archive.extractfile(member)
                    assert handle is not None
                    files[PurePosixPath(member.name).relative_to(".").as_posix()] = handle.read()
        return files

    def write_version(self, version: int, files: Mapping[str, bytes]) -> None:
        version = int(version)
        target = self.versions_dir / str(version)
        incoming = self.versions_dir / f".{version}.incoming"
        live = self.base / LIVE
        with tempfile.TemporaryDirectory(prefix="switchboard-version-") as staging:
            root = Path(staging)
            for name, content in files.items():
                path = root / check_relative(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            self._run(
                f"test ! -e {self._q(target)} && rm -rf -- {self._q(incoming)}",
                f"preparing version {version}",
            )
            rsync = [
                "rsync",
                "--recursive",
                "--checksum",
                "--links",
                "--chmod=D0750,F0640",
                "--perms",
                f"--link-dest={live}/",
                "-e",
                shlex.join(self.options.command()),
                f"{staging}/",
                f"{self.host}:{incoming}/",
            ]
            try:
                done = subprocess.run(rsync, capture_output=True, timeout=SSH_TIMEOUT * 4, check=False)
            except subprocess.TimeoutExpired as exc:
                raise PbxUnreachable(f"rsync to {self.host} took too long") from exc
            if done.returncode != 0:
                self._fail(done, f"copying version {version}")
        self._run(f"mv -T -- {self._q(incoming)} {self._q(target)}", f"completing version {version}")

    def activate(self, version: int) -> None:
        version = int(version)
        staging = self.base / f".{LIVE}.new"
        self._run(
            f"test -d {self._q(self.versions_dir / str(version))}"
            f" && ln -sfn {VERSIONS}/{version} {self._q(staging)}"
            f" && mv -T -f -- {self._q(staging)} {self._q(self.base / LIVE)}",
            f"switching live to version {version}",
        )

    def write_media(self, name: str, content: bytes) -> None:
        folder = self.base / MEDIA
        path = folder / check_relative(name).name
        partial = folder / f".{path.name}.part"
        self._run(
            f"mkdir -p {self._q(folder)} && cat > {self._q(partial)} && chmod 0640 {self._q(partial)}"
            f" && mv -f -- {self._q(partial)} {self._q(path)}",
            f"copying recording {path.name}",
            stdin=content,
        )

    def remove_version(self, version: int) -> None:
        version = int(version)
        if version == self.live_version():
            raise StoreError(f"version {version} is live")
        self._run(f"rm -rf -- {self._q(self.versions_dir / str(version))}", f"removing version {version}")
