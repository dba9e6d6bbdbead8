"""What a listener process needs to know about one PBX node (no IO, no secrets in repr)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from control.events import PbxKind

# Values that end up inside ESL command lines: no whitespace, no line breaks.
_COMMAND_WORD = re.compile(r"[A-Za-z0-9_.@+:-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerConfig:
    node: str
    pbx: PbxKind
    host: str
    port: int
    secret: str = field(repr=False)
    username: str = ""
    connect_timeout: float = 5.0
    command_timeout: float = 10.0
    #: FreeSWITCH sends HEARTBEAT every 20 s; Asterisk is pinged at this interval.
    heartbeat_interval: float = 20.0
    #: Silence for this many heartbeat intervals means the connection is dead.
    missed_heartbeats: int = 3
    pong_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    #: A connection that lived this long resets the backoff.
    healthy_after: float = 60.0
    #: Frames buffered between the socket reader and the normaliser before the reader waits.
    queue_size: int = 100_000
    #: FreeSWITCH mod_callcenter queues whose agents are read on resync.
    callcenter_queues: tuple[str, ...] = ()
    #: Extra ESL ``filter <header> <value>`` pairs sent after subscribing.
    esl_filters: tuple[tuple[str, str], ...] = ()
    #: Zone of cdr_manager's StartTime/AnswerTime/EndTime.
    cdr_timezone: str = "UTC"
    #: Run the node's command executor (commands from the node's Redis stream, inbound texts):
    #: needs the database and Redis, so `switchboard listen` turns it on.
    commands: bool = False
    #: Heartbeat the node's "listener connected" key (control/listener_status.py) with this
    #: time-to-live while the PBX connection is up; 0: no heartbeat (needs Redis).
    status_ttl: float = 0.0
    #: The node's tenant, whose browsers are told when the connection comes and goes.
    tenant_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "callcenter_queues", tuple(self.callcenter_queues))
        object.__setattr__(self, "esl_filters", tuple(tuple(pair) for pair in self.esl_filters))
        if self.pbx not in ("freeswitch", "asterisk"):
            raise ValueError(f"unknown PBX kind {self.pbx!r}")
        if not self.node:
            raise ValueError("node name is required")
        for name, value in (("secret", self.secret), ("username", self.username), ("host", self.host)):
            if "\n" in value or "\r" in value:
                raise ValueError(f"{name} must not contain line breaks")
        for queue in self.callcenter_queues:
            if not _COMMAND_WORD.fullmatch(queue):
                raise ValueError(f"unsafe callcenter queue name {queue!r}")
        for header, value in self.esl_filters:
            if not _COMMAND_WORD.fullmatch(header) or not _COMMAND_WORD.fullmatch(value):
                raise ValueError(f"unsafe ESL filter {header!r} {value!r}")

    @property
    def watchdog_timeout(self) -> float:
        return self.heartbeat_interval * self.missed_heartbeats

    def to_mapping(self) -> dict[str, Any]:
        """Everything, the secret included: for handing the config to a child process on stdin."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ListenerConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown listener settings: {sorted(unknown)}")
        return cls(**data)
