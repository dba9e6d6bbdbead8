"""A strict reader of the Asterisk .conf files Switchboard renders, and the objects they define.

Asterisk itself forgives a lot (a stray line is a warning, a bad pjsip section is skipped at
reload while the rest loads). A deploy must not: this reader refuses anything the renderer
should never produce (control characters, lines outside a section, #exec, an #include that
leaves the rendered set or matches nothing, block comments, duplicate objects, a pjsip section
without a type, malformed dialplan lines) so that a broken render never reaches the PBX.

Each file is read on its own (`read_file`, a pure function of its bytes, so callers cache it by
digest: a 10,000-user tenant is ~26,000 files and a change touches one); `merge` then combines
the files an entry point includes, in Asterisk's order, and checks what spans files.

The objects (pjsip objects by type and id, dialplan extensions by context and name, queues) are
what a deploy compares against the live PBX over AMI after a reload.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from control.render.options import RenderOptions

INCLUDE_PREFIX = RenderOptions().include_root + "/"
PJSIP_TYPES = frozenset(
    {
        "endpoint",
        "aor",
        "auth",
        "identify",
        "transport",
        "registration",
        "global",
        "system",
        "domain_alias",
        "contact",
        "acl",
        "outbound-publish",
        "resource_list",
        "inbound-publication",
        "asterisk-publication",
        "phoneprov",
    }
)
DIALPLAN_KEYS = frozenset({"exten", "same", "include", "switch", "eswitch", "lswitch", "ignorepat"})
DIALPLAN_SPECIAL = frozenset({"general", "globals"})
PJSIP, DIALPLAN, QUEUES = "pjsip", "dialplan", "queues"

_HEADER = re.compile(r"^\[([^\[\]\s;]+)\]\s*(?:\(([^()]*)\))?\s*$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_BLOCK_COMMENT = re.compile(rb"(?m)^[ \t]*;--")
_APP = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)(?:\((.*)\))?$", re.S)
_PRIORITY = re.compile(r"^(\d+|n(?:\+\d+)?|hint)(?:\(([A-Za-z0-9_-]+)\))?$")
_SAME_PRIORITY = re.compile(r"^(\d+|n(?:\+\d+)?)(?:\(([A-Za-z0-9_-]+)\))?$")

PjsipObjects = dict[tuple[str, str], dict[str, list[str]]]
# (context, extension) -> {priority: (application, data)}; a hint is priority -1
Steps = dict[int, tuple[str, str]]
DialplanObjects = dict[tuple[str, str], Steps]


class ConfError(ValueError):
    """Every problem found, as "file:line: message" strings."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(shown + more)


@dataclass(frozen=True, slots=True)
class QueueDef:
    name: str
    options: tuple[tuple[str, str], ...]
    members: tuple[tuple[str, bool], ...]  # (interface, paused)


@dataclass(slots=True)
class Section:
    name: str
    line: int
    template: bool = False
    inherits: tuple[str, ...] = ()
    entries: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass(slots=True)
class FileObjects:
    """What one file defines, as `role` (pjsip, dialplan or queues) reads it."""

    includes: list[tuple[int, str]] = field(default_factory=list)  # (line, glob under INCLUDE_PREFIX)
    endpoints: PjsipObjects = field(default_factory=dict)
    steps: DialplanObjects = field(default_factory=dict)
    contexts: set[str] = field(default_factory=set)
    queues: dict[str, QueueDef] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def strip_comment(line: str) -> str:
    """The line without its `;` comment (an escaped `\\;` stays, unescaped, in the value)."""
    at = line.find(";")
    if at < 0:
        return line
    out: list[str] = []
    start = 0
    while at >= 0:
        if at > 0 and line[at - 1] == "\\":
            out.append(line[start : at - 1] + ";")
            start = at + 1
            at = line.find(";", start)
            continue
        out.append(line[start:at])
        return "".join(out)
    out.append(line[start:])
    return "".join(out)


# --- one file --------------------------------------------------------------------------------


def _sections(name: str, content: bytes, objects: FileObjects) -> list[Section]:
    problems = objects.problems
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})")
        return []
    if content and not content.endswith(b"\n"):
        problems.append(f"{name}: does not end with a line break")
    check_controls = _CONTROL_BYTES.search(content) is not None or b"\r" in content
    check_blocks = _BLOCK_COMMENT.search(content) is not None
    sections: list[Section] = []
    current: Section | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        if check_controls:
            if raw.endswith("\r"):
                raw = raw[:-1]
            if _CONTROL.search(raw):
                problems.append(f"{name}:{number}: control character in line")
                continue
        if check_blocks and raw.lstrip().startswith(";--"):
            problems.append(f"{name}:{number}: block comments are not allowed in rendered config")
            continue
        line = (strip_comment(raw) if ";" in raw else raw).strip()
        if not line:
            continue
        first = line[0]
        if first == "#":
            if not line.startswith("#include"):
                problems.append(f"{name}:{number}: only #include is allowed, got {line.split()[0]!r}")
                continue
            argument = line[len("#include") :].strip().strip('"')
            if not argument.startswith(INCLUDE_PREFIX):
                problems.append(f"{name}:{number}: #include must name rendered files under {INCLUDE_PREFIX}")
                continue
            objects.includes.append((number, argument[len(INCLUDE_PREFIX) :]))
            # An included file starts with its own section: nothing after this line joins one.
            current = None
            continue
        if first == "[":
            match = _HEADER.match(line)
            if match is None:
                problems.append(f"{name}:{number}: malformed section header {line[:80]!r}")
                current = None
                continue
            options = [part.strip() for part in (match.group(2) or "").split(",") if part.strip()]
            if "+" in options:
                problems.append(f"{name}:{number}: appending to a section with (+) is not allowed")
            current = Section(
                match.group(1),
                number,
                "!" in options,
                tuple(option for option in options if option not in ("!", "+")),
            )
            sections.append(current)
            continue
        key, separator, value = line.partition("=")
        if not separator:
            problems.append(f"{name}:{number}: expected 'name = value', got {line[:80]!r}")
            continue
        if value.startswith(">"):
            value = value[1:]
        key = key.strip()
        if not _KEY.match(key):
            problems.append(f"{name}:{number}: bad option name {key[:40]!r}")
            continue
        if current is None:
            problems.append(f"{name}:{number}: {key!r} outside any section")
            continue
        current.entries.append((key, value.strip(), number))
    return sections


def _resolved(
    name: str, sections: list[Section], problems: list[str]
) -> list[tuple[Section, list[tuple[str, str]]]]:
    """Concrete sections with their templates' entries first (templates of the same file)."""
    templates = {section.name: section for section in sections if section.template}

    def entries(section: Section, depth: int = 0) -> list[tuple[str, str]]:
        merged: list[tuple[str, str]] = []
        for parent in section.inherits:
            base = templates.get(parent)
            if base is None or depth > 8:
                problems.append(f"{name}:{section.line}: [{section.name}] uses unknown template {parent!r}")
                continue
            merged += entries(base, depth + 1)
        merged += [(key, value) for key, value, _ in section.entries]
        return merged

    return [(section, entries(section)) for section in sections if not section.template]


def read_file(name: str, content: bytes, role: str) -> FileObjects:
    """The objects of one file read as part of pjsip.conf, extensions.conf or queues.conf."""
    objects = FileObjects()
    sections = _sections(name, content, objects)
    resolved = _resolved(name, sections, objects.problems)
    if role == PJSIP:
        _pjsip(name, resolved, objects)
    elif role == DIALPLAN:
        _dialplan(name, resolved, objects)
    else:
        _queues(name, resolved, objects)
    return objects


def _pjsip(name: str, resolved: list[tuple[Section, list[tuple[str, str]]]], objects: FileObjects) -> None:
    for section, entries in resolved:
        options: dict[str, list[str]] = {}
        for key, value in entries:
            options.setdefault(key, []).append(value)
        kinds = options.get("type", [])
        where = f"{name}:{section.line}"
        if not kinds:
            objects.problems.append(f"{where}: [{section.name}] has no type")
            continue
        kind = kinds[-1]
        if kind not in PJSIP_TYPES:
            objects.problems.append(f"{where}: [{section.name}] has unknown type {kind!r}")
            continue
        if (kind, section.name) in objects.endpoints:
            objects.problems.append(f"{where}: {kind} {section.name!r} is defined twice")
            continue
        objects.endpoints[(kind, section.name)] = options


def _split_app(text: str) -> tuple[str, str] | None:
    match = _APP.match(text.strip())
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


def _dialplan(name: str, resolved: list[tuple[Section, list[tuple[str, str]]]], objects: FileObjects) -> None:
    problems = objects.problems
    for section, _entries in resolved:
        if section.name in DIALPLAN_SPECIAL:
            continue
        context = section.name
        objects.contexts.add(context)
        last_extension: str | None = None
        last_priority = 0
        for key, value, line in section.entries:
            where = f"{name}:{line}"
            if key not in DIALPLAN_KEYS:
                problems.append(f"{where}: {key!r} is not a dialplan statement")
                continue
            if key == "include":
                if not value or "," in value:
                    problems.append(f"{where}: bad include {value[:60]!r}")
                continue
            if key in ("switch", "eswitch", "lswitch", "ignorepat"):
                continue
            if key == "exten":
                extension, comma, rest = value.partition(",")
                extension = extension.strip()
                priority_text, comma2, application = rest.partition(",")
                if not extension or not comma or not comma2:
                    problems.append(f"{where}: expected 'exten => extension,priority,application'")
                    continue
                match = _PRIORITY.match(priority_text.strip())
            else:
                if last_extension is None:
                    problems.append(f"{where}: 'same =>' without an 'exten =>' before it")
                    continue
                extension = last_extension
                priority_text, comma2, application = value.partition(",")
                if not comma2:
                    problems.append(f"{where}: expected 'same => priority,application'")
                    continue
                match = _SAME_PRIORITY.match(priority_text.strip())
            if match is None:
                problems.append(f"{where}: bad priority {priority_text.strip()[:20]!r}")
                continue
            token = match.group(1)
            steps = objects.steps.setdefault((context, extension), {})
            if token == "hint":
                steps[-1] = ("hint", application.strip())
                continue
            if token.isdigit():
                priority = int(token)
            elif extension != last_extension:
                problems.append(f"{where}: priority 'n' on the first line of extension {extension!r}")
                continue
            else:
                priority = last_priority + 1 + (int(token[2:]) if "+" in token else 0)
            step = _split_app(application)
            if step is None:
                problems.append(f"{where}: bad application {application.strip()[:60]!r}")
                continue
            if priority in steps:
                problems.append(f"{where}: extension {extension!r} priority {priority} defined twice")
                continue
            steps[priority] = step
            last_extension = extension
            last_priority = priority


def _queues(name: str, resolved: list[tuple[Section, list[tuple[str, str]]]], objects: FileObjects) -> None:
    for section, entries in resolved:
        if section.name == "general":
            continue
        if section.name in objects.queues:
            objects.problems.append(f"{name}:{section.line}: queue {section.name!r} is defined twice")
            continue
        options: list[tuple[str, str]] = []
        members: list[tuple[str, bool]] = []
        for key, value in entries:
            if key == "member":
                fields = [part.strip() for part in value.split(",")]
                if not fields[0] or "/" not in fields[0]:
                    objects.problems.append(f"{name}:{section.line}: bad member {value[:60]!r}")
                    continue
                paused = len(fields) > 6 and fields[6] in ("1", "yes", "true")
                members.append((fields[0], paused))
            else:
                options.append((key, value))
        objects.queues[section.name] = QueueDef(section.name, tuple(options), tuple(members))


# --- a whole entry point ---------------------------------------------------------------------


@lru_cache(maxsize=64)
def _matcher(pattern: str):  # type: ignore[no-untyped-def]
    return re.compile(fnmatch.translate(pattern)).match


_EXPANDED: dict[tuple[str, int, int], list[str]] = {}


def expand(pattern: str, names: Iterable[str]) -> list[str]:
    """glob(3) on the rendered set: wildcards never cross a '/', matches in sorted order.

    Remembered per pattern and set of names: consecutive versions of a tenant have the same files.
    """
    if not any(char in pattern for char in "*?["):
        return [pattern] if pattern in names else []
    ordered = tuple(names)
    key = (pattern, len(ordered), hash(ordered))
    found = _EXPANDED.get(key)
    if found is None:
        folder = pattern.rpartition("/")[0]
        prefix = f"{folder}/" if folder else ""
        match = _matcher(pattern)
        found = sorted(
            name
            for name in ordered
            if name.startswith(prefix) and "/" not in name[len(prefix) :] and match(name)
        )
        if len(_EXPANDED) > 64:
            _EXPANDED.clear()
        _EXPANDED[key] = found
    return list(found)


@dataclass(slots=True)
class Merged:
    """The files of one entry point in Asterisk's reading order, and what they define together."""

    files: list[str]
    endpoints: PjsipObjects
    steps: DialplanObjects
    contexts: set[str]
    queues: dict[str, QueueDef]


def merge(
    root: str,
    files: Mapping[str, bytes],
    read: Mapping[str, FileObjects] | None = None,
    role: str = PJSIP,
) -> Merged:
    """Combine `root` and what it includes. `read` gives (cached) per-file results by name."""
    problems: list[str] = []
    order: list[str] = []
    names = list(files)

    def visit(name: str, stack: tuple[str, ...]) -> None:
        parsed = read[name] if read is not None and name in read else read_file(name, files[name], role)
        order.append(name)
        problems.extend(parsed.problems)
        for line, pattern in parsed.includes:
            targets = expand(pattern, names)
            if not targets:
                problems.append(f"{name}:{line}: #include {INCLUDE_PREFIX}{pattern} matches no rendered file")
            for target in targets:
                if target in stack or target == name:
                    problems.append(f"{name}:{line}: #include {target} is circular")
                else:
                    visit(target, (*stack, name))

    if root not in files:
        raise ConfError([f"{root}: missing from the render"])
    visit(root, ())
    endpoints: PjsipObjects = {}
    steps: DialplanObjects = {}
    contexts: set[str] = set()
    queues: dict[str, QueueDef] = {}
    expected = 0
    for name in order:
        parsed = read[name] if read is not None and name in read else read_file(name, files[name], role)
        expected += len(parsed.endpoints) + len(parsed.queues)
        endpoints.update(parsed.endpoints)
        queues.update(parsed.queues)
        contexts |= parsed.contexts
        for key, value in parsed.steps.items():
            merged = steps.get(key)
            if merged is None:
                steps[key] = value
            elif set(merged) & set(value):
                problems.append(f"{name}: extension {key[1]!r} of [{key[0]}] is also defined in another file")
            else:
                steps[key] = merged | value
    if expected != len(endpoints) + len(queues):
        problems += _duplicates(order, files, read, role)
    for key, value in steps.items():
        if value and 1 not in value and set(value) != {-1}:
            problems.append(f"[{key[0]}] extension {key[1]!r} has no priority 1")
    if problems:
        raise ConfError(problems)
    return Merged(order, endpoints, steps, contexts, queues)


def _duplicates(
    order: list[str], files: Mapping[str, bytes], read: Mapping[str, FileObjects] | None, role: str
) -> list[str]:
    seen: dict[object, str] = {}
    problems = []
    for name in order:
        parsed = read[name] if read is not None and name in read else read_file(name, files[name], role)
        for key in [*parsed.endpoints, *parsed.queues]:
            if key in seen:
                problems.append(f"{name}: {key!r} is already defined in {seen[key]}")
            else:
                seen[key] = name
    return problems


# --- merging again after a few files changed -------------------------------------------------


@dataclass(slots=True)
class MergeState:
    """A successful merge and what it was made of, to redo it for the next version cheaply."""

    names: tuple[str, ...]
    digests: dict[str, str]
    parsed: dict[str, FileObjects]
    result: Merged
    endpoint_owner: dict[tuple[str, str], str]
    queue_owner: dict[str, str]
    step_owner: dict[tuple[str, str], str]  # "" when an extension spans several files
    context_count: dict[str, int]


def _state(
    names: tuple[str, ...], digests: dict[str, str], parsed: dict[str, FileObjects], result: Merged
) -> MergeState:
    endpoint_owner: dict[tuple[str, str], str] = {}
    queue_owner: dict[str, str] = {}
    step_owner: dict[tuple[str, str], str] = {}
    context_count: dict[str, int] = {}
    for name in result.files:
        objects = parsed[name]
        for key in objects.endpoints:
            endpoint_owner[key] = name
        for queue in objects.queues:
            queue_owner[queue] = name
        for step in objects.steps:
            step_owner[step] = "" if step in step_owner else name
        for context in objects.contexts:
            context_count[context] = context_count.get(context, 0) + 1
    return MergeState(names, digests, parsed, result, endpoint_owner, queue_owner, step_owner, context_count)


def merge_again(
    root: str,
    files: Mapping[str, bytes],
    digests: Mapping[str, str],
    read: Callable[[str], FileObjects],
    role: str,
    state: MergeState | None,
) -> tuple[Merged, MergeState]:
    """`merge`, starting from the previous successful merge when only file contents changed.

    Falls back to a full merge when the set of files changed, an include line changed, or an
    extension spans files. The result never shares mutable dicts with `state.result`.
    """
    names = tuple(files)
    current = {name: digests.get(name) or _sha256(files[name]) for name in files}
    if state is None or state.names != names or state.digests.get(root) != current.get(root):
        return _merge_fully(root, files, current, read, role, names)
    changed = [name for name in state.result.files if state.digests[name] != current[name]]
    parsed = dict(state.parsed)
    for name in changed:
        parsed[name] = read(name)
        if parsed[name].includes or state.parsed[name].includes:
            return _merge_fully(root, files, current, read, role, names)
    problems = [problem for name in changed for problem in parsed[name].problems]
    if problems:
        raise ConfError(problems)
    base = state.result
    endpoints, queues, steps = dict(base.endpoints), dict(base.queues), dict(base.steps)
    endpoint_owner, queue_owner = dict(state.endpoint_owner), dict(state.queue_owner)
    step_owner, context_count = dict(state.step_owner), dict(state.context_count)
    for name in changed:
        old = state.parsed[name]
        if any(step_owner.get(key) != name for key in old.steps):
            return _merge_fully(root, files, current, read, role, names)
        for key in old.endpoints:
            del endpoints[key], endpoint_owner[key]
        for queue in old.queues:
            del queues[queue], queue_owner[queue]
        for step in old.steps:
            del steps[step], step_owner[step]
        for context in old.contexts:
            context_count[context] -= 1
    for name in changed:
        new = parsed[name]
        for key, options in new.endpoints.items():
            if key in endpoint_owner:
                problems.append(f"{name}: {key!r} is already defined in {endpoint_owner[key]}")
            endpoints[key], endpoint_owner[key] = options, name
        for queue, definition in new.queues.items():
            if queue in queue_owner:
                problems.append(f"{name}: {queue!r} is already defined in {queue_owner[queue]}")
            queues[queue], queue_owner[queue] = definition, name
        for step, priorities in new.steps.items():
            if step in step_owner:
                return _merge_fully(root, files, current, read, role, names)
            if priorities and 1 not in priorities and set(priorities) != {-1}:
                problems.append(f"[{step[0]}] extension {step[1]!r} has no priority 1")
            steps[step], step_owner[step] = priorities, name
        for context in new.contexts:
            context_count[context] = context_count.get(context, 0) + 1
    if problems:
        raise ConfError(problems)
    contexts = {context for context, count in context_count.items() if count > 0}
    result = Merged(base.files, endpoints, steps, contexts, queues)
    state = MergeState(names, current, parsed, result, endpoint_owner, queue_owner, step_owner, context_count)
    return result, state


def _merge_fully(
    root: str,
    files: Mapping[str, bytes],
    digests: dict[str, str],
    read: Callable[[str], FileObjects],
    role: str,
    names: tuple[str, ...],
) -> tuple[Merged, MergeState]:
    parsed: dict[str, FileObjects] = {}

    class _Reader(dict):  # type: ignore[type-arg]
        def __missing__(self, name: str) -> FileObjects:
            parsed[name] = self[name] = read(name)
            return parsed[name]

        def __contains__(self, name: object) -> bool:
            return isinstance(name, str) and name in files

    result = merge(root, files, _Reader(), role)
    return result, _state(names, digests, parsed, result)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
