"""What a render needs besides the model: where the live version sits on the PBX and a few knobs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from control.render.identifiers import RenderError, include_root

_BIND_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}:[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """`include_root`: the live version's directory relative to the Asterisk configuration
    directory (deploy/asterisk/install.sh makes `switchboard/live` a symlink to
    `switchboard/versions/<N>`). Asterisk resolves `#include` against that directory, so the
    fragments are included through it and a version's files do not depend on its number.
    FreeSWITCH resolves an include against the including file's own directory: its versions
    include their fragments relative to themselves and do not use this.

    `sip_bind`: IPv4:PORT of the Asterisk UDP transport Switchboard renders (`switchboard-udp`);
    None leaves transports to the host's own pjsip.conf (a host that already binds the port, or
    needs IPv6 or TLS).

    `max_contacts`: devices a user may register at once; `user_ring_timeout`: seconds a direct
    call to a user rings."""

    include_root: str = "switchboard/live"
    sip_bind: str | None = "0.0.0.0:5060"
    max_contacts: int = 3
    user_ring_timeout: int = 30

    def __post_init__(self) -> None:
        include_root(self.include_root)
        if self.sip_bind is not None and not _BIND_RE.fullmatch(self.sip_bind):
            raise RenderError(f"sip_bind {self.sip_bind!r} is not IPV4:PORT")
        if not 1 <= self.max_contacts <= 100:
            raise RenderError("max_contacts must be 1-100")
        if not 5 <= self.user_ring_timeout <= 600:
            raise RenderError("user_ring_timeout must be 5-600 seconds")
