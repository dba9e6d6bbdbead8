"""The sandbox FreeSWITCH (deploy/freeswitch/sandbox) as tests see it: start it, talk to it over
the event socket, read its log, and stage Switchboard config versions in its switchboard/ folder.

The same names as `AsteriskSandbox` wherever the meaning is the same. Nothing here skips: when
the sandbox cannot be installed or started, `SandboxError` says why.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from control.render.names import FS_DND_REALM
from tests.integration.pbx_sandbox import SandboxError, ScriptSandbox
from worker.esl_client import EslClient
from worker.freeswitch_apply import ROOTS

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO / "deploy" / "freeswitch" / "sandbox"
EMPTY_INCLUDE = "<include>\n  <!-- {name}: nothing in this version -->\n</include>\n"
# What mod_xml_curl logs (as ERR) on every lookup while no control plane answers at the sandbox's
# control URL: static-mode tests pass it to log_errors(ignore=...).
XML_CURL_UNREACHABLE = "trying to fetch http"


class FreeswitchSandbox(ScriptSandbox):
    """FreeSWITCH 1.11 on a scratch copy of its vanilla configuration wired by install.sh: the
    event socket on 127.0.0.1:8021, SIP profiles internal (phones) on 127.0.0.1:5070 and external
    (trunks) on 127.0.0.1:5080, the webphone's wss on 127.0.0.1:7443, or the ports the
    SWITCHBOARD_FS_* variables name, as the script reads them."""

    esl_host = "127.0.0.1"
    esl_port = int(os.environ.get("SWITCHBOARD_FS_ESL_PORT", "8021"))
    esl_password = "sandbox-esl-secret"
    sip_host = "127.0.0.1"
    sip_internal_port = int(os.environ.get("SWITCHBOARD_FS_INTERNAL_PORT", "5070"))
    sip_external_port = int(os.environ.get("SWITCHBOARD_FS_EXTERNAL_PORT", "5080"))
    sip_port = sip_internal_port  # where phones register, as AsteriskSandbox.sip_port
    #: the webphone's secure WebSocket (install.sh --wss, self-signed TLS): wss://127.0.0.1:<wss_port>
    wss_port = int(os.environ.get("SWITCHBOARD_FS_WSS_PORT", "7443"))
    control_url = os.environ.get("SWITCHBOARD_FS_CONTROL_URL", "http://127.0.0.1:18021")
    xml_curl_user = "freeswitch"
    xml_curl_password = "sandbox-xml-curl-secret"

    error_levels = ("[ERR]", "[CRIT]", "[ALERT]")
    warning_levels = ("[WARNING]",)

    def __init__(self, script: Path = SANDBOX_SCRIPT, build_timeout: float = 600.0) -> None:
        super().__init__(script, build_timeout)
        self.config_dir = self.root / "conf"
        self.switchboard_dir = self.config_dir / "switchboard"
        self.log_path = self.root / "log" / "freeswitch.log"
        self.config_lock = self.root / "config.lock"

    def esl(self, timeout: float = 10.0) -> EslClient:
        """A connected event-socket client (a context manager) with the sandbox's password."""
        return EslClient(self.esl_host, self.esl_port, self.esl_password, timeout=timeout)

    def api(self, command: str, timeout: float = 30.0) -> str:
        """Run an API command (`fs_cli -x`) over the event socket and return its output."""
        with self.esl(timeout) as client:
            output = client.api(command, timeout=timeout)
        if output.startswith("-ERR") and "command not found" in output.lower():
            raise SandboxError(f"FreeSWITCH does not know the API command {command!r}")
        return output

    def reload(self) -> None:
        """Make FreeSWITCH read the live directory, dialplan and configuration again."""
        output = self.api("reloadxml")
        if not output.startswith("+OK"):
            raise SandboxError(f"'reloadxml' answered {output.strip()!r}")

    def registrations(self, profile: str = "internal") -> set[str]:
        """user@domain of every registration on a SIP profile."""
        output = self.api(f"sofia status profile {profile} reg")
        return set(re.findall(r"^User:\s+(\S+)", output, re.MULTILINE))

    def queue_agents(self, queue: str) -> set[str]:
        """The agents mod_callcenter offers `queue`'s calls to (its tiers), by name."""
        return set(_first_column(self.api(f"callcenter_config queue list agents {queue}")))

    def agent(self, name: str) -> dict[str, str]:
        """mod_callcenter's row of an agent (`callcenter_config agent list`), empty if unknown."""
        rows = [
            line.split("|") for line in self.api("callcenter_config agent list").splitlines() if "|" in line
        ]
        return next((dict(zip(rows[0], row, strict=False)) for row in rows[1:] if row[0] == name), {})

    # --- Switchboard's include layout: switchboard/versions/<N>/ and live -> versions/<N> ------

    def write_version(self, number: int, files: Mapping[str, str]) -> Path:
        """Write versions/<number>/ with `files` (missing entry points are left empty)."""
        unknown = set(files) - set(ROOTS)
        if unknown:
            raise ValueError(f"not a Switchboard-included file: {sorted(unknown)}")
        target = self.version_dir(number)
        (target / "dialplan").mkdir(mode=0o750, parents=True, exist_ok=True)
        for name in ROOTS:
            path = target / name
            path.write_text(files.get(name, EMPTY_INCLUDE.format(name=name)))
            path.chmod(0o640)
        return target

    def reset(self) -> None:
        """Back to the baseline, for a test module that holds `exclusive()`: no call up, no
        registration, versions/0 live and reloaded, no queue or agent left in mod_callcenter, no
        Switchboard gateway, every other version removed."""
        self.api("hupall NORMAL_CLEARING")
        self.api("sofia profile internal flush_inbound_reg")
        self.activate_version(0)
        self.reload()
        for queue in _first_column(self.api("callcenter_config queue list")):
            self.api(f"callcenter_config queue unload {queue}")
        for agent in _first_column(self.api("callcenter_config agent list")):
            self.api(f"callcenter_config agent del {agent}")
        self.api("sofia profile external killgw switchboard-trunk")
        for line in self.api(f"hash_dump db {FS_DND_REALM}").splitlines():
            # live Do Not Disturb entries of an earlier world ("D/<realm>_<key>/<value>")
            if line.startswith(f"D/{FS_DND_REALM}_"):
                key = line.removeprefix(f"D/{FS_DND_REALM}_").rpartition("/")[0]
                self.api(f"hash delete/{FS_DND_REALM}/{key}")
        for path in (self.switchboard_dir / "versions").iterdir():
            if path.name != "0":
                shutil.rmtree(path)


def _first_column(output: str) -> list[str]:
    """The first field of each row of a `callcenter_config ... list` table (after its header)."""
    rows = [line for line in output.splitlines() if "|" in line]
    return [row.split("|", 1)[0] for row in rows[1:]]
