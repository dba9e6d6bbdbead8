"""A small, strict reader of rendered Asterisk .conf files, for tests.

It follows the Asterisk config parser where it matters for injection — `;` starts a comment
unless written `\\;`, `[name]` opens a section, `#include` takes a glob relative to the config
directory — and refuses any line that is neither blank, a comment, a section, a `key = value`,
a `key => value` nor an `#include`. `structure()` lists what Asterisk would create: contexts,
extensions, priorities, pjsip objects, queues and queue members.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

SECTION_RE = re.compile(r"\[([^\]]+)\](?:\(([^)]*)\))?")
ASSIGN_RE = re.compile(r"([A-Za-z0-9_.-]+)\s*(=>|=)\s*(.*)")
EXTEN_RE = re.compile(r"([^,]+),([^,]+),(.*)")
PRIORITY_RE = re.compile(r"(n|[0-9]+)(?:\(([A-Za-z0-9_-]+)\))?")
APP_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\(.*\)")
#: a hint's devices: `exten => 1001,hint,PJSIP/1001&PJSIP/1001-webphone`
HINT_RE = re.compile(r"[A-Za-z]+/[A-Za-z0-9_.@-]+(?:&[A-Za-z]+/[A-Za-z0-9_.@-]+)*")


class ConfSyntaxError(ValueError):
    pass


@dataclass
class Section:
    name: str
    file: str
    entries: list[tuple[str, str, str]] = field(default_factory=list)  # (key, op, value)

    def get(self, key: str) -> str | None:
        return next((v for k, _, v in self.entries if k == key), None)


def strip_comment(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def read(files: Mapping[str, bytes], top: str, include_root: str = "switchboard/live") -> list[Section]:
    """Sections of `top` with its #includes resolved inside `files` (paths relative to the version)."""
    sections: list[Section] = []
    _read(files, top, include_root, sections, depth=0)
    return sections


def _read(files: Mapping[str, bytes], name: str, root: str, sections: list[Section], depth: int) -> None:
    if depth > 5:
        raise ConfSyntaxError("includes nested too deep")
    for number, raw in enumerate(files[name].decode().split("\n"), start=1):
        if "\r" in raw or "\x00" in raw:
            raise ConfSyntaxError(f"{name}:{number}: control character in line")
        stripped = raw.strip()
        if stripped.startswith("#"):
            directive = stripped.split(None, 1)
            if directive[0] != "#include" or len(directive) != 2:
                raise ConfSyntaxError(f"{name}:{number}: unexpected directive {stripped!r}")
            pattern = directive[1]
            if not pattern.startswith(root + "/"):
                raise ConfSyntaxError(f"{name}:{number}: include outside the version: {pattern!r}")
            matches = sorted(p for p in files if fnmatch.fnmatch(p, pattern[len(root) + 1 :]))
            if not matches:
                raise ConfSyntaxError(
                    f"{name}:{number}: #include {pattern} matches nothing (an Asterisk error)"
                )
            for match in matches:
                _read(files, match, root, sections, depth + 1)
            continue
        line = strip_comment(raw)
        if not line:
            continue
        section = SECTION_RE.fullmatch(line)
        if section:
            sections.append(Section(section.group(1), name))
            continue
        assign = ASSIGN_RE.fullmatch(line)
        if assign is None:
            raise ConfSyntaxError(f"{name}:{number}: not a conf line: {line!r}")
        if not sections:
            raise ConfSyntaxError(f"{name}:{number}: value outside any section")
        sections[-1].entries.append((assign.group(1), assign.group(2), assign.group(3).strip()))


@dataclass(frozen=True)
class Structure:
    contexts: frozenset[str]
    extensions: frozenset[tuple[str, str]]
    priorities: frozenset[tuple[str, str, int, str]]  # (context, extension, priority, application)
    pjsip: frozenset[tuple[str, str]]  # (name, type)
    queues: frozenset[str]
    members: frozenset[tuple[str, str, str]]  # (queue, interface, paused)


def dialplan(
    sections: list[Section],
) -> tuple[set[str], set[tuple[str, str]], set[tuple[str, str, int, str]]]:
    contexts, extensions, priorities = set(), set(), set()
    for section in sections:
        contexts.add(section.name)
        current: str | None = None
        last = 0
        for key, op, value in section.entries:
            if op != "=>" or key not in ("exten", "same"):
                raise ConfSyntaxError(f"[{section.name}]: unexpected {key} {op} {value!r}")
            if key == "exten":
                match = EXTEN_RE.fullmatch(value)
                if match is None:
                    raise ConfSyntaxError(f"[{section.name}]: bad exten {value!r}")
                current, prio, app = match.group(1), match.group(2), match.group(3)
                if prio == "hint":
                    if HINT_RE.fullmatch(app) is None:
                        raise ConfSyntaxError(f"[{section.name}]: bad hint {app!r}")
                    extensions.add((section.name, current))
                    priorities.add((section.name, current, 0, "hint"))
                    continue
            else:
                if current is None:
                    raise ConfSyntaxError(f"[{section.name}]: same before exten")
                prio, _, app = value.partition(",")
            prio_match = PRIORITY_RE.fullmatch(prio)
            if prio_match is None or APP_RE.fullmatch(app) is None:
                raise ConfSyntaxError(f"[{section.name}]: bad priority {prio!r} or application {app!r}")
            number = last + 1 if prio_match.group(1) == "n" else int(prio_match.group(1))
            last = number
            extensions.add((section.name, current))
            priorities.add((section.name, current, number, app.split("(", 1)[0]))
    return contexts, extensions, priorities


def structure(files: Mapping[str, bytes], include_root: str = "switchboard/live") -> Structure:
    contexts, extensions, priorities = dialplan(read(files, "extensions.conf", include_root))
    pjsip = set()
    for section in read(files, "pjsip.conf", include_root):
        kind = section.get("type")
        if kind is None or sum(1 for k, _, _ in section.entries if k == "type") != 1:
            raise ConfSyntaxError(f"pjsip section [{section.name}] needs exactly one type")
        pjsip.add((section.name, kind))
    queues, members = set(), set()
    for section in read(files, "queues.conf", include_root):
        queues.add(section.name)
        for key, op, value in section.entries:
            if key == "member":
                fields = value.split(",")
                if op != "=>" or len(fields) != 7:
                    raise ConfSyntaxError(f"[{section.name}]: member needs 7 fields: {value!r}")
                members.add((section.name, fields[0], fields[6]))
    return Structure(
        frozenset(contexts),
        frozenset(extensions),
        frozenset(priorities),
        frozenset(pjsip),
        frozenset(queues),
        frozenset(members),
    )
