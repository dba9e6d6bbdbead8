"""What a PBX kind's `parse` keeps between deploys: whole models by content hash, files by digest.

A worker process parses the live and the new version before it forks each deploy
(worker.deploys.prepare); the forked job finds both here. Consecutive versions differ in a few
files, so a file's parse is kept under (what it was read as, its path, its sha256): a new version
costs the files that changed, and a version parsed before (the live one) costs nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

M = TypeVar("M")
F = TypeVar("F")


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class ModelCache(Generic[M, F]):
    def __init__(self, models_kept: int = 4, files_kept: int = 400_000) -> None:
        self._models: dict[str, M] = {}
        self._files: dict[tuple[str, str, str], F] = {}
        self._models_kept = models_kept
        self._files_kept = files_kept

    def model(self, content_hash: str | None) -> M | None:
        return self._models.get(content_hash) if content_hash is not None else None

    def keep(self, content_hash: str | None, model: M) -> None:
        if content_hash is None:
            return
        while len(self._models) >= self._models_kept:
            self._models.pop(next(iter(self._models)))
        self._models[content_hash] = model

    def reader(
        self,
        files: Mapping[str, bytes],
        digests: Mapping[str, str],
        role: str,
        read: Callable[[str, bytes, str], F],
    ) -> Callable[[str], F]:
        """`read(path, content, role)` for the files of one version, each parsed once per (role, bytes)."""
        if len(self._files) > self._files_kept:
            self._files.clear()

        def cached(name: str) -> F:
            content = files[name]
            key = (role, name, digests.get(name) or digest(content))
            parsed = self._files.get(key)
            if parsed is None:
                parsed = self._files[key] = read(name, content, role)
            return parsed

        return cached

    def clear(self) -> None:
        self._models.clear()
        self._files.clear()
