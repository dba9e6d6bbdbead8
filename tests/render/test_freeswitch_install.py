"""deploy/freeswitch/install.sh on a stock-shaped conf tree: wiring, idempotence, valid XML."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from tests.render.freeswitch_tree import STOCK, assemble, write_stock_tree

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "freeswitch" / "install.sh"
ARGS = ["--esl-password", "s3cret-Pass_1", "--control-url", "http://10.1.2.3:8000/"]


def run(conf: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALL), str(conf), *ARGS, *extra], capture_output=True, text=True, check=check
    )


def snapshot(conf: Path) -> dict[str, str]:
    found = {}
    for path in sorted(conf.rglob("*")):
        rel = path.relative_to(conf).as_posix()
        if path.is_symlink():
            found[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + f" {path.stat().st_mode & 0o777:o}"
    return found


@pytest.fixture()
def conf(tmp_path: Path) -> Path:
    write_stock_tree(tmp_path)
    return tmp_path


def test_second_run_changes_no_byte(conf):
    first = run(conf)
    assert first.stdout.count(": changed") == 12, first.stdout
    before = snapshot(conf)
    second = run(conf)
    assert ": changed" not in second.stdout, second.stdout
    assert snapshot(conf) == before


def test_demo_users_with_the_default_password_are_moved_aside(conf):
    run(conf)
    directory = conf / "directory" / "default"
    assert not (directory / "1000.xml").exists()
    assert (directory / "1000.xml.switchboard-orig").read_text() == STOCK["directory/default/1000.xml"]
    assert (directory / "ops.xml").read_text() == STOCK["directory/default/ops.xml"]
    users = assemble(conf).findall("section[@name='directory']/domain/groups/group/users/user")
    assert [u.get("id") for u in users] == ["ops"]


def test_every_xml_file_parses_and_the_document_assembles(conf):
    run(conf)
    for path in conf.rglob("*.xml"):
        etree.parse(str(path))  # raises on invalid XML
    document = assemble(conf)
    assert document.tag == "document"
    config = document.find("section[@name='configuration']")
    names = {c.get("name") for c in config.findall("configuration")}
    assert {"callcenter.conf", "event_socket.conf", "xml_curl.conf", "acl.conf", "modules.conf"} <= names


def test_wiring(conf):
    run(conf, "--esl-listen", "10.0.0.2", "--esl-allow", "10.0.0.0/24", "--esl-allow", "127.0.0.1/32")
    document = assemble(conf)
    config = document.find("section[@name='configuration']")
    esl = {
        p.get("name"): p.get("value")
        for p in config.iterfind("configuration[@name='event_socket.conf']//param")
    }
    assert esl["listen-ip"] == "10.0.0.2"
    assert esl["password"] == "s3cret-Pass_1"
    assert esl["apply-inbound-acl"] == "switchboard-esl"
    acl = config.find("configuration[@name='acl.conf']/network-lists/list[@name='switchboard-esl']")
    assert acl.get("default") == "deny"
    assert [n.get("cidr") for n in acl] == ["10.0.0.0/24", "127.0.0.1/32"]
    curl = config.find("configuration[@name='xml_curl.conf']//param[@name='gateway-url']")
    assert curl.get("value") == "http://10.1.2.3:8000/freeswitch/xml-curl"
    assert curl.get("bindings") == "directory|dialplan"
    creds = config.find("configuration[@name='xml_curl.conf']//param[@name='gateway-credentials']")
    assert creds.get("value") == "SWITCHBOARD_XML_CURL_USER:SWITCHBOARD_XML_CURL_PASSWORD"
    loads = [m.get("module") for m in config.iterfind("configuration[@name='modules.conf']/modules/load")]
    assert loads.count("mod_callcenter") == 1 and loads.count("mod_xml_curl") == 1
    assert loads.count("mod_sms") == 1  # texts go out through mod_sms's SEND_MESSAGE
    # texts from the trunk are taken like its calls (the external profile challenges neither)
    external = etree.parse(str(conf / "sip_profiles" / "external.xml")).getroot()
    params = {p.get("name"): p.get("value") for p in external.iterfind("settings/param")}
    assert params["auth-messages"] == "false"
    # mod_sms's chatplan hands every text on: the stock demo that answers them is kept aside
    assert "<context" not in (conf / "chatplan" / "default.xml").read_text()
    kept = conf / "chatplan" / "default.xml.switchboard-orig"
    assert kept.read_text() == STOCK["chatplan/default.xml"]
    # the stock files Switchboard replaced are kept once, under a name FreeSWITCH does not load
    for name in ("callcenter.conf.xml", "event_socket.conf.xml", "xml_curl.conf.xml"):
        kept = conf / "autoload_configs" / f"{name}.switchboard-orig"
        assert kept.read_text() == STOCK[f"autoload_configs/{name}"]
    assert (conf / "switchboard" / "live").readlink() == Path("versions/0")
    # our include comes first in both contexts, before the stock extensions
    default = (conf / "dialplan" / "default.xml").read_text()
    assert default.index("switchboard/live/dialplan/default.xml") < default.index("Local_Extension")


FORCED = ("force-register-domain", "force-subscription-domain", "force-register-db-domain")


def test_users_of_any_domain_register_on_the_internal_profile(conf):
    # The vanilla profile forces every registration into $${domain}: a tenant's user would get 403.
    done = run(conf)
    assert (
        "sip_profiles: forced registration domains off (one SIP domain per tenant): changed "
        "(sip_profiles/internal.xml)\n" in done.stdout
    )
    profile = assemble(conf).find(
        "section[@name='configuration']/configuration[@name='sofia.conf']/profiles/profile[@name='internal']"
    )
    params = {p.get("name"): p.get("value") for p in profile.iterfind("settings/param")}
    assert not set(FORCED) & set(params), params
    assert params["challenge-realm"] == "auto_from"  # the From domain picks the directory domain
    text = (conf / "sip_profiles" / "internal.xml").read_text()
    stock = STOCK["sip_profiles/internal.xml"]
    for name in FORCED:
        line = f'<param name="{name}" value="$${{domain}}"/>'
        off = "<!-- switchboard: off, each tenant registers in its own SIP domain (deploy/freeswitch/install.sh):"
        assert f"\n    {off} {line} -->\n" in text
    # Nothing else moved: the stock comment stays as it was, the rest byte for byte.
    assert '<!--<param name="force-register-domain" value="example.com"/>-->' in text
    assert [a for a in text.splitlines() if "switchboard" not in a] == [
        b
        for b in stock.splitlines()
        if not any(f'<param name="{n}" value=' in b and "<!--" not in b for n in FORCED)
    ]


def test_a_forced_domain_it_cannot_rewrite_stops_it_before_any_change(conf):
    profile = conf / "sip_profiles" / "internal.xml"
    profile.write_text(
        profile.read_text().replace(
            '<param name="force-register-domain" value="$${domain}"/>',
            '<param name="force-register-domain"\n           value="$${domain}"/>',
        )
    )
    done = run(conf, check=False)
    assert done.returncode == 2 and "remove it by hand" in done.stderr, done.stderr
    assert not (conf / "switchboard").exists()


def test_xml_curl_credentials_and_modules_already_loaded(conf):
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(
        modules.read_text().replace(
            '<!--<load module="mod_callcenter"/>-->', '<load module="mod_callcenter"/>'
        )
    )
    run(conf, "--xml-curl-user", "fs", "--xml-curl-password", "curl-pass-123")
    text = modules.read_text()
    assert text.count('<load module="mod_callcenter"/>') == 1
    assert text.count('<load module="mod_xml_curl"/>') == 2  # the stock comment and ours
    curl = (conf / "autoload_configs" / "xml_curl.conf.xml").read_text()
    assert 'value="fs:curl-pass-123"' in curl
    assert oct((conf / "autoload_configs" / "xml_curl.conf.xml").stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--esl-listen", "0.0.0.0"], "private address"),
        (["--esl-allow", "10.0.0.1"], "ADDR/PREFIX"),
        (["--control-url", 'http://x/"><evil'], "control-url"),
        (["--xml-curl-user", "fs"], "go together"),
        (["--xml-curl-user", "fs", "--xml-curl-password", "a$${b}c-long"], "xml_curl password"),
        (["--wss", "7443"], "--wss must be"),
        (["--wss", '127.0.0.1:7443"/><x'], "--wss must be"),
        (["--wss", "127.0.0.1:70000"], "--wss must be"),
        (["--tls-cert", "/etc/hostname"], "go with --wss"),
        (["--wss", "127.0.0.1:7443", "--tls-cert", "/etc/hostname"], "go together"),
        (["--wss", "127.0.0.1:7443", "--tls-cert", "/etc/hostname", "--tls-key", "/etc/hostname"], "PEM"),
    ],
)
def test_refuses_unsafe_options(conf, extra, message):
    done = run(conf, *extra, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (conf / "switchboard").exists()


def test_refuses_an_unsafe_esl_password(conf):
    done = subprocess.run(
        [str(INSTALL), str(conf), "--esl-password", 'pa"ss word$', "--control-url", "http://h"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "ESL password" in done.stderr


def test_refuses_a_tree_without_the_default_context(conf):
    (conf / "dialplan" / "default.xml").write_text("<include>\n</include>\n")
    done = run(conf, check=False)
    assert done.returncode == 2 and "default" in done.stderr
    assert not (conf / "switchboard").exists()


# --- the webphone: --wss -----------------------------------------------------------------------


def _internal_settings(conf: Path) -> dict[str, str]:
    profile = etree.parse(str(conf / "sip_profiles" / "internal.xml")).getroot()
    return {p.get("name"): p.get("value") for p in profile.iterfind("settings/param")}


def test_wss_binds_the_internal_profile_with_a_generated_certificate(conf):
    stock = conf / "sip_profiles" / "internal.xml"
    stock.write_text(
        stock.read_text().replace(
            "  </settings>",
            '    <param name="ws-binding"  value=":5066"/>\n    <param name="wss-binding" value=":7443"/>\n  </settings>',
        )
    )
    first = run(conf, "--wss", "127.0.0.1:7443")
    assert "switchboard/tls/wss.pem (webphone certificate): changed" in first.stdout, first.stdout
    assert "webphone WebSocket (wss) on 127.0.0.1:7443: changed" in first.stdout, first.stdout
    settings = _internal_settings(conf)
    # ours alone: the stock ws (plain) and wss bindings are turned into comments
    assert settings["wss-binding"] == "127.0.0.1:7443" and "ws-binding" not in settings
    assert settings["tls-cert-dir"] == "$${conf_dir}/switchboard/tls"
    assert '<param name="ws-binding"  value=":5066"/> -->' in stock.read_text()
    pem = conf / "switchboard" / "tls" / "wss.pem"
    assert pem.stat().st_mode & 0o777 == 0o640  # FreeSWITCH's group reads it, nobody else
    text = pem.read_text()
    assert "BEGIN CERTIFICATE" in text and "PRIVATE KEY" in text  # sofia wants both in one file
    shown = subprocess.run(
        ["openssl", "x509", "-noout", "-text"], input=text, capture_output=True, text=True, check=True
    ).stdout
    assert "IP Address:127.0.0.1" in shown
    before = snapshot(conf)
    second = run(conf, "--wss", "127.0.0.1:7443")
    assert ": changed" not in second.stdout, second.stdout
    assert snapshot(conf) == before
    # without --wss, no binding of ours is left (the stock lines stay off)
    third = run(conf)
    assert "sip_profiles/internal.xml: no webphone WebSocket: changed" in third.stdout
    assert "wss-binding" not in _internal_settings(conf)


def test_wss_with_the_operators_certificate(conf, operator_certificate):
    cert, key = operator_certificate
    run(conf, "--wss", "[2001:db8::1]:7443", "--tls-cert", str(cert), "--tls-key", str(key))
    assert _internal_settings(conf)["wss-binding"] == "[2001:db8::1]:7443"
    pem = (conf / "switchboard" / "tls" / "wss.pem").read_text()
    assert pem == cert.read_text() + key.read_text()
    before = snapshot(conf)
    assert (
        ": changed"
        not in run(conf, "--wss", "[2001:db8::1]:7443", "--tls-cert", str(cert), "--tls-key", str(key)).stdout
    )
    assert snapshot(conf) == before
