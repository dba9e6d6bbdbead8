"""The FreeSWITCH render, deployed into a stock tree wired by install.sh, read as FreeSWITCH reads it:
one document whose directory, dialplan and configuration sections hold the tenant."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from control.render import render_tenant, write_files
from tests.render.factories import NOW, secret_of
from tests.render.freeswitch_tree import assemble, write_stock_tree
from tests.render.test_freeswitch_install import ARGS, INSTALL

DOMAIN = "golden.switchboard.test"


@pytest.fixture()
def document(session, golden, tmp_path: Path) -> etree._Element:
    conf = tmp_path / "conf"
    write_stock_tree(conf)
    subprocess.run([str(INSTALL), str(conf), *ARGS], check=True, capture_output=True)
    rendered = render_tenant(session, golden.tenant_id, "freeswitch", now=NOW)
    for path, content in rendered.files.items():
        etree.fromstring(content)  # every file parses on its own (root <include>)
        assert etree.fromstring(content).tag == "include", path
    write_files(rendered, conf / "switchboard" / "versions" / "1")
    os.replace(_symlink(conf, "versions/1"), conf / "switchboard" / "live")
    return assemble(conf)


def _symlink(conf: Path, target: str) -> Path:
    link = conf / "switchboard" / ".live.new"
    link.symlink_to(target)
    return link


def conditions(extension: etree._Element) -> list[tuple[str | None, str | None]]:
    return [(c.get("field"), c.get("expression")) for c in extension.findall("condition")]


def actions(extension: etree._Element) -> list[tuple[str, str | None]]:
    return [(a.get("application"), a.get("data")) for a in extension.iter("action")]


def test_directory_domain_users_params_variables(document):
    domain = document.find(f"section[@name='directory']/domain[@name='{DOMAIN}']")
    assert domain is not None
    assert domain.find("params/param[@name='dial-string']") is not None
    users = {u.get("id"): u for u in domain.findall("groups/group/users/user")}
    extensions = ["2001", "2002", "2003", "2005", "2006", "2007"]  # 2004 suspended: absent
    # each person twice: the desk phone's SIP user and the webphone's (names.webphone_user)
    assert sorted(users) == sorted(extensions + [f"{e}-webphone" for e in extensions])
    ann = users["2001"]
    params = {p.get("name"): p.get("value") for p in ann.findall("params/param")}
    assert params["password"] == secret_of("2001")
    assert params["vm-password"].isdigit() and len(params["vm-password"]) == 6
    # user/2001@domain rings both devices' registrations
    assert params["dial-string"] == (
        f"{{presence_id=2001@{DOMAIN}}}${{sofia_contact(*/2001@{DOMAIN})}},"
        f"[origination_uuid=${{create_uuid()}}]${{sofia_contact(*/2001-webphone@{DOMAIN})}}"
    )
    webphone = users["2001-webphone"]
    webphone_params = {p.get("name"): p.get("value") for p in webphone.findall("params/param")}
    assert webphone_params == {"password": secret_of("2001")}
    webphone_variables = {v.get("name"): v.get("value") for v in webphone.findall("variables/variable")}
    # its calls are the person's: caller ID, presence, outbound number
    assert webphone_variables["effective_caller_id_number"] == "2001"
    assert webphone_variables["presence_id"] == f"2001@{DOMAIN}"
    assert webphone_variables["outbound_caller_id_number"] == "+12025550101"
    variables = {v.get("name"): v.get("value") for v in ann.findall("variables/variable")}
    assert variables["user_context"] == "default"
    assert variables["effective_caller_id_name"] == "Ann Admin"
    assert variables["effective_caller_id_number"] == "2001"
    assert variables["outbound_caller_id_number"] == "+12025550101"
    assert variables["callgroup"].startswith("team-")


def test_dialplan_contexts_start_with_switchboard(document):
    dialplan = document.find("section[@name='dialplan']")
    default = dialplan.find("context[@name='default']")
    names = [e.get("name") for e in default.findall("extension")]
    ours = [n for n in names if n.startswith("switchboard-")]
    assert names[: len(ours)] == ours, "Switchboard's extensions must come before the stock ones"
    assert set(ours) >= {
        "switchboard-user-2001",
        "switchboard-group-600",
        "switchboard-group-601",
        "switchboard-queue-700",
        "switchboard-outbound",
    }
    for extension in default.findall("extension"):
        assert extension.findall("condition"), extension.get("name")
    public = dialplan.find("context[@name='public']")
    public_names = [e.get("name") for e in public.findall("extension")]
    assert public_names[:5] == [f"switchboard-line-{i}" for i in (1, 2, 3, 5, 6)]


def test_ring_groups_bridge_legs(document):
    default = document.find("section[@name='dialplan']/context[@name='default']")
    parallel = default.find("extension[@name='switchboard-group-600']")
    bridge = [d for a, d in actions(parallel) if a == "bridge"]
    # each person is dialled through the variable the live DND check sets (2002 is on DND)
    assert bridge == [
        "{ignore_early_media=true,originate_timeout=25}"
        "[leg_timeout=20]${sb_dial_2001},[leg_timeout=20]${sb_dial_2002},[leg_timeout=30]${sb_dial_2006},"
        "[leg_timeout=15]sofia/gateway/switchboard-trunk/+14155550111"
    ]
    checks = {
        c.get("field"): (
            [a.get("data") for a in c.iterfind("action")],
            [a.get("data") for a in c.iterfind("anti-action")],
        )
        for c in parallel.findall("condition")
        if c.get("break") == "never"
    }
    assert checks == {
        f"${{hash(select/switchboard_dnd/{ext}@{DOMAIN})}}/{dnd}": (
            [f"sb_dial_{ext}=error/USER_BUSY"],
            [f"sb_dial_{ext}=user/{ext}@{DOMAIN}"],
        )
        for ext, dnd in (("2001", 0), ("2002", 1), ("2006", 0))
    }
    assert {c.get("expression") for c in parallel.findall("condition") if c.get("break")} == {"^(1/|/1$)"}
    assert actions(parallel)[-1] == ("transfer", "700 XML default")
    sequential = default.find("extension[@name='switchboard-group-601']")
    legs = next(d for a, d in actions(sequential) if a == "bridge").split("}", 1)[1].split("|")
    assert legs == [
        "[leg_timeout=15]${sb_dial_2005}",
        "[leg_timeout=20]loopback/600/default",
        "[leg_timeout=10]loopback/2006/default",
        "[leg_timeout=20]loopback/12025550101/public",
        "[leg_timeout=20]sofia/external/sip:desk@partner.example.com",
    ]
    assert ("set", "continue_on_fail=true") in actions(sequential)


def test_callcenter_queues_agents_tiers(document):
    config = document.find("section[@name='configuration']/configuration[@name='callcenter.conf']")
    assert config is not None
    queues = {q.get("name"): q for q in config.findall("queues/queue")}
    assert set(queues) == {f"700@{DOMAIN}", f"701@{DOMAIN}"}
    strategy = queues[f"701@{DOMAIN}"].find("param[@name='strategy']").get("value")
    assert strategy == "top-down"
    agents = {a.get("name"): a for a in config.findall("agents/agent")}
    assert set(agents) == {f"{e}@{DOMAIN}" for e in ("2001", "2002", "2005", "2006")}
    assert agents[f"2001@{DOMAIN}"].get("contact") == f"[leg_timeout=20]user/2001@{DOMAIN}"
    assert agents[f"2001@{DOMAIN}"].get("type") == "callback"
    tiers = {(t.get("queue"), t.get("agent")) for t in config.findall("tiers/tier")}
    # 2005 (inactive) and 2002 (DND) are agents without a tier in 700: they get nothing from it
    assert tiers == {
        (f"700@{DOMAIN}", f"2001@{DOMAIN}"),
        (f"701@{DOMAIN}", f"2006@{DOMAIN}"),
        (f"701@{DOMAIN}", f"2001@{DOMAIN}"),
    }


def test_gateway_on_the_external_profile(document):
    profile = document.find(
        "section[@name='configuration']/configuration[@name='sofia.conf']/profiles/profile[@name='external']"
    )
    gateway = profile.find("gateways/gateway[@name='switchboard-trunk']")
    params = {p.get("name"): p.get("value") for p in gateway.findall("param")}
    assert params["proxy"] == "203.0.113.10:5060"
    assert params["register"] == "true"
    assert params["password"] == "trunk;sec#ret!"
    assert params["context"] == "public"
