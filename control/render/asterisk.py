"""Asterisk: pjsip.conf, extensions.conf and queues.conf, each with per-entity fragments.

Layout of a version (relative to `switchboard/versions/<N>/`; the stock pjsip.conf,
extensions.conf and queues.conf include `switchboard/live/<same name>`, see deploy/asterisk):

    pjsip.conf                  transport, trunk; `#include <root>/pjsip.d/*.conf`
    pjsip.d/<ext>.conf          per user: endpoint, auth and aor (suspended users absent)
    extensions.conf             contexts shared by all; `#include <root>/extensions.d/*.conf`
    extensions.d/user-<ext>.conf, group-<ext>.conf, queue-<ext>.conf
                                the extension in switchboard-internal (ring groups may add
                                helper extensions to switchboard-legs)
    extensions.d/line-<id>.conf the line's numbers in switchboard-from-trunk and its own
                                context switchboard-line-<id>
    queues.conf                 `#include <root>/queues.d/*.conf`
    queues.d/<ext>.conf         one queue with its members

Asterisk merges a context declared in several files, and `#include` takes a glob (verified on
Asterisk 22); a glob that matches nothing is an error, so an include is written only when its
directory has files.
"""

from __future__ import annotations

from typing import NamedTuple

from control.render import context as ctx
from control.render import names
from control.render.asterisk_escape import ConfSafe
from control.render.incremental import Fragment
from control.render.view import Key, View


class AstTarget(NamedTuple):
    """One interface of a Dial; `dnd_extension`: a user member, dialled only while the live Do
    Not Disturb check (context AST_DND) says they are available; `dnd` is the model's state."""

    interface: ConfSafe
    dnd_extension: str | None = None
    dnd: bool = False


class AstDial(NamedTuple):
    targets: tuple[AstTarget, ...]
    timeout: int


class AstLeg(NamedTuple):
    """A helper extension of AST_LEGS that rings one member for its own, shorter timeout."""

    extension: str
    target: ConfSafe
    timeout: int


class AstGroup(NamedTuple):
    extension: str
    name: str
    dials: tuple[AstDial, ...]
    legs: tuple[AstLeg, ...]
    fallback: ctx.Route | None


class AstQueue(NamedTuple):
    queue: ctx.QueueCtx
    name: str
    strategy: str


class AstTop(NamedTuple):
    endpoints: bool
    extensions: bool
    queues: bool
    sip_uri: bool


def interface(leg: ctx.Leg) -> str:
    if leg.kind == "user":
        return names.ast_devices(leg.target)
    if leg.kind == "internal":
        return f"Local/{leg.target}@{names.AST_INTERNAL}"
    if leg.kind == "inbound":
        return f"Local/{leg.target}@{names.AST_FROM_TRUNK}"
    if leg.kind == "external":
        return f"PJSIP/{leg.target}@{names.AST_TRUNK}"
    return f"PJSIP/{names.AST_URI}/{leg.target}"


def dial_plan(group: ctx.GroupCtx) -> tuple[tuple[AstDial, ...], tuple[AstLeg, ...]]:
    """Sequential: one Dial per member, in position order, each with the member's timeout.

    Parallel: one Dial of every member joined by `&`, for the group timeout. A member whose own
    timeout is shorter rings through a Local channel into AST_LEGS, whose extension dials it
    for that shorter time; the others ring for the group timeout. Each member therefore rings
    min(own timeout, group timeout) seconds, exactly as FreeSWITCH's leg_timeout under
    originate_timeout.
    """
    if not group.legs:
        return (), ()
    if not group.parallel:
        return tuple(AstDial((_target(leg, interface(leg)),), leg.timeout) for leg in group.legs), ()
    targets, helpers = [], []
    for leg in group.legs:
        if leg.timeout < group.timeout:
            name = names.ast_leg_extension(group.extension, leg.ordinal)
            helpers.append(AstLeg(name, ConfSafe(interface(leg)), leg.timeout))
            targets.append(_target(leg, f"Local/{name}@{names.AST_LEGS}"))
        else:
            targets.append(_target(leg, interface(leg)))
    return (AstDial(tuple(targets), group.timeout),), tuple(helpers)


def _target(leg: ctx.Leg, dialled: str) -> AstTarget:
    if leg.kind == "user":
        return AstTarget(ConfSafe(dialled), leg.target, leg.dnd)
    return AstTarget(ConfSafe(dialled))


class AsteriskRenderer:
    kind = "asterisk"

    def fragments(self, view: View, tenant: ctx.TenantCtx, owner: Key) -> list[Fragment]:
        kind, ident = owner
        if kind == "user":
            user = ctx.user_context(view, tenant, ident)
            if user is None:
                return []
            ext = user.extension
            return [
                Fragment(f"pjsip.d/{ext}.conf", "asterisk/pjsip.d/user.conf", "user", user),
                Fragment(
                    f"extensions.d/user-{ext}.conf",
                    "asterisk/extensions.d/user.conf",
                    "user",
                    user,
                    f"extension {ext}",
                ),
            ]
        if kind == "group":
            group = ctx.group_context(view, tenant, ident)
            if group is None:
                return []
            dials, legs = dial_plan(group)
            ast_group = AstGroup(group.extension, group.name, dials, legs, group.fallback)
            return [
                Fragment(
                    f"extensions.d/group-{group.extension}.conf",
                    "asterisk/extensions.d/group.conf",
                    "group",
                    ast_group,
                    f"extension {group.extension}",
                )
            ]
        if kind == "queue":
            queue = ctx.queue_context(view, tenant, ident)
            if queue is None:
                return []
            ast_queue = AstQueue(queue, names.ast_queue(queue.extension), ctx.AST_STRATEGIES[queue.strategy])
            return [
                Fragment(
                    f"extensions.d/queue-{queue.extension}.conf",
                    "asterisk/extensions.d/queue.conf",
                    "queue",
                    ast_queue,
                    f"extension {queue.extension}",
                ),
                Fragment(
                    f"queues.d/{queue.extension}.conf", "asterisk/queues.d/queue.conf", "queue", ast_queue
                ),
            ]
        if kind == "line":
            line = ctx.line_context(view, tenant, ident)
            if line is None:
                return []
            return [
                Fragment(f"extensions.d/line-{line.id}.conf", "asterisk/extensions.d/line.conf", "line", line)
            ]
        return []

    def top_fragments(self, view: View, tenant: ctx.TenantCtx, dirs: set[str]) -> list[Fragment]:
        sip_uri = any(m.kind == "sip_uri" for g in view.data.groups.values() for m in g.members)
        top = AstTop("pjsip.d" in dirs, "extensions.d" in dirs, "queues.d" in dirs, sip_uri)
        return [
            Fragment(path, f"asterisk/{path}", "top", top)
            for path in ("pjsip.conf", "extensions.conf", "queues.conf")
        ]
