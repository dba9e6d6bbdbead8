"""What the services accept, the renderer renders — for both PBX kinds.

Hypothesis builds a tenant through the services, on the real database, from generated input:
trunk settings, teams, numbers, users with extensions and caller IDs, ring groups with every kind
of member (SIP URIs at every edge of the rule), queues, lines, and ring groups changed again once
lines route numbers to them. What the services refuse is dropped; what they accept must render for
FreeSWITCH and for Asterisk, and every accepted name must still read as something once cleaned for
the configuration. A value accepted and then refused by the renderer blocks every render, and so
every deploy, of its tenant.
"""

from __future__ import annotations

import itertools
import posixpath
import shlex
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from control.errors import Invalid
from control.render import PBX_KINDS, RenderError, render_tenant
from control.services import lines, nodes, numbers, queues, ring_groups, teams, tenants, users
from control.text import clean_text
from tests.render.hostile import FRAGMENTS

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
_runs = itertools.count()


def mostly(valid: st.SearchStrategy, edge: st.SearchStrategy) -> st.SearchStrategy:
    """Five times in six a value the services should accept (so that whole tenants get built),
    else one at or past an edge of the field's rule."""
    return st.integers(0, 5).flatmap(lambda roll: edge if roll == 0 else valid)


INVISIBLE = ["\u200b", "\u200b\u200c\u200d", "\u2060\ufeff", "\u202e\u200f", "\u00ad", " \u200b ", "\u3000"]
PRINTABLE_FRAGMENTS = [f for f in FRAGMENTS if f.isprintable()]
visible = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
free_text = mostly(
    st.one_of(
        st.lists(st.sampled_from([*PRINTABLE_FRAGMENTS, *INVISIBLE, "Zoë", "a"]), min_size=1, max_size=6)
        .map("".join)
        .filter(lambda t: clean_text(t) and len(t.strip()) <= 120),
        st.text(alphabet=visible, min_size=1, max_size=12).filter(lambda t: clean_text(t)),
    ),
    st.one_of(st.sampled_from([*INVISIBLE, " ", "Ann\u2028Lee", "x" * 121]), st.text(min_size=1, max_size=6)),
)
# Host names: labels starting or ending with '-' or '.', empty labels, labels of 63 and 64
# characters, names of 253 characters and more.
good_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
edge_label = st.sampled_from(["", "-", "-a", "a-", "a" * 63, "b" * 64, "x_y", "ü", "a b"])
host = mostly(
    st.lists(good_label, min_size=1, max_size=4).map(".".join),
    st.one_of(
        st.lists(st.one_of(good_label, edge_label), min_size=1, max_size=4).map(".".join),
        st.sampled_from(["-a.example", "a-.example", ".a.example", "a.example.", "a..example", "[::1]"]),
        st.sampled_from([".".join(["a" * 63] * 4), ".".join(["a" * 63] * 3 + ["a" * 61]), "a" * 63 + ".ex"]),
    ),
)


def _uri(scheme: str, user: str, domain: str, port: str) -> str:
    return f"{scheme}:{user}@{domain}{port}"


sip_scheme = st.sampled_from(["sip", "sips"])
sip_user = st.text(alphabet="aZ09_.!~*'+-", min_size=1, max_size=8)
sip_host = st.lists(good_label, min_size=1, max_size=3).map(".".join)
sip_port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda n: f":{n}"))
sip_uri = st.integers(0, 2).flatmap(
    lambda roll: (
        st.builds(_uri, sip_scheme, sip_user, sip_host, sip_port)
        if roll
        else st.one_of(  # one part just past its rule, the rest valid
            st.builds(
                _uri,
                sip_scheme,
                sip_user,
                st.builds(
                    "{}{}{}".format,
                    st.sampled_from(["-", ".", ""]),
                    sip_host,
                    st.sampled_from(["-", ".", ""]),
                ),
                sip_port,
            ),
            st.builds(_uri, sip_scheme, st.integers(62, 66).map(lambda n: "u" * n), sip_host, sip_port),
            st.builds(
                _uri,
                sip_scheme,
                sip_user,
                sip_host,
                st.sampled_from([":0", ":65536", ":99999", ":", ":5060x", ":00"]),
            ),
            st.builds(_uri, sip_scheme, sip_user, st.just(".".join(["h" * 63] * 4)), sip_port),
            st.builds(
                _uri,
                st.sampled_from(["sip", "sips", "tel", "SIP"]),
                st.one_of(st.text(alphabet="aZ09_.!~*'+-;&,|$%@: \n", max_size=5), sip_user),
                host,
                st.one_of(sip_port, st.integers(-1, 99_999).map(lambda n: f":{n}")),
            ),
        )
    )
)
extension = mostly(
    st.from_regex(r"[0-9]{2,8}", fullmatch=True),
    st.one_of(
        st.from_regex(r"[0-9]{0,10}", fullmatch=True),
        st.sampled_from(["12a", "1 2", "123\n", "١٢٣", "６００", "-12", "+12", "12\u200b"]),
    ),
)
phone = mostly(
    st.one_of(
        st.builds(
            lambda prefix, n: f"{prefix}{n // 10_000}-{n % 10_000:04d}",
            st.sampled_from(["+1 212 ", "+1 415 ", "(202) ", "+1 (646) "]),
            st.integers(2_000_000, 9_999_999),
        ),
        st.sampled_from(["+442071838750", "+4930901820", "+33142685300", "+1 800 555 0199"]),
    ),
    st.one_of(
        st.sampled_from(["12", "hello", "+999999999999999999", "+1 800 555 0199\n", "00442071838751"]),
        st.from_regex(r"\+?[0-9]{2,17}", fullmatch=True),
    ),
)


def seconds(lo: int, hi: int) -> st.SearchStrategy:
    return mostly(
        st.integers(lo, hi), st.one_of(st.integers(-5, 90_000), st.sampled_from(["", "x", "30", "1e3"]))
    )


# System directories a node's folder may never be (an oracle of its own, not the rule's list).
SYSTEM_DIRS = [
    "/",
    "/bin",
    "/boot",
    "/etc",
    "/home",
    "/lib",
    "/opt",
    "/root",
    "/sbin",
    "/srv",
    "/tmp",
    "/usr",
]
SYSTEM_DIRS += ["/var", "/usr/bin", "/usr/lib", "/usr/local", "/usr/share", "/var/lib", "/var/log"]
ref = st.integers(0, 4)  # the n-th object made so far of the kind a target names
member = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.sampled_from(["user", "ring_group", "did"]), "target": ref, "timeout": seconds(1, 60)}
    ),
    st.fixed_dictionaries({"kind": st.just("extension"), "target": extension, "timeout": seconds(1, 60)}),
    st.fixed_dictionaries({"kind": st.just("external"), "target": phone, "timeout": seconds(1, 60)}),
    st.fixed_dictionaries({"kind": st.just("sip_uri"), "target": sip_uri, "timeout": seconds(1, 60)}),
    st.fixed_dictionaries({"kind": st.just("sip_uri"), "target": sip_uri, "timeout": seconds(1, 60)}),
)
members = st.lists(member, max_size=4)
destination = st.one_of(
    st.fixed_dictionaries({"kind": st.sampled_from(["user", "ring_group", "queue"]), "target": ref}),
    st.fixed_dictionaries({"kind": st.just("extension"), "target": extension}),
    st.fixed_dictionaries({"kind": st.just("external"), "target": phone}),
    st.fixed_dictionaries({"kind": st.sampled_from(["hangup", ""]), "target": st.just("")}),
)

plans = st.fixed_dictionaries(
    {
        "tenant": st.fixed_dictionaries(
            {
                "name": free_text,
                "domain": host,
                "trunk_host": st.one_of(st.just(""), host),
                "trunk_port": st.one_of(seconds(1, 65535), st.just("")),
                "trunk_username": mostly(
                    st.text(alphabet="ab09_.+-", max_size=8), st.text(alphabet="ab09_.+-@ :;$\n", max_size=90)
                ),
                "trunk_secret": mostly(
                    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=12).filter(
                        lambda t: "$" not in t
                    ),
                    st.one_of(st.text(alphabet="ab;#!$ '\"\\<&%{}\n", max_size=8), st.text(max_size=4)),
                ),
            }
        ),
        "teams": st.lists(free_text, max_size=2),
        "numbers": st.lists(phone, min_size=1, max_size=3),
        "users": st.lists(
            st.fixed_dictionaries(
                {
                    "name": free_text,
                    "extension": extension,
                    "caller_id": st.one_of(st.none(), ref),
                    "teams": st.lists(ref, max_size=2),
                }
            ),
            min_size=1,
            max_size=3,
        ),
        "groups": st.lists(
            st.fixed_dictionaries(
                {
                    "name": free_text,
                    "extension": extension,
                    "strategy": st.sampled_from(["parallel", "sequential"]),
                    "timeout": seconds(5, 600),
                    "members": members,
                    "fallback": destination,
                }
            ),
            min_size=1,
            max_size=2,
        ),
        "queues": st.lists(
            st.fixed_dictionaries(
                {
                    "name": free_text,
                    "extension": extension,
                    "strategy": st.sampled_from(["ring_all", "longest_idle", "linear", "round_robin"]),
                    "wrap_up_time": seconds(0, 3600),
                    "max_wait": seconds(10, 86_400),
                    "ring_timeout": seconds(5, 300),
                    "members": st.lists(ref, max_size=3),
                    "fallback": destination,
                }
            ),
            max_size=1,
        ),
        "lines": st.lists(
            st.fixed_dictionaries(
                {
                    "name": free_text,
                    "destination": destination,
                    "numbers": st.lists(ref, max_size=2),
                    "default_caller_id": st.one_of(st.none(), ref),
                }
            ),
            max_size=2,
        ),
        "regroup": st.lists(members, max_size=2),
    }
)


def plan(**overrides: Any) -> dict:
    """A plan that the services accept whole, with `overrides`: for the explicit examples."""
    base: dict[str, Any] = {
        "tenant": {
            "name": "Acme",
            "domain": "acme.example",
            "trunk_host": "sip.carrier.example",
            "trunk_port": 5060,
            "trunk_username": "acme",
            "trunk_secret": "s3cret;#",
        },
        "teams": ["Support"],
        "numbers": ["+12125550100"],
        "users": [{"name": "Ann", "extension": "2001", "caller_id": 0, "teams": [0]}],
        "groups": [
            {
                "name": "Desk",
                "extension": "600",
                "strategy": "parallel",
                "timeout": 30,
                "members": [{"kind": "user", "target": 0, "timeout": 20}],
                "fallback": {"kind": "hangup", "target": ""},
            }
        ],
        "queues": [],
        "lines": [
            {
                "name": "Main",
                "destination": {"kind": "ring_group", "target": 0},
                "numbers": [0],
                "default_caller_id": 0,
            }
        ],
        "regroup": [],
    }
    return base | overrides


def _desk(*extra: dict) -> list[dict]:
    return [{**plan()["groups"][0], "members": [{"kind": "user", "target": 0, "timeout": 20}, *extra]}]


class Built:
    """What the services accepted while building one plan."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.made: dict[str, list[int]] = {
            kind: [] for kind in ("user", "ring_group", "did", "queue", "team")
        }
        self.names: list[str] = []

    def attempt(self, service: Any, *args: Any) -> Any:
        """The service's result, or None when it refuses (and then nothing of it stays)."""
        savepoint = self.session.begin_nested()
        try:
            result = service(self.session, *args, None)
        except Invalid:
            savepoint.rollback()
            return None
        savepoint.commit()
        if hasattr(result, "name"):
            self.names.append(result.name)
        return result

    def keep(self, kind: str, obj: Any) -> None:
        if obj is not None:
            self.made[kind].append(obj.id)

    def ref(self, kind: str, index: int) -> str | None:
        """The id of the index-th object of `kind` made so far (round), None if none was."""
        made = self.made[kind]
        return str(made[index % len(made)]) if made else None

    def refs(self, kind: str, indexes: list[int]) -> list[str]:
        return sorted({ref for index in indexes if (ref := self.ref(kind, index)) is not None})

    def target(self, item: dict) -> str | None:
        """A member's or destination's target: an id of what was made, or the generated value."""
        kind = item["kind"]
        return self.ref(kind, item["target"]) if kind in self.made else item["target"]

    def members(self, raw: list[dict]) -> list[dict]:
        return [
            {"kind": m["kind"], "target": target, "timeout": m["timeout"]}
            for m in raw
            if (target := self.target(m)) is not None
        ]

    def destination(self, prefix: str, raw: dict) -> dict:
        target = self.target(raw)
        if target is None:
            return {f"{prefix}_kind": "hangup", f"{prefix}_target": ""}
        return {f"{prefix}_kind": raw["kind"], f"{prefix}_target": target}


def build(session: Session, data: dict) -> tuple[int, Built]:
    """The plan's tenant, through the services, in the open transaction (the caller rolls it
    back: numbers are unique in the whole database); returns its id and what was accepted."""
    built = Built(session)
    run = next(_runs)
    safe = {"name": f"Tenant {run}", "domain": f"t{run}.switchboard.test"}
    tenant = None
    for settings_ in (data["tenant"], data["tenant"] | safe, safe):
        tenant = built.attempt(lambda s, d, _actor: tenants.create_tenant(s, d), settings_)
        if tenant is not None:
            break
    assert tenant is not None
    tid = tenant.id
    for name in data["teams"]:
        built.keep("team", built.attempt(teams.create_team, tid, {"name": name}))
    for number in data["numbers"]:
        built.keep("did", built.attempt(numbers.create_number, tid, {"number": number}))
    for index, user in enumerate(data["users"]):
        body = {
            "name": user["name"],
            "email": f"user{run}-{index}@example.com",
            "extension": user["extension"],
            "team_ids": built.refs("team", user["teams"]),
        }
        if user["caller_id"] is not None:
            body["caller_id_number_id"] = built.ref("did", user["caller_id"])
        built.keep("user", built.attempt(users.create_user, tid, body))
    for group in data["groups"]:
        body = {key: group[key] for key in ("name", "extension", "strategy", "timeout")}
        body |= {"members": built.members(group["members"])} | built.destination(
            "fallback", group["fallback"]
        )
        built.keep("ring_group", built.attempt(ring_groups.create_ring_group, tid, body))
    for queue in data["queues"]:
        body = {
            key: queue[key]
            for key in ("name", "extension", "strategy", "wrap_up_time", "max_wait", "ring_timeout")
        }
        body |= {"members": [{"user_id": user_id} for user_id in built.refs("user", queue["members"])]}
        body |= built.destination("fallback", queue["fallback"])
        built.keep("queue", built.attempt(queues.create_queue, tid, body))
    for line in data["lines"]:
        body = {"name": line["name"], "number_ids": built.refs("did", line["numbers"])}
        body |= built.destination("destination", line["destination"])
        if line["default_caller_id"] is not None:
            body["default_caller_id_id"] = built.ref("did", line["default_caller_id"])
        built.attempt(lines.create_line, tid, body)
    for index, raw in enumerate(data["regroup"]):
        group_id = built.ref("ring_group", index)
        if group_id is not None:
            built.attempt(ring_groups.update_ring_group, tid, int(group_id), {"members": built.members(raw)})
    session.flush()
    return tid, built


@given(data=plans)
@example(
    data=plan(groups=_desk({"kind": "sip_uri", "target": "sip:desk@-partner.example.com", "timeout": 20}))
)
@example(
    data=plan(groups=_desk({"kind": "sip_uri", "target": "sip:desk@partner-.example.com", "timeout": 20}))
)
@example(
    data=plan(groups=_desk({"kind": "sip_uri", "target": "sip:desk@partner..example.com", "timeout": 20}))
)
@example(data=plan(groups=_desk({"kind": "sip_uri", "target": f"sip:{'u' * 65}@x.example", "timeout": 20})))
@example(
    data=plan(groups=_desk({"kind": "sip_uri", "target": "sip:desk@partner.example.com:0", "timeout": 20}))
)
@example(
    data=plan(
        groups=_desk({"kind": "sip_uri", "target": "sip:desk@partner.example.com:65536", "timeout": 20})
    )
)
@example(data=plan(tenant=plan()["tenant"] | {"trunk_host": "carrier..example"}))
@example(data=plan(tenant=plan()["tenant"] | {"domain": "acme-.example"}))
@example(data=plan(users=[{"name": "\u200b\u200c", "extension": "2001", "caller_id": 0, "teams": [0]}]))
@example(data=plan(teams=["\u2060"], groups=[*_desk(), {**_desk()[0], "name": "\ufeff", "extension": "601"}]))
@SETTINGS
def test_every_value_the_services_accept_renders_for_both_pbx_kinds(session, data):
    try:
        tenant_id, built = build(session, data)
        for kind, made in built.made.items():
            event(f"{kind}: {min(len(made), 2)}{'+' if len(made) >= 2 else ''} accepted")
        for kind in PBX_KINDS:
            try:
                rendered = render_tenant(session, tenant_id, kind)
            except RenderError as exc:
                pytest.fail(f"the services accepted what the {kind} renderer refuses: {exc}")
            assert rendered.files
        for name in built.names:
            assert clean_text(name), f"the accepted name {name!r} renders empty"
    finally:
        session.rollback()


@given(
    config_dir=st.one_of(
        st.lists(
            st.one_of(
                st.sampled_from(["", ".", "..", "etc", "usr", "srv", "pbx-1", "a b", "$(id)", ";", "~", "*"]),
                st.text(max_size=4),
            ),
            max_size=4,
        ).map("/".join),
        st.sampled_from(SYSTEM_DIRS),
        st.text(max_size=12),
    ),
    host_name=st.one_of(host, st.sampled_from(["::1", "[::1]", "fe80::1%eth0", "[::1", "::g"])),
)
@SETTINGS
def test_every_node_folder_the_services_accept_is_safe_to_deploy_into(session, config_dir, host_name):
    run = next(_runs)
    tenant = tenants.create_tenant(session, {"name": f"Nodes {run}", "domain": f"n{run}.switchboard.test"})
    body = {
        "name": f"node-{run}",
        "kind": "freeswitch",
        "host": host_name,
        "secret": "esl-secret",
        "config_dir": config_dir,
        "tenant_id": tenant.id,
    }
    try:
        node = nodes.create_node(session, body, None)
    except Invalid as exc:
        assert set(exc.errors) <= {"config_dir", "host"}, exc.errors
        session.rollback()
        return
    folder = node.config_dir
    assert folder.startswith("/") and posixpath.normpath(folder) == folder and "//" not in folder
    assert folder not in SYSTEM_DIRS
    assert shlex.quote(folder) == folder, "a shell would read something into the folder name"
    assert shlex.quote(node.host.strip("[]")) == node.host.strip("[]")
    session.rollback()
