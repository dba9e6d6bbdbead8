"""Side effects collected during a unit of work and dispatched only after its commit.

Services call `record(session, effect)`; effects are deduplicated (ten edits to one tenant
need one apply of each reload kind). The edge that owns the process (web app, worker,
listener) registers the handlers: control itself never enqueues or publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_KEY = "switchboard.effects"


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """The tenant's PBX config must be re-applied; `reload` names the part (pjsip, dialplan, ...)."""

    tenant_id: int
    reload: str


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    tenant_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class ActivityAdded:
    tenant_id: int
    activity_id: int


@dataclass(frozen=True, slots=True)
class CommandQueued:
    """A command to a live PBX was recorded: hand it to its node's executor."""

    tenant_id: int
    command_id: int
    node: str
    #: the command as the executor needs it (JSON: kind, params, created)
    payload: str


@dataclass(frozen=True, slots=True)
class CommandFinished:
    """A command got its final state (ok, failed, unknown): tell the browser (all it is told
    travels here: publishing it reads nothing back)."""

    tenant_id: int
    command_id: int
    kind: str
    user_id: int | None
    state: str
    answer: str


@dataclass(frozen=True, slots=True)
class AutomationRunQueued:
    """An automation run was recorded (or is due again after a wait): hand it to an rq job."""

    tenant_id: int
    run_id: int


@dataclass(frozen=True, slots=True)
class NumberCancellationScheduled:
    """A replaced number must be released at `cancel_at` (UTC, naive): schedule the job."""

    tenant_id: int
    number_id: int
    cancel_at: datetime


Handler = Callable[[list[Any]], None]
_handlers: dict[type, list[Handler]] = {}


def record(session: Session, effect: Hashable) -> None:
    pending: dict[Hashable, None] = session.info.setdefault(_KEY, {})
    pending[effect] = None


def pending(session: Session) -> list[Any]:
    return list(session.info.get(_KEY, {}))


def discard(session: Session) -> None:
    session.info.pop(_KEY, None)


def register(effect_type: type, handler: Handler) -> None:
    """Handle every effect of `effect_type` of a committed unit of work (all at once, merged)."""
    _handlers.setdefault(effect_type, [])
    if handler not in _handlers[effect_type]:
        _handlers[effect_type].append(handler)


def clear_handlers() -> None:
    _handlers.clear()


def dispatch(session: Session) -> None:
    """Hand a committed unit's effects to their handlers, merged by type."""
    collected = session.info.pop(_KEY, {})
    by_type: dict[type, list[Any]] = {}
    for effect in collected:
        by_type.setdefault(type(effect), []).append(effect)
    for effect_type, items in by_type.items():
        for handler in _handlers.get(effect_type, []):
            try:
                handler(items)
            except Exception:
                # The commit stands; a failed side effect is logged and visible, never a lost edit.
                log.exception("effect handler %s failed", getattr(handler, "__name__", handler))
