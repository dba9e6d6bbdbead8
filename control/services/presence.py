"""Presence: the four states people see, derived from the PBX line state and the user's choice.

The PBX side (registrations, calls, the call-center agent status) is kept in PresenceState; the
user's own choice is User.dnd / User.routing_paused. Presence is computed from both, never stored
twice. An agent the PBX put On Break (mod_callcenter does after max-no-answer unanswered offers)
is unavailable, and the audit history says when and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from control import effects
from control.db import utcnow
from control.errors import NotFound
from control.models import PresenceState, Queue, Tenant, User
from control.render import names
from control.services import audit
from control.services.listing import Page, paginate

OFFLINE, AVAILABLE, IN_CALL, UNAVAILABLE = "offline", "available", "in_call", "unavailable"
STATES = (OFFLINE, AVAILABLE, IN_CALL, UNAVAILABLE)
# What the user (or an admin) chose, apart from anything the PBX says.
CHOSEN_STATES = ("available", "dnd", "paused", "suspended")
LINE_STATES = ("unregistered", "idle", "ringing", "in_call")


def chosen_state(user: User) -> str:
    if user.suspended:
        return "suspended"
    if user.dnd:
        return "dnd"
    if user.routing_paused:
        return "paused"
    return "available"


#: Agent statuses (control.events.AgentAvailability values) that take a person out of reach.
AGENT_AWAY = frozenset({"on_break"})


def compute(user: User, state: PresenceState | None) -> str:
    """offline without a registration; in_call during a call; unavailable on DND, pause, or an
    agent status that keeps calls away (on break)."""
    if state is None or state.registrations <= 0:
        return OFFLINE
    if state.active_calls > 0 or state.line_state == "in_call":
        return IN_CALL
    if user.dnd or user.routing_paused or user.suspended or state.agent_state in AGENT_AWAY:
        return UNAVAILABLE
    return AVAILABLE


@dataclass(frozen=True, slots=True)
class Presence:
    user_id: int
    name: str
    extension: str | None
    state: str
    line_state: str
    chosen_state: str = AVAILABLE
    #: the call-center agent status the PBX reported ("" if none) and why (max-no-answer)
    agent_state: str = ""
    agent_reason: str = ""


def _presence_query(tenant_id: int, user_ids: list[int] | None) -> Select[User, PresenceState]:
    stmt = (
        select(User, PresenceState)
        .outerjoin(PresenceState, PresenceState.user_id == User.id)
        .where(User.tenant_id == tenant_id)
        .order_by(User.name)
    )
    if user_ids is not None:
        stmt = stmt.where(User.id.in_(user_ids))
    return stmt


def _presence(user: User, state: PresenceState | None) -> Presence:
    return Presence(
        user.id,
        user.name,
        user.extension,
        compute(user, state),
        state.line_state if state else "unregistered",
        chosen_state(user),
        state.agent_state if state else "",
        state.agent_reason if state else "",
    )


def tenant_presence(session: Session, tenant_id: int, user_ids: list[int] | None = None) -> list[Presence]:
    stmt = _presence_query(tenant_id, user_ids)
    return [_presence(user, state) for user, state in session.execute(stmt)]


def presence_page(session: Session, tenant_id: int, *, page: int = 1, per_page: int = 50) -> Page[Presence]:
    """Every user's presence, by name, one page at a time."""
    people = paginate(
        session,
        select(User).where(User.tenant_id == tenant_id),
        page=page,
        per_page=per_page,
        sorts={"name": User.name},
        default_sort="name",
    )
    ids = [user.id for user in people.items]
    states = {
        s.user_id: s for s in session.scalars(select(PresenceState).where(PresenceState.user_id.in_(ids)))
    }
    items = [_presence(user, states.get(user.id)) for user in people.items]
    return Page(items=items, total=people.total, page=people.page, per_page=people.per_page)


def get_presence(session: Session, tenant_id: int, user_id: int) -> Presence:
    found = tenant_presence(session, tenant_id, [user_id])
    if not found:
        raise NotFound("user", user_id)
    return found[0]


def _state(session: Session, user_id: int) -> PresenceState:
    state = session.get(PresenceState, user_id)
    if state is None:
        state = PresenceState(user_id=user_id, line_state="unregistered", registrations=0, active_calls=0)
        session.add(state)
    return state


def set_line_state(
    session: Session,
    user: User,
    *,
    registrations: int | None = None,
    active_calls: int | None = None,
    line_state: str | None = None,
) -> bool:
    """Update what the PBX says about a user's phone; True (and a PresenceChanged) if presence moved."""
    state = _state(session, user.id)
    before = compute(user, state), state.line_state
    if registrations is not None:
        state.registrations = max(0, registrations)
    if active_calls is not None:
        state.active_calls = max(0, active_calls)
    if line_state is not None:
        state.line_state = line_state
    elif registrations is not None or active_calls is not None:
        state.line_state = (
            "unregistered" if state.registrations <= 0 else "in_call" if state.active_calls > 0 else "idle"
        )
    state.updated_at = utcnow()
    changed = (compute(user, state), state.line_state) != before
    if changed:
        effects.record(session, effects.PresenceChanged(user.tenant_id, user.id))
    return changed


def set_agent_state(session: Session, user: User, agent_state: str, reason: str = "") -> bool:
    """What the PBX says about the user as a call-center agent (an AgentAvailability value, and
    why when it said). True if it moved: the audit history gets an `agent.<state>` entry by the
    PBX (no actor), with the reason, and presence is republished if what people see changed."""
    state = _state(session, user.id)
    if (state.agent_state, state.agent_reason) == (agent_state, reason[:40]):
        return False
    before = compute(user, state)
    state.agent_state, state.agent_reason = agent_state[:12], reason[:40]
    state.updated_at = utcnow()
    audit.write(session, None, f"agent.{agent_state}", user, reason=reason or None)
    if compute(user, state) != before:
        effects.record(session, effects.PresenceChanged(user.tenant_id, user.id))
    return True


def states_by_user(session: Session, tenant_id: int, user_ids: list[int]) -> dict[int, str]:
    """Presence of these users, for a page that shows their status dots."""
    return {row.user_id: row.state for row in tenant_presence(session, tenant_id, user_ids)}


def callcenter_queues(session: Session, tenant_id: int) -> tuple[str, ...]:
    """The tenant's mod_callcenter queue names (names.fs_queue): the queues whose agents a
    FreeSWITCH listener reads at every resync, so agent presence is right after a reconnect."""
    domain = session.get_one(Tenant, tenant_id).domain
    extensions = session.scalars(
        select(Queue.extension).where(Queue.tenant_id == tenant_id).order_by(Queue.extension)
    )
    return tuple(names.fs_queue(extension, domain) for extension in extensions)
