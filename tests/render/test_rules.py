"""The telephony rules of the issue, asserted on the golden tenant's renders (both kinds)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from control.models import PhoneNumber, RingGroup, User
from control.render import PBX_KINDS, RenderError, RenderOptions, names, render_tenant, write_files
from tests.render import conf_parser
from tests.render.factories import NOW


def text_of(files) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(c.decode() for c in files.values())


@pytest.fixture()
def renders(session, golden):  # type: ignore[no-untyped-def]
    return {kind: render_tenant(session, golden.tenant_id, kind, now=NOW).files for kind in PBX_KINDS}


def test_deterministic(session, golden):
    for kind in PBX_KINDS:
        first = render_tenant(session, golden.tenant_id, kind, now=NOW)
        second = render_tenant(session, golden.tenant_id, kind, now=NOW)
        assert list(first.files) == sorted(first.files)
        assert dict(first.files) == dict(second.files)
        assert first.content_hash == second.content_hash
        assert [m["path"] for m in first.manifest()] == list(first.files)
    session.execute(update(User).where(User.id == golden.users["2001"]).values(name="Ann B"))
    session.commit()
    assert render_tenant(session, golden.tenant_id, "asterisk", now=NOW).content_hash != first.content_hash


def test_suspended_user_and_user_without_extension_are_absent(renders):
    fs, ast = renders["freeswitch"], renders["asterisk"]
    assert "directory/2004.xml" not in fs and "pjsip.d/2004.conf" not in ast
    assert "2004" not in text_of(fs) and "2004" not in text_of(ast)
    assert "Web Only" not in text_of(fs) + text_of(ast)


def test_released_and_pending_numbers_are_absent_cancelled_ones_route_until_cancel_at(renders):
    for kind, files in renders.items():
        text = text_of(files)
        assert "12025550106" not in text, kind  # released
        assert "12025550107" not in text, kind  # pending
        assert "12025550103" not in text, kind  # to be cancelled, cancel_at passed
        assert "12025550104" in text, kind  # to be cancelled tomorrow: still routes
    assert not any(p.startswith("dialplan/public/line-4") for p in renders["freeswitch"])


def test_cancel_at_is_judged_at_the_given_time(session, golden):
    later = render_tenant(session, golden.tenant_id, "asterisk", now=NOW + timedelta(days=2))
    assert "12025550104" not in text_of(later.files)
    earlier = render_tenant(session, golden.tenant_id, "freeswitch", now=NOW - timedelta(days=2))
    assert "12025550103" in text_of(earlier.files)


def test_paused_line_rejects_clearly(renders):
    fs = renders["freeswitch"]["dialplan/public/line-3.xml"].decode()
    assert '<action application="respond" data="480 Temporarily Unavailable"/>' in fs
    assert "transfer" not in fs
    ast = renders["asterisk"]["extensions.d/line-3.conf"].decode()
    assert re.search(r"exten => s,1,Set\(__SB_LINE_ID=3\)\n same => n,Hangup\(20\)\n", ast)


def test_do_not_use_is_never_a_caller_id(renders):
    fs, ast = renders["freeswitch"], renders["asterisk"]
    presented = re.findall(r'outbound_caller_id_number" value="([^"]+)"', text_of(fs))
    assert presented and "+12025550105" not in presented
    assert "+12025550105" not in re.findall(r"SB_OUTBOUND_CID=(\S+)", text_of(ast))
    # Eve chose the do_not_use number: she presents the default caller ID of the line that rings her
    assert "SB_OUTBOUND_CID=+12025550102" in ast["pjsip.d/2005.conf"].decode()
    # Gus chose a number whose cancel_at passed: the tenant's first line default
    assert "SB_OUTBOUND_CID=+12025550101" in ast["pjsip.d/2007.conf"].decode()
    # ...but do_not_use numbers still route inbound
    assert "12025550105" in fs["dialplan/public/line-1.xml"].decode()


def test_no_usable_caller_id_means_none_and_refusal(session, golden):
    session.execute(
        update(PhoneNumber).where(PhoneNumber.tenant_id == golden.tenant_id).values(do_not_use=True)
    )
    session.commit()
    ast = render_tenant(session, golden.tenant_id, "asterisk", now=NOW).files
    assert "SB_OUTBOUND_CID" not in text_of({k: v for k, v in ast.items() if k.startswith("pjsip.d/")})
    assert "n(refuse),Hangup(21)" in ast["extensions.conf"].decode()
    fs = render_tenant(session, golden.tenant_id, "freeswitch", now=NOW).files
    assert "outbound_caller_id_number" not in fs["directory/2001.xml"].decode()
    assert 'anti-action application="respond" data="403 Forbidden"' in fs["dialplan/default.xml"].decode()


def test_asterisk_ring_groups_queues_and_trunk(renders):
    files = renders["asterisk"]
    structure = conf_parser.structure(files)
    internal = {e for c, e in structure.extensions if c == "switchboard-internal"}
    assert {"2001", "2002", "2003", "2005", "2006", "2007", "600", "601", "602", "700", "701"} <= internal
    parallel = files["extensions.d/group-600.conf"].decode()
    # one Dial of all legs for the group timeout; shorter members ring through switchboard-legs;
    # user members join the Dial only while the live Do Not Disturb check lets them (2002 is on
    # DND as rendered: still there, so turning DND off needs no deploy)
    appended = re.findall(r"Set\(SB_DIAL=\$\{SB_DIAL\}&(.+?)\)\)?\n", parallel)
    assert appended == [
        "Local/g600m1@switchboard-legs",
        "Local/g600m2@switchboard-legs",
        names.ast_devices("2006"),  # a user rings on every device: desk phone and webphone
        "Local/g600m5@switchboard-legs",
    ]
    assert re.findall(r"Gosub\(switchboard-dnd,(\d+),1\((\d)\)\)", parallel) == [
        ("2001", "0"),
        ("2002", "1"),
        ("2006", "0"),
    ]
    assert " same => n,Dial(${SB_DIAL:1},25)\n" in parallel
    assert f"exten => g600m1,1,Dial({names.ast_devices('2001')},20)\n" in parallel
    assert "exten => g600m5,1,Dial(PJSIP/+14155550111@switchboard-trunk,15)\n" in parallel
    assert " same => n,Goto(switchboard-internal,700,1)\n" in parallel  # fallback: the queue
    sequential = files["extensions.d/group-601.conf"].decode()
    dials = re.findall(r"Dial\(([^,]+),(\d+)\)", sequential)
    assert dials == [
        ("${SB_DIAL:1}", "15"),  # PJSIP/2005 behind the DND check
        ("Local/600@switchboard-internal", "20"),
        ("Local/2006@switchboard-internal", "10"),
        ("Local/12025550101@switchboard-from-trunk", "20"),
        ("PJSIP/switchboard-uri/sip:desk@partner.example.com", "20"),
        ("PJSIP/+14155550199@switchboard-trunk", "120"),  # the fallback
    ]
    # A member is every device of the agent (names.ast_user_channel), watched through their hint.
    assert ("queue-700", "Local/2001@switchboard-devices", "0") in structure.members
    assert ("queue-700", "Local/2005@switchboard-devices", "1") in structure.members  # inactive: paused
    assert ("queue-700", "Local/2002@switchboard-devices", "1") in structure.members  # DND: paused
    assert not any("2004" in m[1] for m in structure.members)  # suspended: absent
    assert (
        "member => Local/2006@switchboard-devices,0,Fay Fallback,hint:2006@switchboard-devices,no,0,0"
        in files["queues.d/701.conf"].decode()
    )
    user = files["extensions.d/user-2006.conf"].decode()
    assert "[switchboard-devices]\nexten => 2006,hint,PJSIP/2006&PJSIP/2006-webphone\n" in user
    assert f"exten => 2006,1,Dial({names.ast_devices('2006')})\n" in user
    assert ("switchboard-devices", "2006", 1, "Dial") in structure.priorities
    assert ("switchboard-trunk", "registration") in structure.pjsip
    assert ("switchboard-trunk", "identify") in structure.pjsip
    assert {("2001", "endpoint"), ("2001", "auth"), ("2001", "aor")} <= structure.pjsip
    assert "max_contacts = 3" in files["pjsip.d/2001.conf"].decode()
    assert "password = trunk\\;sec#ret!" in files["pjsip.conf"].decode()


def test_asterisk_webphone_beside_the_desk_phone(renders):
    """Each user's webphone: a WebRTC endpoint of its own with the user's secret, one contact,
    dialled together with the desk phone (names.ast_devices) on a direct call, only while it has
    a contact (a Dial of an endpoint without one logs an ERROR)."""
    files = renders["asterisk"]
    structure = conf_parser.structure(files)
    webphone = names.webphone_user("2001")
    assert {(webphone, "endpoint"), (webphone, "auth"), (webphone, "aor")} <= structure.pjsip
    endpoint = files["pjsip.d/2001.conf"].decode().partition(f"[{webphone}]\ntype = endpoint\n")[2]
    assert "webrtc = yes\n" in endpoint and "allow = ulaw,opus\n" in endpoint
    assert f"auth = {webphone}\n" in endpoint and f"aors = {webphone}\n" in endpoint
    assert "webrtc" not in files["pjsip.d/2001.conf"].decode().partition(f"[{webphone}]")[0]
    desk_secret = re.findall(r"password = (.*)\n", files["pjsip.d/2001.conf"].decode())
    assert len(desk_secret) == 2 and desk_secret[0] == desk_secret[1]
    direct = files["extensions.d/user-2001.conf"].decode()
    assert f"Dial({names.ast_devices('2001')},30)" in direct
    assert names.device_owner(webphone) == "2001" and names.device_owner("2001") == "2001"
    assert names.ast_devices("2001") == (
        'PJSIP/2001${IF($["${PJSIP_DIAL_CONTACTS(2001-webphone)}" != ""]?&)}${PJSIP_DIAL_CONTACTS(2001-webphone)}'
    )


def test_asterisk_without_transport_or_trunk(session, golden):
    from control.models import Tenant

    session.execute(update(Tenant).where(Tenant.id == golden.tenant_id).values(trunk_host=None))
    session.commit()
    files = render_tenant(
        session, golden.tenant_id, "asterisk", now=NOW, options=RenderOptions(sip_bind=None)
    ).files
    structure = conf_parser.structure(files)
    assert not any(
        name.startswith("switchboard-trunk") or kind == "transport" for name, kind in structure.pjsip
    )
    assert "switchboard-outbound" not in structure.contexts
    # without a trunk, external legs and destinations cannot ring
    assert "switchboard-trunk" not in text_of(files)


def test_include_root_is_where_asterisk_finds_the_fragments(session, golden):
    files = render_tenant(
        session, golden.tenant_id, "asterisk", now=NOW, options=RenderOptions(include_root="sb/current")
    ).files
    assert "#include sb/current/pjsip.d/*.conf" in files["pjsip.conf"].decode()
    conf_parser.structure(files, include_root="sb/current")


def test_bad_identifier_in_a_row_stops_the_render(session, golden):
    session.execute(
        update(RingGroup).where(RingGroup.id == golden.groups["600"]).values(extension="60\n[evil]")
    )
    session.commit()
    for kind in PBX_KINDS:
        with pytest.raises(RenderError, match="ring group extension"):
            render_tenant(session, golden.tenant_id, kind, now=NOW)


def test_one_extension_for_two_entities_stops_the_render(session, golden):
    session.execute(update(RingGroup).where(RingGroup.id == golden.groups["602"]).values(extension="2001"))
    session.commit()
    for kind in PBX_KINDS:
        with pytest.raises(RenderError, match="both claim extension 2001"):
            render_tenant(session, golden.tenant_id, kind, now=NOW)


def test_write_files(session, golden, tmp_path):
    rendered = render_tenant(session, golden.tenant_id, "asterisk", now=NOW)
    written = write_files(rendered, tmp_path / "out")
    assert len(written) == len(rendered.files)
    assert (tmp_path / "out" / "pjsip.d" / "2001.conf").read_bytes() == rendered.files["pjsip.d/2001.conf"]
    assert oct((tmp_path / "out" / "pjsip.conf").stat().st_mode & 0o777) == "0o640"
    with pytest.raises(RenderError, match="empty or missing"):
        write_files(rendered, tmp_path / "out")


@pytest.mark.parametrize("uri", ["sip:desk@-partner.example.com", "sip:desk@partner.example.com:0"])
def test_a_stored_value_the_rules_refuse_stops_the_render_naming_the_row(session, golden, uri):
    """The second wall: a row that slipped past the services (a manual UPDATE) is named, so an
    admin knows what to fix."""
    group = session.get(RingGroup, golden.groups["601"])
    group.members[4].value = uri
    session.commit()
    for kind in PBX_KINDS:
        with pytest.raises(RenderError, match=r"ring group 601 \(Sales hunt\), member 5: SIP URI") as raised:
            render_tenant(session, golden.tenant_id, kind, now=NOW)
        assert "A SIP URI like sip:alice@example.com" in str(raised.value)
