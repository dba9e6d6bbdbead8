"""What a deploy changes, file by file: a summary for the history and a unified diff to read.

Secrets are masked in the diff text (worker.redact): the history is shown in the admin and the API.

Rendered files are large (a 10,000-user pjsip.conf is ~100,000 lines) and a change is usually a
few lines, so the diff first strips the lines both versions share at the start and the end,
and only runs difflib on what is left; a huge remainder is counted, not diffed line by line.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from worker.redact import redact

MAX_DIFF_LINES = 20_000  # beyond this many differing lines, counts only
MAX_TEXT = 200_000  # characters of unified diff kept on the record


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    status: str  # added | removed | changed
    added: int
    removed: int

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "status": self.status, "added": self.added, "removed": self.removed}


_CHUNK = 65536


def _prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix (compared chunk by chunk, in C, then narrowed)."""
    limit = min(len(a), len(b))
    at = 0
    while at < limit and a[at : at + _CHUNK] == b[at : at + _CHUNK]:
        at += _CHUNK
    if at >= limit:
        return limit
    low, high = at, min(at + _CHUNK, limit)
    while low < high:
        middle = (low + high + 1) // 2
        if a[at:middle] == b[at:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _suffix(a: bytes, b: bytes, limit: int) -> int:
    """Length of the common suffix, at most `limit` bytes."""
    size_a, size_b = len(a), len(b)
    at = 0
    while at < limit:
        step = min(_CHUNK, limit - at)
        if a[size_a - at - step : size_a - at] != b[size_b - at - step : size_b - at]:
            low, high = 0, step
            while low < high:
                middle = (low + high + 1) // 2
                if a[size_a - at - middle : size_a - at] == b[size_b - at - middle : size_b - at]:
                    low = middle
                else:
                    high = middle - 1
            return at + low
        at += step
    return limit


def _split(old: bytes, new: bytes) -> tuple[int, int]:
    """Bytes both share at the start and at the end, in whole lines, not overlapping."""
    prefix = old.rfind(b"\n", 0, _prefix(old, new)) + 1
    suffix = _suffix(old, new, min(len(old), len(new)) - prefix)
    cut = len(old) - suffix
    if suffix and cut > prefix and old[cut - 1 : cut] != b"\n":
        line_end = old.find(b"\n", cut)
        suffix = 0 if line_end < 0 else len(old) - line_end - 1
    return prefix, suffix


def _lines(content: bytes) -> list[str]:
    return content.decode("utf-8", "replace").splitlines()


def _file_diff(path: str, old: bytes | None, new: bytes | None, context: int = 3) -> tuple[FileChange, str]:
    status = "added" if old is None else "removed" if new is None else "changed"
    old, new = old or b"", new or b""
    prefix, suffix = _split(old, new)
    core_old = _lines(old[prefix : len(old) - suffix])
    core_new = _lines(new[prefix : len(new) - suffix])
    start_line = old.count(b"\n", 0, prefix)
    before = _lines(old[:prefix])[-context:] if prefix else []
    after = _lines(old[len(old) - suffix :])[:context] if suffix else []
    if len(core_old) + len(core_new) > MAX_DIFF_LINES:
        old_count, new_count = Counter(core_old), Counter(core_new)
        added = sum((new_count - old_count).values())
        removed = sum((old_count - new_count).values())
        text = f"--- a/{path}\n+++ b/{path}\n(+{added} -{removed} lines: too large to show line by line)\n"
    else:
        added = removed = 0
        body: list[str] = []
        offset = start_line - len(before)
        for line in difflib.unified_diff(
            before + core_old + after,
            before + core_new + after,
            f"a/{path}",
            f"b/{path}",
            lineterm="",
            n=context,
        ):
            if line.startswith("@@"):
                # Hunk line numbers count from the start of the file, not of the trimmed part.
                line = _shift_hunk(line, offset)
            elif line.startswith("+") and not line.startswith("+++"):
                added += 1
            elif line.startswith("-") and not line.startswith("---"):
                removed += 1
            body.append(line)
        text = "\n".join(body) + "\n" if body else ""
    return FileChange(path, status, added, removed), text


def _shift_hunk(header: str, offset: int) -> str:
    # "@@ -a,b +c,d @@"
    parts = header.split(" ")
    for index in (1, 2):
        sign, numbers = parts[index][0], parts[index][1:]
        first, comma, count = numbers.partition(",")
        parts[index] = f"{sign}{int(first) + offset}{comma}{count}"
    return " ".join(parts)


def diff_versions(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> tuple[list[FileChange], str]:
    """Changed files (sorted by path) and the unified diff of them all, capped at MAX_TEXT."""
    changes: list[FileChange] = []
    texts: list[str] = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        change, text = _file_diff(path, before, after)
        changes.append(change)
        texts.append(redact(text))
    text = "".join(texts)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n... diff truncated at {MAX_TEXT} characters\n"
    return changes, text
