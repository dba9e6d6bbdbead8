"""The sandbox FreeSWITCH, install.sh on its vanilla configuration and the sipp harness, proven
against each other: its own ports, install.sh idempotent on the real vanilla files, and a user of
a tenant's own SIP domain registering (the vanilla profile refuses one with 403)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.freeswitch_sandbox import REPO, FreeswitchSandbox
from tests.integration.sipp import SippError, SippSession
from worker.esl_client import EslClient
from worker.pbx_errors import PbxError

pytestmark = pytest.mark.integration

INSTALL = REPO / "deploy" / "freeswitch" / "install.sh"
DOMAIN = "sandbox.switchboard.test"
DIRECTORY = f"""<include>
  <domain name="{DOMAIN}">
    <params>
      <param name="dial-string" value="{{presence_id=${{dialed_user}}@${{dialed_domain}}}}${{sofia_contact(*/${{dialed_user}}@${{dialed_domain}})}}"/>
    </params>
    <variables>
      <variable name="user_context" value="default"/>
    </variables>
    <groups>
      <group name="switchboard">
        <users>
          <user id="2001">
            <params>
              <param name="password" value="phone-2001-pw"/>
            </params>
          </user>
        </users>
      </group>
    </groups>
  </domain>
</include>
"""


@pytest.fixture(scope="module")
def sandbox(freeswitch_sandbox: FreeswitchSandbox) -> Iterator[FreeswitchSandbox]:
    with freeswitch_sandbox.exclusive():
        freeswitch_sandbox.reset()
        try:
            yield freeswitch_sandbox
        finally:
            freeswitch_sandbox.reset()


def _snapshot(conf: Path) -> dict[str, str]:
    found = {}
    for path in sorted(conf.rglob("*")):
        rel = path.relative_to(conf).as_posix()
        if rel.startswith("switchboard/"):
            continue
        if path.is_symlink():
            found[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + f" {path.stat().st_mode & 0o777:o}"
    return found


def test_it_runs_on_its_own_ports_with_everything_in_its_state_dir(sandbox: FreeswitchSandbox) -> None:
    assert "is ready" in sandbox.api("status")
    profiles = sandbox.api("sofia status")
    assert f"sip:mod_sofia@127.0.0.1:{sandbox.sip_internal_port}" in profiles
    assert f"sip:mod_sofia@127.0.0.1:{sandbox.sip_external_port}" in profiles
    assert "internal-ipv6" not in profiles and "external-ipv6" not in profiles
    status = subprocess.run([str(sandbox.script), "status"], capture_output=True, text=True, check=True)
    pid = int(status.stdout.split("pid ", 1)[1].split(",", 1)[0])
    assert (sandbox.root / "run" / "freeswitch.pid").read_text().strip() == str(pid)
    assert sandbox.log_path.exists()
    assert (sandbox.root / "db").is_dir() and any((sandbox.root / "db").iterdir())
    # The event socket takes only the password install.sh wrote.
    with pytest.raises(PbxError, match="refused the password"):
        EslClient(sandbox.esl_host, sandbox.esl_port, "ClueCon").connect()


def test_install_sh_a_second_time_on_the_wired_vanilla_config_changes_no_byte(
    sandbox: FreeswitchSandbox,
) -> None:
    before = _snapshot(sandbox.config_dir)
    done = subprocess.run(
        [
            str(INSTALL),
            str(sandbox.config_dir),
            "--esl-password",
            sandbox.esl_password,
            "--esl-port",
            str(sandbox.esl_port),
            "--control-url",
            sandbox.control_url,
            "--xml-curl-user",
            sandbox.xml_curl_user,
            "--xml-curl-password",
            sandbox.xml_curl_password,
            "--wss",
            f"127.0.0.1:{sandbox.wss_port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 14 and all(line.endswith(": unchanged") for line in lines), done.stdout
    assert _snapshot(sandbox.config_dir) == before
    internal = (sandbox.config_dir / "sip_profiles" / "internal.xml").read_text()
    assert '    <param name="force-register-domain"' not in internal
    assert internal.count("each tenant registers in its own SIP domain") == 3


def test_a_user_of_the_tenant_domain_registers_and_a_wrong_password_is_refused(
    sandbox: FreeswitchSandbox, tmp_path: Path
) -> None:
    sandbox.write_version(9, {"directory.xml": DIRECTORY})
    sandbox.activate_version(9)
    sandbox.reload()
    assert sandbox.api(f"user_exists id 2001 {DOMAIN}").strip() == "true"
    mark = sandbox.mark_log()
    with SippSession(tmp_path, sip_port=sandbox.sip_internal_port, domain=DOMAIN) as sipp:
        phone = sipp.phone("2001", "phone-2001-pw", answer_after=None)
        assert phone.registered
        assert f"2001@{DOMAIN}" in sandbox.registrations()
        with pytest.raises(SippError, match="answered 40[13]"):
            sipp.phone("2001", "not-the-password", answer_after=None)
    assert not [line for line in sandbox.log_lines(mark) if "Can't register a pointer" in line]
