"""A rendered configuration: files by relative path, their digests and one content hash."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from control.render.identifiers import RenderError


def file_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def manifest_line(path: str, digest: str) -> bytes:
    return f"{path}\0{digest}\n".encode()


def manifest_hash(lines: list[bytes]) -> str:
    """The content hash: sha256 over `path NUL sha256(file) LF` for every file in path order."""
    return hashlib.sha256(b"".join(lines)).hexdigest()


@dataclass(frozen=True, slots=True)
class RenderedConfig:
    """`files` iterates in sorted path order; the same model always gives the same bytes and hash."""

    kind: str
    files: Mapping[str, bytes]
    digests: Mapping[str, str]
    content_hash: str

    def manifest(self) -> list[dict[str, object]]:
        """The file list for the API and the preview page: path, size and sha256 of each file."""
        return [{"path": p, "size": len(c), "sha256": self.digests[p]} for p, c in self.files.items()]


def safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or any(part in ("", ".", "..") for part in rel.parts):
        raise RenderError(f"refusing to write {path!r}: not a plain relative path")
    return rel


def write_files(rendered: RenderedConfig, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every file under `out_dir`, which must be absent or empty (stale fragments would be
    included by the PBX's globs). Files are 0640, directories 0750. Returns the written paths."""
    root = Path(out_dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise RenderError(f"{root} must be an empty or missing directory")
    root.mkdir(mode=0o750, parents=True, exist_ok=True)
    written = []
    for path, content in rendered.files.items():
        target = root.joinpath(*safe_relative(path).parts)
        target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        written.append(target)
    return written
