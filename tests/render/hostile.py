"""Hostile free text for render tests, and a way to put it everywhere free text can go."""

from __future__ import annotations

from hypothesis import strategies as st

from control.render.snapshot import Snapshot

FRAGMENTS = [
    '"',
    "'",
    "<",
    ">",
    "&",
    '"/>',
    "]]>",
    "<![CDATA[",
    "-->",
    "<!--",
    "${system(rm -rf /)}",
    "$${domain}",
    "$[1+1]",
    "${SHELL(id)}",
    "\n",
    "\r\n",
    "\n[evil]\ntype = endpoint\n",
    "\nexten => 666,1,System(id)\n",
    "\n#include /etc/passwd\n",
    ";",
    ";--",
    "--;",
    ",",
    ")",
    "(",
    "&PJSIP/666",
    "|",
    "\\",
    "\x00",
    "\x1e",
    "\u202e",
    "\u200f",
    "\u2028",
    '<X-PRE-PROCESS cmd="include" data="/etc/passwd"/>',
    "<include>",
    "</include>",
    "\ud800",
    "\ufffe",
    "Zoë",
    "名前",
]

hostile_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), min_size=1, max_size=12).map(
        "".join
    ),
    st.sampled_from(FRAGMENTS).map(lambda f: (f + "x") * (10_000 // (len(f) + 1))),
)


def with_names(data: Snapshot, text: str) -> Snapshot:
    """The snapshot with every free-text field the renderers print set to `text`.

    In memory rather than in the database: PostgreSQL refuses NUL and 10 kB in a VARCHAR(120),
    and the point is what the renderers do with whatever a row holds."""
    return Snapshot(
        tenant=data.tenant._replace(name=text),
        users={i: u._replace(name=text) for i, u in data.users.items()},
        numbers=dict(data.numbers),
        lines={i: line._replace(name=text) for i, line in data.lines.items()},
        groups={i: g._replace(name=text) for i, g in data.groups.items()},
        queues={i: q._replace(name=text) for i, q in data.queues.items()},
    )
