"""Asterisk: validate rendered files, reload only the changed modules over AMI, verify they are live.

The three entry points map to three reloads (never `core reload`):
pjsip.conf -> `module reload res_pjsip.so`, extensions.conf -> `dialplan reload`,
queues.conf -> `module reload app_queue.so`. A version on the PBX holds the three entry points
with their #include'd fragments written in place (`flatten`): the renderer's per-entity files
(~26,000 for 10,000 users) would cost a directory of links per version and Asterisk one open()
each at every reload.

Verification compares the objects that changed between the live and the new version with what
Asterisk reports after the reload: PJSIPShowEndpoint (endpoint, its auth and aor), ShowDialPlan
(one extension's steps), QueueStatus (a queue's static members and their pause). Large changes
are verified on an evenly spread sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from worker import asterisk_conf
from worker.ami_client import AmiClient
from worker.asterisk_conf import (
    INCLUDE_PREFIX,
    ConfError,
    DialplanObjects,
    FileObjects,
    PjsipObjects,
    QueueDef,
    expand,
    merge_again,
    read_file,
)
from worker.model_cache import ModelCache
from worker.pbx_errors import PbxError

ENDPOINTS, DIALPLAN, QUEUES = "endpoints", "dialplan", "queues"
ROOTS = {ENDPOINTS: "pjsip.conf", DIALPLAN: "extensions.conf", QUEUES: "queues.conf"}
ROLES = {ENDPOINTS: asterisk_conf.PJSIP, DIALPLAN: asterisk_conf.DIALPLAN, QUEUES: asterisk_conf.QUEUES}
RELOADS = {
    ENDPOINTS: ("module reload res_pjsip.so", "reloaded successfully"),
    DIALPLAN: ("dialplan reload", "Dialplan reloaded"),
    QUEUES: ("module reload app_queue.so", "reloaded successfully"),
}
MAX_CHECKS = 40  # objects verified per kind and deploy
RELOAD_TIMEOUT = 120.0
# EndpointDetail/AuthDetail/AorDetail fields compared with the rendered options.
COMPARED = {
    "endpoint": ("context", "aors", "auth", "outbound_auth", "transport", "mailboxes", "accountcode"),
    "auth": ("username", "auth_type"),
    "aor": ("max_contacts",),
}
# The last merge per part (to merge the next version from it).
_STATES: dict[str, asterisk_conf.MergeState] = {}


class VerifyError(PbxError):
    """The reload went through but the PBX does not show what was deployed."""


@dataclass(slots=True)
class AsteriskConfig:
    endpoints: PjsipObjects
    steps: DialplanObjects
    contexts: set[str]
    queues: dict[str, QueueDef]
    part_files: dict[str, set[str]]


# Whole models by content hash and per-file parses by (role, path, sha256).
_CACHE: ModelCache[AsteriskConfig, FileObjects] = ModelCache()


def parse(
    files: Mapping[str, bytes], digests: Mapping[str, str] | None = None, content_hash: str | None = None
) -> AsteriskConfig:
    """The objects of a version (rendered, or flattened as on the PBX); ConfError lists every problem.

    `digests` (sha256 by path) and `content_hash`, as a RenderedConfig has them, let this reuse
    what it read before: a version that differs from the last one in a few files costs those files.
    """
    cached = _CACHE.model(content_hash)
    if cached is not None:
        return cached
    digests = digests or {}
    problems: list[str] = []
    merged: dict[str, asterisk_conf.Merged] = {}
    for part, root in ROOTS.items():
        if root not in files:
            problems.append(f"{root}: missing from the render")
            continue
        role = ROLES[part]
        try:
            merged[part], _STATES[part] = merge_again(
                root,
                files,
                digests,
                _CACHE.reader(files, digests, role, read_file),
                role,
                _STATES.get(part),
            )
        except ConfError as exc:
            problems += exc.problems
    if problems:
        raise ConfError(problems)
    included = sum(len(result.files) for result in merged.values())
    part_files = {part: set(result.files) for part, result in merged.items()}
    if included != len(files):
        stray = set(files) - set().union(*part_files.values())
        raise ConfError(
            [f"{name}: not included by any of {', '.join(ROOTS.values())}" for name in sorted(stray)]
            or [f"a file is included by more than one of {', '.join(ROOTS.values())}"]
        )
    config = AsteriskConfig(
        merged[ENDPOINTS].endpoints,
        merged[DIALPLAN].steps,
        merged[DIALPLAN].contexts,
        merged[QUEUES].queues,
        part_files,
    )
    _CACHE.keep(content_hash, config)
    return config


Piece = bytes | tuple[str, ...]  # lines of an entry point that stay, or a run of whole files


def _pieces(name: str, files: Mapping[str, bytes], names: list[str], out: list[Piece]) -> None:
    content = files[name]
    if b"#include" not in content:
        if out and isinstance(out[-1], tuple):
            out[-1] = (*out[-1], name)
        else:
            out.append((name,))
        return
    for line in content.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(b"#include"):
            argument = stripped[len(b"#include") :].strip().strip(b'"').decode()
            for target in expand(argument.removeprefix(INCLUDE_PREFIX), names):
                _pieces(target, files, names, out)
            continue
        out.append(line if line.endswith(b"\n") else line + b"\n")


# (root, its bytes, the set of names) -> pieces: consecutive versions share them
_PIECES: dict[tuple[str, bytes, int, int], list[Piece]] = {}


def flatten(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The three entry points with every #include replaced by the files it names, in order.

    Call it on a version `parse` accepted: includes resolve, there are no cycles, and every
    file ends with a line break (so files can simply be concatenated). Asterisk reads the
    result exactly as it would read the includes.
    """
    names = list(files)
    ordered = tuple(names)
    flat: dict[str, bytes] = {}
    for root in ROOTS.values():
        key = (root, files[root], len(ordered), hash(ordered))
        for attempt in (0, 1):
            pieces = _PIECES.get(key) if attempt == 0 else None
            if pieces is None:
                pieces = []
                _pieces(root, files, names, pieces)
                if len(_PIECES) > 16:
                    _PIECES.clear()
                _PIECES[key] = pieces
            text = b"".join(
                piece if isinstance(piece, bytes) else b"".join(map(files.__getitem__, piece))
                for piece in pieces
            )
            # A file that gained an #include of its own since the pieces were cut: cut again.
            if b"#include" not in text:
                break
        flat[root] = text
    return flat


def changed_parts(config: AsteriskConfig, changed_paths: Iterable[str]) -> set[str]:
    """The reload parts whose entry point or included files are among `changed_paths`."""
    paths = set(changed_paths)
    return {part for part, names in config.part_files.items() if names & paths}


def reload(ami: AmiClient, parts: Iterable[str], old: AsteriskConfig | None, new: AsteriskConfig) -> None:
    """One targeted reload per changed part, then the queue members' paused flags.

    app_queue's reload adds and removes static members but keeps the paused state of those it
    already had, so a membership turned active or inactive is applied with QueuePause.
    """
    parts = set(parts)
    for part in sorted(parts):
        command, expected = RELOADS[part]
        output = ami.command(command, timeout=RELOAD_TIMEOUT)
        if expected not in output:
            raise PbxError(f"{command!r} answered {output.strip()[:300]!r}")
    if QUEUES in parts:
        before = old.queues if old is not None else {}
        for name in sorted(name for name, queue in new.queues.items() if before.get(name) != queue):
            _apply_pauses(ami, name, dict(new.queues[name].members))


def _static_members(ami: AmiClient, queue: str) -> dict[str, bool] | None:
    """Location -> paused of the queue's static members; None when the queue is not loaded."""
    response = ami.action("QueueStatus", Queue=queue)
    if not any(event.get("Event") == "QueueParams" for event in response.events):
        return None
    return {
        event.get("Location", ""): event.get("Paused") == "1"
        for event in response.events
        if event.get("Event") == "QueueMember" and event.get("Membership") == "static"
    }


def _apply_pauses(ami: AmiClient, queue: str, deployed: dict[str, bool]) -> None:
    live = _static_members(ami, queue) or {}
    for interface, paused in sorted(deployed.items()):
        if interface in live and live[interface] != paused:
            response = ami.action(
                "QueuePause",
                Queue=queue,
                Interface=interface,
                Paused="true" if paused else "false",
                Reason="switchboard deploy",
            )
            if not response.ok:
                raise PbxError(f"QueuePause {queue} {interface}: {response.message}")


# --- verification ---------------------------------------------------------------------------


def _sample(keys: list, limit: int = MAX_CHECKS) -> list:
    keys = sorted(keys)
    if len(keys) <= limit:
        return keys
    step = len(keys) / limit
    return [keys[int(index * step)] for index in range(limit)]


def _normal(value: str) -> str:
    return ",".join(part.strip() for part in value.split(",")) if "," in value else value.strip()


def _ami_value(event: dict[str, str], option: str) -> str | None:
    key = "".join(part.capitalize() for part in option.split("_"))
    value = event.get(key)
    if value is None:
        return None
    if option == "remove_existing":
        return "yes" if value == "true" else "no"
    return value


def _changed(old: Mapping, new: Mapping) -> tuple[list, list]:
    """Keys whose value is new or different, and keys that are gone (unchanged values are
    usually the very same objects, re-used from the parse cache: compared by identity first)."""
    changed = [key for key, value in new.items() if (was := old.get(key)) is not value and was != value]
    removed = [key for key in old if key not in new]
    return changed, removed


def verify(ami: AmiClient, old: AsteriskConfig | None, new: AsteriskConfig, parts: Iterable[str]) -> int:
    """Check what changed in `parts`; returns how many objects were checked."""
    empty = AsteriskConfig({}, {}, set(), {}, {})
    base = old or empty
    checked = 0
    parts = set(parts)
    if ENDPOINTS in parts:
        checked += _verify_pjsip(ami, base.endpoints, new.endpoints)
    if DIALPLAN in parts:
        checked += _verify_dialplan(ami, base.steps, new.steps)
    if QUEUES in parts:
        checked += _verify_queues(ami, base.queues, new.queues)
    return checked


def _user_of(new: PjsipObjects, kind: str, name: str, users: dict[tuple[str, str], str]) -> str | None:
    """The endpoint that uses auth or aor `name` (Switchboard names them like their endpoint)."""
    option = "auth" if kind == "auth" else "aors"

    def uses(options: dict[str, list[str]]) -> bool:
        return name in {ref.strip() for ref in ",".join(options.get(option, [])).split(",")}

    same = new.get(("endpoint", name))
    if same is not None and uses(same):
        return name
    if not users:
        for (object_kind, endpoint), options in new.items():
            if object_kind == "endpoint":
                for ref_kind, ref_option in (("auth", "auth"), ("aor", "aors")):
                    for ref in ",".join(options.get(ref_option, [])).split(","):
                        if ref.strip():
                            users.setdefault((ref_kind, ref.strip()), endpoint)
    return users.get((kind, name))


def _verify_pjsip(ami: AmiClient, old: PjsipObjects, new: PjsipObjects) -> int:
    changed, removed = _changed(old, new)
    users: dict[tuple[str, str], str] = {}
    wanted: dict[str, list[tuple[str, str]]] = {}
    for kind, name in changed:
        if kind not in COMPARED:
            continue
        endpoint = name if kind == "endpoint" else _user_of(new, kind, name, users)
        if endpoint is not None:
            wanted.setdefault(endpoint, []).append((kind, name))
    for endpoint in _sample(list(wanted)):
        response = ami.action("PJSIPShowEndpoint", Endpoint=endpoint)
        if not response.ok:
            raise VerifyError(f"endpoint {endpoint} is not live after the reload ({response.message})")
        shown = {
            (event.get("ObjectType", ""), event.get("ObjectName", "")): event for event in response.events
        }
        for key in wanted[endpoint]:
            event = shown.get(key)
            if event is None:
                raise VerifyError(f"{key[0]} {key[1]} is not live after the reload")
            for option in COMPARED[key[0]]:
                values = new[key].get(option)
                if not values:
                    continue
                live = _ami_value(event, option)
                if live is not None and _normal(live) != _normal(values[-1]):
                    raise VerifyError(
                        f"{key[0]} {key[1]}: {option} is {live!r} on the PBX, deployed {values[-1]!r}"
                    )
    gone = [name for kind, name in removed if kind == "endpoint"]
    for endpoint in _sample(gone):
        if ami.action("PJSIPShowEndpoint", Endpoint=endpoint).ok:
            raise VerifyError(f"endpoint {endpoint} was removed but is still live")
    return len(_sample(list(wanted))) + len(_sample(gone))


def _live_steps(ami: AmiClient, context: str, extension: str) -> dict[int, tuple[str, str]] | None:
    response = ami.action("ShowDialPlan", Context=context, Extension=extension)
    if not response.ok:
        return None
    steps: dict[int, tuple[str, str]] = {}
    for event in response.events:
        if event.get("Context") != context or event.get("Extension") != extension:
            continue
        priority = event.get("Priority", "")
        if priority == "hint":
            steps[-1] = ("hint", event.get("Application", ""))
        elif priority.isdigit():
            steps[int(priority)] = (event.get("Application", ""), event.get("AppData", ""))
    return steps or None


def _verify_dialplan(ami: AmiClient, old: DialplanObjects, new: DialplanObjects) -> int:
    changed, removed = _changed(old, new)
    changed, removed = _sample(changed), _sample(removed)
    for context, extension in changed:
        live = _live_steps(ami, context, extension)
        if live is None:
            raise VerifyError(f"dialplan {context}/{extension} is not live after the reload")
        for priority, (application, data) in new[(context, extension)].items():
            got = live.get(priority)
            if got is None or got[0].lower() != application.lower() or got[1] != data:
                label = "hint" if priority == -1 else f"priority {priority}"
                raise VerifyError(
                    f"dialplan {context}/{extension} {label}: live {got!r}, deployed {(application, data)!r}"
                )
        stale = sorted(set(live) - set(new[(context, extension)]))
        if stale:
            raise VerifyError(f"dialplan {context}/{extension} still has priorities {stale}")
    for context, extension in removed:
        if _live_steps(ami, context, extension) is not None:
            raise VerifyError(f"dialplan {context}/{extension} was removed but is still live")
    return len(changed) + len(removed)


def _verify_queues(ami: AmiClient, old: dict[str, QueueDef], new: dict[str, QueueDef]) -> int:
    changed, removed = _changed(old, new)
    for name in _sample(changed):
        members = _static_members(ami, name)
        if members is None:
            raise VerifyError(f"queue {name} is not live after the reload")
        deployed = dict(new[name].members)
        if set(members) != set(deployed):
            raise VerifyError(f"queue {name}: live members {sorted(members)}, deployed {sorted(deployed)}")
        wrong = sorted(member for member, paused in deployed.items() if members[member] != paused)
        if wrong:
            states = ", ".join(f"{member} {'paused' if members[member] else 'unpaused'}" for member in wrong)
            raise VerifyError(f"queue {name}: live {states}, unlike the deployed memberships")
    for name in _sample(removed):
        response = ami.action("QueueStatus", Queue=name)
        if any(event.get("Event") == "QueueParams" for event in response.events):
            raise VerifyError(f"queue {name} was removed but is still live")
    return len(_sample(changed)) + len(_sample(removed))
