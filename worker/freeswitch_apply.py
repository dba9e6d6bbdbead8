"""FreeSWITCH: validate rendered XML, reload over ESL, verify through the PBX's own lookups.

A version's files (control/render/freeswitch.py) map to parts: directory.xml + directory/ are
the endpoints, dialplan/ the dialplan, callcenter.conf.xml + callcenter/ the queues, gateway.xml
the trunk. Any change is made visible with one `reloadxml`; mod_callcenter keeps queues, agents
and tiers in its own database, so a queue change is also pushed object by object with
`callcenter_config` (queue load/reload/unload, agent reload/del, tier reload/del), never by
reloading the module (that would drop the calls waiting in queues); a trunk change is
`sofia profile external killgw` + `rescan`.

Verification: `user_exists` and `user_data ... param password` for changed users,
`xml_locate dialplan context name <ctx>` for changed extensions (compared by structure, not
formatting: FreeSWITCH answers in its own layout), `callcenter_config queue list
agents <queue>` for tiers, `sofia status gateway` for the trunk.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from control.render import names
from worker.asterisk_conf import ConfError
from worker.esl_client import EslClient
from worker.model_cache import ModelCache
from worker.pbx_errors import PbxError

ENDPOINTS, DIALPLAN, QUEUES, GATEWAY = "endpoints", "dialplan", "queues", "gateway"
MAX_CHECKS = 40
RELOAD_TIMEOUT = 120.0
CONTEXTS = {"dialplan/default": names.FS_DEFAULT_CONTEXT, "dialplan/public": names.FS_PUBLIC_CONTEXT}


class VerifyError(PbxError):
    """The reload went through but FreeSWITCH does not show what was deployed."""


@dataclass(slots=True)
class FreeswitchConfig:
    domain: str | None = None
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    extensions: dict[tuple[str, str], bytes] = field(default_factory=dict)
    queues: dict[str, bytes] = field(default_factory=dict)
    agents: dict[str, bytes] = field(default_factory=dict)
    tiers: dict[tuple[str, str], bytes] = field(default_factory=dict)
    gateways: dict[str, bytes] = field(default_factory=dict)
    part_files: dict[str, set[str]] = field(default_factory=dict)


def part_of(path: str) -> str | None:
    if path == "directory.xml" or path.startswith("directory/"):
        return ENDPOINTS
    if path.startswith("dialplan/"):
        return DIALPLAN
    if path == "callcenter.conf.xml" or path.startswith("callcenter/"):
        return QUEUES
    if path == "gateway.xml":
        return GATEWAY
    return None


def _context_of(path: str) -> str | None:
    for prefix, context in CONTEXTS.items():
        if path == f"{prefix}.xml" or path.startswith(f"{prefix}/"):
            return context
    return None


def _canonical(element: etree._Element) -> bytes:
    """The element's structure, never its formatting: tag, attributes in name order, children in
    order, text without surrounding blanks; whitespace between elements, comments and the
    <x/> / <x></x> spelling do not count. FreeSWITCH answers `xml_locate` with its own
    indentation and blank lines, so this is what a deployed object and a live one are compared by.
    """
    out: list[str] = []
    _structure(element, out)
    return "".join(out).encode()


def _structure(element: etree._Element, out: list[str]) -> None:
    out.append(f"<{element.tag}")
    for name in sorted(element.attrib):
        out.append(f' {name}="{_escape(element.attrib[name])}"')
    out.append(">")
    if text := (element.text or "").strip():
        out.append(_escape(text))
    for child in element:
        if isinstance(child.tag, str):  # comments and processing instructions carry no config
            _structure(child, out)
        if tail := (child.tail or "").strip():
            out.append(_escape(tail))
    out.append(f"</{element.tag}>")


def _escape(value: str) -> str:
    return escape(value, {'"': "&quot;"})


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, load_dtd=False)


@dataclass(slots=True)
class FileObjects:
    """One file's parse: what it defines, its includes, and what is wrong with it on its own."""

    directives: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    config: FreeswitchConfig = field(default_factory=FreeswitchConfig)
    collected: list[str] = field(default_factory=list)


def _read(path: str, content: bytes, role: str) -> FileObjects:
    read = FileObjects()
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        read.problems.append(f"{path}: not well-formed XML: {exc}")
        return read
    if root.tag != "include":
        read.problems.append(f"{path}: the document element must be <include>, not <{root.tag}>")
        return read
    read.directives = [(d.get("cmd", ""), d.get("data", "")) for d in root.iter("X-PRE-PROCESS")]
    read.collected = _collect(read.config, path, root)
    return read


# Whole models by content hash and per-file parses by path and sha256.
_CACHE: ModelCache[FreeswitchConfig, FileObjects] = ModelCache()
_ROLE = "freeswitch"


def parse(
    files: Mapping[str, bytes], digests: Mapping[str, str] | None = None, content_hash: str | None = None
) -> FreeswitchConfig:
    """The objects of a version (rendered, or flattened as on the PBX); ConfError lists every problem.

    `digests` (sha256 by path) and `content_hash`, as a RenderedConfig has them, let this reuse
    what it read before (worker/model_cache.py): a version that differs from the last one in a
    few files costs those files.
    """
    cached = _CACHE.model(content_hash)
    if cached is not None:
        return cached
    read = _CACHE.reader(files, digests or {}, _ROLE, _read)
    problems: list[str] = []
    config = FreeswitchConfig()
    parsed: list[tuple[str, FileObjects]] = []
    for path in files:
        part = part_of(path)
        if part is None or not path.endswith(".xml"):
            problems.append(f"{path}: not a file FreeSWITCH includes from a Switchboard version")
            continue
        config.part_files.setdefault(part, set()).add(path)
        objects = read(path)
        problems += objects.problems
        if objects.problems:
            continue
        parsed.append((path, objects))
        for cmd, data in objects.directives:
            problems += _check_directive(path, cmd, data, files)
    for path, objects in parsed:
        problems += objects.collected
        problems += _merge(config, path, objects.config)
    for (queue, agent), _ in config.tiers.items():
        if queue not in config.queues:
            problems.append(f"tier {agent} -> {queue}: no such queue")
        if agent not in config.agents:
            problems.append(f"tier {agent} -> {queue}: no such agent")
    if problems:
        raise ConfError(problems)
    _CACHE.keep(content_hash, config)
    return config


def _merge(config: FreeswitchConfig, path: str, one: FreeswitchConfig) -> list[str]:
    """Add one file's objects to the version's; an object another file defined too is a problem."""
    problems: list[str] = []
    if one.domain is not None:
        config.domain = one.domain
    for ident in one.users.keys() & config.users.keys():
        problems.append(f"{path}: user {ident!r} is defined twice")
    config.users.update(one.users)
    stores: tuple[tuple[dict[Any, bytes], dict[Any, bytes], str], ...] = (
        (config.extensions, one.extensions, "extension"),
        (config.queues, one.queues, "queue"),
        (config.agents, one.agents, "agent"),
        (config.tiers, one.tiers, "tier"),
        (config.gateways, one.gateways, "gateway"),
    )
    for store, mine, what in stores:
        for key in sorted(mine.keys() & store.keys()):
            problems.append(f"{path}: {what} {key!r} is defined twice")
        for key, value in mine.items():
            store.setdefault(key, value)
    return problems


def include_pattern(path: str, data: str) -> str | None:
    """The files of the version an include in `path` reads (FreeSWITCH resolves a relative
    include against the directory of the file holding it); None when it leaves the version."""
    if not data or data.startswith("/"):
        return None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), data))
    return None if resolved == ".." or resolved.startswith("../") else resolved


def _matches(pattern: str, names: Iterable[str]) -> list[str]:
    depth = pattern.count("/")
    return sorted(name for name in names if name.count("/") == depth and fnmatch.fnmatchcase(name, pattern))


def _check_directive(path: str, cmd: str, data: str, files: Mapping[str, bytes]) -> list[str]:
    if cmd != "include":
        return [f"{path}: X-PRE-PROCESS cmd={cmd!r} is not allowed (only include)"]
    pattern = include_pattern(path, data)
    if pattern is None:
        return [f"{path}: include {data!r} leaves the version"]
    depth = pattern.count("/")
    if not any(name.count("/") == depth and fnmatch.fnmatchcase(name, pattern) for name in files):
        return [f"{path}: include {data!r} matches no rendered file"]
    return []


def _once(store: dict, key: object, value: bytes, what: str, path: str, problems: list[str]) -> None:
    if key in store:
        problems.append(f"{path}: {what} {key!r} is defined twice")
    else:
        store[key] = value


def _collect(config: FreeswitchConfig, path: str, root: etree._Element) -> list[str]:
    problems: list[str] = []
    if path == "directory.xml":
        domains = root.findall("domain")
        if len(domains) != 1 or not domains[0].get("name"):
            problems.append(f"{path}: expected exactly one <domain name=...>")
        else:
            config.domain = domains[0].get("name")
    for user in root.iter("user"):
        ident = user.get("id", "")
        if not ident:
            problems.append(f"{path}: <user> without an id")
            continue
        options = {f"param:{p.get('name')}": p.get("value", "") for p in user.iter("param")}
        options |= {f"var:{v.get('name')}": v.get("value", "") for v in user.iter("variable")}
        if ident in config.users:
            problems.append(f"{path}: user {ident!r} is defined twice")
        config.users[ident] = options
    context = _context_of(path)
    for extension in root.iter("extension"):
        if context is None:
            problems.append(f"{path}: <extension> outside the default and public dialplans")
            continue
        _once(
            config.extensions,
            (context, extension.get("name", "")),
            _canonical(extension),
            "extension",
            path,
            problems,
        )
    for queue in root.iter("queue"):
        _once(config.queues, queue.get("name", ""), _canonical(queue), "queue", path, problems)
    for agent in root.iter("agent"):
        _once(config.agents, agent.get("name", ""), _canonical(agent), "agent", path, problems)
    for tier in root.iter("tier"):
        key = (tier.get("queue", ""), tier.get("agent", ""))
        _once(config.tiers, key, _canonical(tier), "tier", path, problems)
    for gateway in root.iter("gateway"):
        _once(config.gateways, gateway.get("name", ""), _canonical(gateway), "gateway", path, problems)
    return problems


ROOTS = ("directory.xml", "dialplan/default.xml", "dialplan/public.xml", "callcenter.conf.xml", "gateway.xml")
_WRAPPER = (b"<include>", b"</include>")


# What flatten writes for a file without includes, by (path, nested, its bytes): consecutive
# versions share all but the changed files (bytes hash once, so a lookup costs no re-read).
_LEAVES: dict[tuple[str, bool, bytes], bytes | None] = {}
# The files an include pattern names, by (pattern, the version's names).
_MATCHES: dict[tuple[str, int, int], list[str]] = {}
_FLATTEN_KEPT = 100_000


def _inline(
    name: str, files: Mapping[str, bytes], out: list[bytes], nested: bool, names: tuple[str, ...]
) -> None:
    content = files[name]
    leaf = (name, nested, content)
    if leaf in _LEAVES:
        if (block := _LEAVES[leaf]) is not None:
            out.append(block)
        return
    lines: list[bytes] = []
    includes = b"X-PRE-PROCESS" in content
    for line in content.split(b"\n"):
        stripped = line.strip()
        if nested and stripped in _WRAPPER:
            continue  # the pre-processor reads an included file's children, not its <include>
        if includes and stripped.startswith(b"<X-PRE-PROCESS") and b'cmd="include"' in stripped:
            data = stripped.split(b'data="', 1)[1].split(b'"', 1)[0].decode()
            out += lines
            lines = []
            for target in _targets(name, data, names):
                _inline(target, files, out, True, names)
            continue
        lines.append(line)
    out += lines
    if not includes:
        _LEAVES[leaf] = b"\n".join(lines) if lines else None


def _targets(name: str, data: str, names: tuple[str, ...]) -> list[str]:
    pattern = include_pattern(name, data)
    if pattern is None:
        return []
    key = (pattern, len(names), hash(names))
    if key not in _MATCHES:
        _MATCHES[key] = _matches(pattern, names)
    return _MATCHES[key]


def flatten(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The five entry points with each X-PRE-PROCESS include replaced by the files it names.

    Call it on a version `parse` accepted; the renderer writes <include> and </include> on lines
    of their own, which is what lets this work on text.
    """
    if len(_LEAVES) > _FLATTEN_KEPT or len(_MATCHES) > _FLATTEN_KEPT:
        _LEAVES.clear()
        _MATCHES.clear()
    names = tuple(files)
    flat: dict[str, bytes] = {}
    for root in ROOTS:
        if root in files:
            out: list[bytes] = []
            _inline(root, files, out, False, names)
            flat[root] = b"\n".join(out)
    return flat


def changed_parts(config: FreeswitchConfig, changed_paths: Iterable[str]) -> set[str]:
    return {part for path in changed_paths if (part := part_of(path)) is not None}


def _changed(old: Mapping, new: Mapping) -> tuple[list, list]:
    return sorted(k for k, v in new.items() if (was := old.get(k)) is not v and was != v), sorted(
        k for k in old if k not in new
    )


def _ok(esl: EslClient, command: str) -> str:
    output = esl.api(command, timeout=RELOAD_TIMEOUT)
    if output.startswith("-ERR") or output.startswith("-USAGE"):
        raise PbxError(f"{command!r} answered {output.strip()[:300]!r}")
    return output


def reload(esl: EslClient, parts: Iterable[str], old: FreeswitchConfig | None, new: FreeswitchConfig) -> None:
    parts = set(parts)
    if not parts:
        return
    _ok(esl, "reloadxml")
    base = old or FreeswitchConfig()
    if QUEUES in parts:
        _reload_callcenter(esl, base, new)
    if GATEWAY in parts:
        changed, removed = _changed(base.gateways, new.gateways)
        for name in removed + [name for name in changed if name in base.gateways]:
            _ok(esl, f"sofia profile {names.FS_URI_PROFILE} killgw {name}")
        _ok(esl, f"sofia profile {names.FS_URI_PROFILE} rescan")


def _reload_callcenter(esl: EslClient, old: FreeswitchConfig, new: FreeswitchConfig) -> None:
    queues, gone_queues = _changed(old.queues, new.queues)
    agents, gone_agents = _changed(old.agents, new.agents)
    tiers, gone_tiers = _changed(old.tiers, new.tiers)
    for queue, agent in gone_tiers:
        _ok(esl, f"callcenter_config tier del {queue} {agent}")
    for agent in gone_agents:
        _ok(esl, f"callcenter_config agent del {agent}")
    for queue in gone_queues:
        _ok(esl, f"callcenter_config queue unload {queue}")
    for queue in queues:
        _ok(esl, f"callcenter_config queue {'reload' if queue in old.queues else 'load'} {queue}")
    for agent in agents:
        _ok(esl, f"callcenter_config agent reload {agent}")
    for queue, agent in tiers:
        _ok(esl, f"callcenter_config tier reload {queue} {agent}")


# --- verification ---------------------------------------------------------------------------


def _sample(keys: list, limit: int = MAX_CHECKS) -> list:
    if len(keys) <= limit:
        return keys
    step = len(keys) / limit
    return [keys[int(index * step)] for index in range(limit)]


def verify(esl: EslClient, old: FreeswitchConfig | None, new: FreeswitchConfig, parts: Iterable[str]) -> int:
    parts = set(parts)
    base = old or FreeswitchConfig()
    checked = 0
    if ENDPOINTS in parts:
        checked += _verify_users(esl, base, new)
    if DIALPLAN in parts:
        checked += _verify_dialplan(esl, base, new)
    if QUEUES in parts:
        checked += _verify_tiers(esl, base, new)
    if GATEWAY in parts:
        for name in new.gateways:
            if "Invalid Gateway" in esl.api(f"sofia status gateway {name}"):
                raise VerifyError(f"gateway {name} is not live after the rescan")
            checked += 1
    return checked


def _verify_users(esl: EslClient, old: FreeswitchConfig, new: FreeswitchConfig) -> int:
    domain = new.domain or old.domain
    changed, removed = _changed(old.users, new.users)
    if domain != old.domain:
        changed = sorted(new.users)
    changed, removed = _sample(changed), _sample(removed)
    for ident in changed:
        if esl.api(f"user_exists id {ident} {domain}").strip() != "true":
            raise VerifyError(f"user {ident}@{domain} is not in the live directory after reloadxml")
        password = new.users[ident].get("param:password")
        if password is not None:
            live = esl.api(f"user_data {ident}@{domain} param password").strip()
            if live != password:
                raise VerifyError(f"user {ident}@{domain}: the live password is not the deployed one")
    for ident in removed:
        if esl.api(f"user_exists id {ident} {old.domain}").strip() == "true":
            raise VerifyError(f"user {ident}@{old.domain} was removed but is still in the directory")
    return len(changed) + len(removed)


def _verify_dialplan(esl: EslClient, old: FreeswitchConfig, new: FreeswitchConfig) -> int:
    changed, removed = _changed(old.extensions, new.extensions)
    changed, removed = _sample(changed), _sample(removed)
    live: dict[str, dict[str, bytes]] = {}
    for context in sorted({key[0] for key in changed + removed}):
        output = esl.api(f"xml_locate dialplan context name {context}")
        try:
            element = etree.fromstring(output.encode(), _PARSER)
        except etree.XMLSyntaxError as exc:
            raise VerifyError(f"dialplan context {context} is not live ({output.strip()[:80]!r})") from exc
        live[context] = {ext.get("name", ""): _canonical(ext) for ext in element.iter("extension")}
    for key in changed:
        if live[key[0]].get(key[1]) != new.extensions[key]:
            raise VerifyError(f"dialplan {key[0]}/{key[1]} is not the deployed one after reloadxml")
    for context, name in removed:
        if name in live[context]:
            raise VerifyError(f"dialplan {context}/{name} was removed but is still live")
    return len(changed) + len(removed)


def _queue_agents(esl: EslClient, queue: str) -> set[str]:
    output = _ok(esl, f"callcenter_config queue list agents {queue}")
    rows = [line for line in output.splitlines() if "|" in line]
    return {row.split("|", 1)[0] for row in rows[1:]}


def _verify_tiers(esl: EslClient, old: FreeswitchConfig, new: FreeswitchConfig) -> int:
    touched = {queue for queue, _ in _changed(old.tiers, new.tiers)[0] + _changed(old.tiers, new.tiers)[1]}
    touched |= set(_changed(old.queues, new.queues)[0])
    checked = 0
    for queue in _sample(sorted(touched & set(new.queues))):
        wanted = {agent for q, agent in new.tiers if q == queue}
        live = _queue_agents(esl, queue)
        if live != wanted:
            raise VerifyError(f"queue {queue}: live agents {sorted(live)}, deployed {sorted(wanted)}")
        checked += 1
    return checked
