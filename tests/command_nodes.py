"""A PBX node for command tests without a PBX: commands to it are recorded and handed over, and
the phones given are registered on it."""

from __future__ import annotations

from control import db
from control.models import PresenceState, SipRegistration
from control.services import nodes


def add_node(tenant_id: int, name: str, *registered_user_ids: int) -> None:
    with db.unit_of_work() as s:
        nodes.create_node(
            s,
            {
                "name": name,
                "kind": "asterisk",
                "host": "127.0.0.1",
                "port": 5038,
                "username": "switchboard",
                "secret": "a-long-ami-secret",
                "config_dir": "/tmp/unused",
                "tenant_id": tenant_id,
            },
            None,
        )
        for user_id in registered_user_ids:
            s.add(SipRegistration(node=name, user_id=user_id, contact=f"sip:{user_id}@127.0.0.1:5999"))
            s.add(PresenceState(user_id=user_id, line_state="idle", registrations=1, active_calls=0))
