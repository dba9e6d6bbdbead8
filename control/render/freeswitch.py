"""FreeSWITCH: directory, dialplan (default and public), mod_callcenter and the trunk gateway.

Layout of a version (`switchboard/versions/<N>/`; deploy/freeswitch/install.sh includes its
top-level files from the stock configuration through `switchboard/live`). FreeSWITCH resolves a
relative include against the directory of the file holding it, so every include inside a
version is relative to the version itself and a version's bytes do not depend on where it sits:

    directory.xml                      <domain> of the tenant; includes directory/*.xml
    directory/<ext>.xml                one <user> per extension (suspended users absent)
    dialplan/default.xml               included at the top of context "default"
    dialplan/default/user-<ext>.xml    extension to extension
    dialplan/default/group-<ext>.xml   ring groups: one bridge, then the fallback
    dialplan/default/queue-<ext>.xml   queues: the callcenter application, then the fallback
    dialplan/public.xml                included at the top of context "public"
    dialplan/public/line-<id>.xml      the numbers of a line that route now, and where they go
    gateway.xml                        the sofia gateway of the tenant's trunk (external profile)
    callcenter.conf.xml                mod_callcenter configuration; includes callcenter/*/
    callcenter/queues/<ext>.xml, callcenter/agents/<ext>.xml, callcenter/tiers/<ext>.xml
"""

from __future__ import annotations

from typing import NamedTuple

from markupsafe import Markup

from control.render import context as ctx
from control.render import names
from control.render.freeswitch_escape import xml_text
from control.render.incremental import Fragment
from control.render.view import Key, View


class FsDndCheck(NamedTuple):
    """A dialplan condition true while a user is on Do Not Disturb: the live mod_hash entry the
    command executor sets (1 or 0) when there is one, else the model's state at render. The field
    reads "<live>/<model>": "1/..." or "/1" is DND."""

    field: str
    expression: str


#: FsDndCheck.expression: the live entry is 1, or there is none and the model says DND
_DND_EXPRESSION = Markup("^(1/|/1$)")


def dnd_check(extension: str, domain: str, dnd: bool) -> FsDndCheck:
    """Markup: the `${...}` is ours (FreeSWITCH must expand it); the key is escaped like any value."""
    key = xml_text(names.fs_dnd_key(extension, domain))
    field = Markup(f"${{hash(select/{names.FS_DND_REALM}/{key})}}/{1 if dnd else 0}")
    return FsDndCheck(field, _DND_EXPRESSION)


class FsUserDial(NamedTuple):
    extension: str
    dnd: FsDndCheck


class FsUserLeg(NamedTuple):
    """A person in a ring group: `variable` holds their dial string, or a failing leg on DND."""

    variable: str
    dial: str
    dnd: FsDndCheck


class FsGroup(NamedTuple):
    extension: str
    name: str
    bridge: str | None
    fallback: ctx.Route | None
    user_legs: tuple[FsUserLeg, ...] = ()


class FsQueue(NamedTuple):
    queue: ctx.QueueCtx
    name: str
    strategy: str
    tiers: tuple[tuple[str, int], ...]


class FsAgent(NamedTuple):
    agent: ctx.AgentCtx
    name: str
    contact: str
    #: names.FS_AGENT_DND_STATUS while the user is on Do Not Disturb, as the live toggle sets it
    status: str = names.FS_AGENT_AVAILABLE


class FsTop(NamedTuple):
    directory: bool
    default: bool
    public: bool
    queues: bool
    agents: bool
    tiers: bool


def _user_leg_variable(leg: ctx.Leg) -> str:
    """Named for the person (a leg's ordinal moves with the other members' state)."""
    return f"sb_dial_{leg.target}"


def _leg(leg: ctx.Leg, domain: str) -> str:
    """One leg of a bridge, escaped (the bridge is Markup): a person's leg is the `${...}`
    variable the DND check sets."""
    prefix = f"[leg_timeout={leg.timeout}]"
    if leg.kind == "user":
        return f"{prefix}${{{_user_leg_variable(leg)}}}"
    return xml_text(_other_leg(leg, prefix))


def _other_leg(leg: ctx.Leg, prefix: str) -> str:
    if leg.kind == "internal":
        return f"{prefix}loopback/{leg.target}/{names.FS_DEFAULT_CONTEXT}"
    if leg.kind == "inbound":
        return f"{prefix}loopback/{leg.target}/{names.FS_PUBLIC_CONTEXT}"
    if leg.kind == "external":
        return f"{prefix}sofia/gateway/{names.FS_GATEWAY}/{leg.target}"
    return f"{prefix}sofia/{names.FS_URI_PROFILE}/{leg.target}"


def user_legs(group: ctx.GroupCtx, domain: str) -> tuple[FsUserLeg, ...]:
    """The people of a group, each dialled through a variable the live DND check sets."""
    return tuple(
        FsUserLeg(
            _user_leg_variable(leg), f"user/{leg.target}@{domain}", dnd_check(leg.target, domain, leg.dnd)
        )
        for leg in group.legs
        if leg.kind == "user"
    )


def bridge(group: ctx.GroupCtx, domain: str) -> str | None:
    """Parallel: one bridge, comma-separated legs, each with its own leg_timeout, all capped by
    the group timeout (originate_timeout). Sequential: pipe-separated legs in position order, each
    ringing for its own leg_timeout (originate_continue_on_timeout moves on after a timeout). A
    person's leg is the variable `user_legs` sets (their phone, or a failing leg on DND)."""
    legs = [_leg(leg, domain) for leg in group.legs]
    if not legs:
        return None
    if group.parallel:
        return Markup(f"{{ignore_early_media=true,originate_timeout={group.timeout}}}" + ",".join(legs))
    return Markup("{ignore_early_media=true,originate_continue_on_timeout=true}" + "|".join(legs))


class FreeswitchRenderer:
    kind = "freeswitch"

    def fragments(self, view: View, tenant: ctx.TenantCtx, owner: Key) -> list[Fragment]:
        kind, ident = owner
        if kind == "user":
            return self._user(view, tenant, ident)
        if kind == "group":
            group = ctx.group_context(view, tenant, ident)
            if group is None:
                return []
            fs_group = FsGroup(
                group.extension,
                group.name,
                bridge(group, tenant.domain),
                group.fallback,
                user_legs(group, tenant.domain),
            )
            return [
                Fragment(
                    f"dialplan/default/group-{group.extension}.xml",
                    "freeswitch/dialplan/default/group.xml",
                    "group",
                    fs_group,
                    f"extension {group.extension}",
                )
            ]
        if kind == "queue":
            return self._queue(view, tenant, ident)
        if kind == "line":
            line = ctx.line_context(view, tenant, ident)
            if line is None:
                return []
            return [
                Fragment(
                    f"dialplan/public/line-{line.id}.xml", "freeswitch/dialplan/public/line.xml", "line", line
                )
            ]
        return []

    def _user(self, view: View, tenant: ctx.TenantCtx, user_id: int) -> list[Fragment]:
        user = ctx.user_context(view, tenant, user_id)
        if user is None:
            return []
        ext = user.extension
        out = [
            Fragment(f"directory/{ext}.xml", "freeswitch/directory/user.xml", "user", user),
            Fragment(
                f"dialplan/default/user-{ext}.xml",
                "freeswitch/dialplan/default/user.xml",
                "user",
                FsUserDial(ext, dnd_check(ext, tenant.domain, user.dnd)),
                f"extension {ext}",
            ),
        ]
        agent = ctx.agent_context(view, user_id)
        if agent is not None:
            name = names.fs_agent(ext, tenant.domain)
            contact = f"[leg_timeout={agent.ring_timeout}]user/{ext}@{tenant.domain}"
            out.append(
                Fragment(
                    f"callcenter/agents/{ext}.xml",
                    "freeswitch/callcenter/agent.xml",
                    "agent",
                    FsAgent(
                        agent,
                        name,
                        contact,
                        names.FS_AGENT_DND_STATUS if user.dnd else names.FS_AGENT_AVAILABLE,
                    ),
                )
            )
        return out

    def _queue(self, view: View, tenant: ctx.TenantCtx, queue_id: int) -> list[Fragment]:
        queue = ctx.queue_context(view, tenant, queue_id)
        if queue is None:
            return []
        ext = queue.extension
        # An inactive membership is an agent without a tier in this queue: mod_callcenter offers
        # calls only through tiers, so the agent receives nothing from it (a later live toggle is
        # `callcenter_config tier add|del`, which keeps the same rule).
        tiers = tuple(
            (names.fs_agent(m.extension, tenant.domain), m.position) for m in queue.members if m.active
        )
        fs_queue = FsQueue(
            queue, names.fs_queue(ext, tenant.domain), ctx.FS_STRATEGIES[queue.strategy], tiers
        )
        out = [
            Fragment(
                f"dialplan/default/queue-{ext}.xml",
                "freeswitch/dialplan/default/queue.xml",
                "queue",
                fs_queue,
                f"extension {ext}",
            ),
            Fragment(f"callcenter/queues/{ext}.xml", "freeswitch/callcenter/queue.xml", "queue", fs_queue),
        ]
        if tiers:
            out.append(
                Fragment(f"callcenter/tiers/{ext}.xml", "freeswitch/callcenter/tiers.xml", "queue", fs_queue)
            )
        return out

    def top_fragments(self, view: View, tenant: ctx.TenantCtx, dirs: set[str]) -> list[Fragment]:
        top = FsTop(
            directory="directory" in dirs,
            default="dialplan/default" in dirs,
            public="dialplan/public" in dirs,
            queues="callcenter/queues" in dirs,
            agents="callcenter/agents" in dirs,
            tiers="callcenter/tiers" in dirs,
        )
        files = (
            "directory.xml",
            "dialplan/default.xml",
            "dialplan/public.xml",
            "gateway.xml",
            "callcenter.conf.xml",
        )
        return [Fragment(path, f"freeswitch/{path}", "top", top) for path in files]
