"""Template contexts, the same for both PBX kinds: frozen plain data built from a `View`.

Here live the telephony rules — who is reachable, which number routes, which caller ID a user
presents, which ring-group legs ring. The renderers of each kind only translate these contexts
into their syntax. Identifiers are checked on the way (`identifiers`), free text is cleaned
(`control.text.clean_text`); escaping for the target happens in each kind's template environment.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from control import validators as rules
from control.render import identifiers as check
from control.render.snapshot import Destination, MemberRow, TenantRow, UserRow
from control.render.view import View
from control.text import clean_text

# FreeSWITCH strategy names (mod_callcenter) and Asterisk ones (app_queue) per model strategy.
FS_STRATEGIES = {
    "ring_all": "ring-all",
    "longest_idle": "longest-idle-agent",
    "round_robin": "round-robin",
    "fewest_calls": "agent-with-fewest-calls",
    "random": "random",
    "linear": "top-down",
}
AST_STRATEGIES = {
    "ring_all": "ringall",
    "longest_idle": "leastrecent",
    "round_robin": "rrmemory",
    "fewest_calls": "fewestcalls",
    "random": "random",
    "linear": "linear",
}


class Route(NamedTuple):
    """Where a call goes next: `internal` (an extension), `external` (E.164 via the trunk),
    `hangup`, or `unavailable` (rejected as temporarily unavailable, SIP 480)."""

    kind: str
    target: str = ""


UNAVAILABLE = Route("unavailable")


class TrunkCtx(NamedTuple):
    host: str
    port: int
    username: str | None
    secret: str | None

    @property
    def registers(self) -> bool:
        return self.username is not None and self.secret is not None


class TenantCtx(NamedTuple):
    domain: str
    company: str
    trunk: TrunkCtx | None


class UserCtx(NamedTuple):
    extension: str
    name: str
    password: str
    vm_password: str
    outbound_number: str | None
    outbound_name: str
    call_group: str | None
    dnd: bool


class Leg(NamedTuple):
    """One ring-group member that can ring now. `kind`: user (extension), internal (an extension
    of the internal context: a group or a plain extension), inbound (a DID, routed like a call
    from the trunk), external (E.164 via the trunk) or sip_uri."""

    kind: str
    target: str
    timeout: int
    ordinal: int
    #: a user member on Do Not Disturb (as the model says at render time): both PBX kinds render
    #: the leg behind the live DND check, with this as its default, so a toggle needs no deploy
    dnd: bool = False


class GroupCtx(NamedTuple):
    extension: str
    name: str
    parallel: bool
    timeout: int
    legs: tuple[Leg, ...]
    fallback: Route | None


class QueueMemberCtx(NamedTuple):
    extension: str
    name: str
    position: int
    active: bool


class QueueCtx(NamedTuple):
    extension: str
    name: str
    strategy: str
    wrap_up_time: int
    max_wait: int
    ring_timeout: int
    members: tuple[QueueMemberCtx, ...]
    fallback: Route | None


class AgentCtx(NamedTuple):
    """A mod_callcenter agent: a user in at least one queue. mod_callcenter keeps ring and
    wrap-up times per agent, so an agent in several queues rings for the shortest ring timeout
    and rests for the longest wrap-up time of those queues."""

    extension: str
    ring_timeout: int
    wrap_up_time: int


class LineCtx(NamedTuple):
    id: int
    name: str
    paused: bool
    numbers: tuple[str, ...]
    route: Route


def tenant_context(tenant: TenantRow) -> TenantCtx:
    trunk = None
    if tenant.trunk_host:
        username = (
            check.trunk_user(tenant.trunk_username, "trunk user name") if tenant.trunk_username else None
        )
        secret = check.secret(tenant.trunk_secret, "trunk secret") if tenant.trunk_secret else None
        trunk = TrunkCtx(
            host=check.host(tenant.trunk_host, "trunk host"),
            port=check.number(tenant.trunk_port, "trunk port", rules.PORT),
            username=username,
            secret=secret,
        )
    return TenantCtx(
        domain=check.host(tenant.domain, "tenant domain"), company=clean_text(tenant.name), trunk=trunk
    )


def is_phone(user: UserRow | None) -> bool:
    """A user with a SIP device: not suspended, with an extension and SIP credentials."""
    return user is not None and not user.suspended and bool(user.extension) and bool(user.sip_secret)


def rings_in_groups(user: UserRow | None) -> bool:
    """A phone whose routing is not paused (Do Not Disturb is a live state: see `Leg.dnd`)."""
    return is_phone(user) and not user.routing_paused  # type: ignore[union-attr]


def route(view: View, tenant: TenantCtx, dest: Destination) -> Route:
    kind = dest.kind
    if kind == "user":
        user = view.user(dest.user_id)
        if not is_phone(user):
            return UNAVAILABLE
        assert user is not None
        return Route("internal", check.extension(user.extension, "extension"))
    if kind == "ring_group":
        group = view.group(dest.ring_group_id)
        return (
            Route("internal", check.extension(group.extension, "ring group extension"))
            if group
            else UNAVAILABLE
        )
    if kind == "queue":
        queue = view.queue(dest.queue_id)
        return (
            Route("internal", check.extension(queue.extension, "queue extension")) if queue else UNAVAILABLE
        )
    if kind == "extension":
        return Route("internal", check.extension(dest.value, "destination extension"))
    if kind == "external":
        return (
            Route("external", check.e164(dest.value, "destination number")) if tenant.trunk else UNAVAILABLE
        )
    if kind == "hangup":
        return Route("hangup")
    return UNAVAILABLE


def _fallback(view: View, tenant: TenantCtx, dest: Destination) -> Route | None:
    return route(view, tenant, dest) if dest.kind else None


def _vm_password(secret: str) -> str:
    """Voicemail PIN: Switchboard has no voicemail yet, so a PIN nobody knows (6 digits)."""
    return str(
        int.from_bytes(hashlib.sha256(b"vm-pin:" + secret.encode()).digest()[:8], "big") % 10**6
    ).zfill(6)


def outbound_number(view: View, user: UserRow) -> str | None:
    """The caller ID a user presents outside: the number they chose, else the default caller
    ID of a line that rings them, else the tenant's first line default — never a do_not_use
    number, and only numbers that still route."""
    chosen = view.number(user.caller_id_number_id) if user.caller_id_number_id else None
    if chosen is not None and view.presentable(chosen):
        return check.e164(chosen.e164, "caller ID")
    for line in view.lines_of_user(user.id):
        number = view.number(line.default_caller_id_id) if line.default_caller_id_id else None
        if number is not None and view.presentable(number):
            return check.e164(number.e164, "caller ID")
    fallback = view.tenant_caller_id()
    return check.e164(fallback, "caller ID") if fallback else None


def user_context(view: View, tenant: TenantCtx, user_id: int) -> UserCtx | None:
    user = view.user(user_id)
    if not is_phone(user):
        return None
    assert user is not None and user.sip_secret is not None
    secret = check.secret(user.sip_secret, f"SIP secret of user {user.id}")
    return UserCtx(
        extension=check.extension(user.extension, "extension"),
        name=clean_text(user.name),
        password=secret,
        vm_password=_vm_password(secret),
        outbound_number=outbound_number(view, user),
        outbound_name=tenant.company,
        call_group=f"team-{user.team_id}" if user.team_id else None,
        dnd=user.dnd,
    )


def _leg(view: View, tenant: TenantCtx, member: MemberRow, ordinal: int, owner: str) -> Leg | None:
    """`owner` names the ring group in errors, so an admin knows which row to fix."""
    timeout = check.number(member.timeout, f"{owner}, member {ordinal}: timeout", rules.MEMBER_TIMEOUT)
    kind = member.kind
    if kind == "user":
        user = view.user(member.user_id)
        if not rings_in_groups(user):
            return None
        return Leg("user", check.extension(user.extension, "extension"), timeout, ordinal, user.dnd)  # type: ignore[union-attr]
    if kind == "ring_group":
        group = view.group(member.ring_group_id)
        return (
            Leg("internal", check.extension(group.extension, "ring group extension"), timeout, ordinal)
            if group
            else None
        )
    if kind == "extension":
        return Leg(
            "internal",
            check.extension(member.value, f"{owner}, member {ordinal}: extension"),
            timeout,
            ordinal,
        )
    if kind == "did":
        number = view.number(member.number_id)
        if number is None or not view.routes(number) or view.line(number.line_id) is None:
            return None
        return Leg("inbound", check.e164(number.e164, "member number")[1:], timeout, ordinal)
    if kind == "external":
        if tenant.trunk is None:
            return None
        return Leg(
            "external", check.e164(member.value, f"{owner}, member {ordinal}: number"), timeout, ordinal
        )
    if kind == "sip_uri":
        return Leg(
            "sip_uri", check.sip_uri(member.value, f"{owner}, member {ordinal}: SIP URI"), timeout, ordinal
        )
    return None


def group_context(view: View, tenant: TenantCtx, group_id: int) -> GroupCtx | None:
    group = view.group(group_id)
    if group is None:
        return None
    legs = []
    for ordinal, member in enumerate(group.members, start=1):
        leg = _leg(view, tenant, member, ordinal, f"ring group {group.extension} ({clean_text(group.name)})")
        if leg is not None:
            legs.append(leg)
    return GroupCtx(
        extension=check.extension(group.extension, "ring group extension"),
        name=clean_text(group.name),
        parallel=group.strategy != "sequential",
        timeout=check.number(group.timeout, "ring group timeout", rules.RING_GROUP_TIMEOUT),
        legs=tuple(legs),
        fallback=_fallback(view, tenant, group.fallback),
    )


def queue_context(view: View, tenant: TenantCtx, queue_id: int) -> QueueCtx | None:
    queue = view.queue(queue_id)
    if queue is None:
        return None
    members = []
    for position, member in enumerate(queue.members, start=1):
        user = view.user(member.user_id)
        if not is_phone(user):
            continue
        assert user is not None
        members.append(
            QueueMemberCtx(
                extension=check.extension(user.extension, "extension"),
                name=clean_text(user.name),
                position=position,
                active=member.active and not user.dnd and not user.routing_paused,
            )
        )
    if queue.strategy not in FS_STRATEGIES:
        raise check.RenderError(f"queue strategy {queue.strategy!r} cannot be rendered")
    return QueueCtx(
        extension=check.extension(queue.extension, "queue extension"),
        name=clean_text(queue.name),
        strategy=queue.strategy,
        wrap_up_time=check.number(queue.wrap_up_time, "queue wrap-up time", rules.QUEUE_WRAP_UP),
        max_wait=check.number(queue.max_wait, "queue maximum wait", rules.QUEUE_MAX_WAIT),
        ring_timeout=check.number(queue.ring_timeout, "queue ring timeout", rules.QUEUE_RING_TIMEOUT),
        members=tuple(members),
        fallback=_fallback(view, tenant, queue.fallback),
    )


def agent_context(view: View, user_id: int) -> AgentCtx | None:
    user = view.user(user_id)
    if not is_phone(user):
        return None
    queues = view.queues_of_user(user_id)
    if not queues:
        return None
    return AgentCtx(
        extension=check.extension(user.extension, "extension"),  # type: ignore[union-attr]
        ring_timeout=min(q.ring_timeout for q in queues),
        wrap_up_time=max(q.wrap_up_time for q in queues),
    )


def line_context(view: View, tenant: TenantCtx, line_id: int) -> LineCtx | None:
    """A line with the numbers that route to it now; no context (no config) without any."""
    line = view.line(line_id)
    if line is None:
        return None
    numbers = tuple(
        check.e164(n.e164, "line number")[1:] for n in view.numbers_of_line(line_id) if view.routes(n)
    )
    if not numbers:
        return None
    return LineCtx(
        id=line.id,
        name=clean_text(line.name),
        paused=line.status != "active",
        numbers=numbers,
        route=route(view, tenant, line.destination),
    )
