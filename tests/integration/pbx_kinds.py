"""The PBX-specific part of an integration scenario (style rule 13): the sandbox, the node's
control connection, where phones register and where trunk calls arrive, and the few questions a
test asks the PBX itself (is this user deployed, whom does this queue offer calls to, what did it
keep for calls that ended unseen). Everything else, the telephony and what history must say, is
written once in the parametrised suites (test_deploy.py, test_events.py).

`pbx` in tests/conftest.py is parametrised over PBX_KINDS and yields a `Pbx` per module.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from control.render import environment, names
from tests.integration.asterisk_sandbox import INCLUDED_FILES, AsteriskSandbox
from tests.integration.freeswitch_sandbox import XML_CURL_UNREACHABLE, FreeswitchSandbox
from tests.integration.sipp import SippSession
from worker.freeswitch_apply import ROOTS

PBX_KINDS = ("asterisk", "freeswitch")
#: Registrations may be this short (seconds), so a test can watch one expire.
MIN_EXPIRY = 2


@dataclass(frozen=True)
class Pbx:
    """One sandbox PBX as the scenarios see it."""

    kind: str
    sandbox: AsteriskSandbox | FreeswitchSandbox

    @property
    def is_freeswitch(self) -> bool:
        return isinstance(self.sandbox, FreeswitchSandbox)

    def __str__(self) -> str:
        return self.kind

    # --- the node -----------------------------------------------------------------------------

    @property
    def control_address(self) -> tuple[str, int]:
        """Host and port of the control connection (ESL or AMI) a node and a listener use."""
        if isinstance(self.sandbox, FreeswitchSandbox):
            return self.sandbox.esl_host, self.sandbox.esl_port
        return self.sandbox.ami_host, self.sandbox.ami_port

    @property
    def included_files(self) -> tuple[str, ...]:
        """The files a deploy writes into switchboard/versions/<N>/."""
        return tuple(ROOTS) if self.is_freeswitch else INCLUDED_FILES

    @property
    def log_ignore(self) -> tuple[str, ...]:
        """Log errors that are not ours: with no control plane answering mod_xml_curl, FreeSWITCH
        logs every failed lookup and reads its static XML."""
        return (XML_CURL_UNREACHABLE, "CURL returned error") if self.is_freeswitch else ()

    # --- SIP ----------------------------------------------------------------------------------

    def phones(self, workdir: Path, domain: str) -> SippSession:
        """Where phones register and call from. FreeSWITCH picks the directory domain from
        From/To, so phones send the tenant's domain; Asterisk identifies them by user name."""
        return SippSession(
            workdir,
            sip_port=self.sandbox.sip_port,
            domain=domain if self.is_freeswitch else None,
        )

    def outside(self, workdir: Path) -> SippSession:
        """Where the carrier's calls arrive: FreeSWITCH's external profile, Asterisk's one
        transport (the trunk identified by its address)."""
        port = (
            self.sandbox.sip_external_port
            if isinstance(self.sandbox, FreeswitchSandbox)
            else self.sandbox.sip_port
        )
        return SippSession(workdir, sip_port=port)

    # --- what the PBX says ----------------------------------------------------------------------

    def has_user(self, extension: str, domain: str) -> bool:
        if isinstance(self.sandbox, FreeswitchSandbox):
            return self.sandbox.api(f"user_exists id {extension} {domain}").strip() == "true"
        return re.search(rf"Endpoint:\s+{extension}\b", self.sandbox.cli("pjsip show endpoints")) is not None

    def webphone_contact(self, extension: str, domain: str) -> str | None:
        """The registration of a user's webphone (names.webphone_user) as the PBX shows it."""
        user = names.webphone_user(extension)
        if isinstance(self.sandbox, FreeswitchSandbox):
            shown = self.sandbox.api("sofia status profile internal reg")
            block = next((b for b in shown.split("\n\n") if "User:" in b and f"{user}@{domain}" in b), None)
            return block if block and re.search(r"Contact:.*transport=wss?", block) else None
        lines = self.sandbox.cli("pjsip show contacts").splitlines()
        return next((line for line in lines if f"{user}/sip:" in line), None)

    @property
    def wss_port(self) -> int:
        """Where browsers' webphones connect (wss://127.0.0.1:<port>, self-signed)."""
        return self.sandbox.wss_port

    def caller_name(self, extension: str, domain: str) -> str:
        """The name the PBX presents for a user's calls."""
        if isinstance(self.sandbox, FreeswitchSandbox):
            return self.sandbox.api(f"user_data {extension}@{domain} var effective_caller_id_name").strip()
        shown = self.sandbox.cli(f"pjsip show endpoint {extension}")
        match = re.search(r"callerid\s*:\s*\"?([^\"<\n]*?)\"?\s*<", shown)
        return match.group(1) if match else ""

    def queue_offers_to(self, queue: str, domain: str) -> set[str]:
        """Extensions the PBX would offer `queue`'s calls to (Asterisk: unpaused members,
        FreeSWITCH: mod_callcenter's tiers)."""
        if isinstance(self.sandbox, FreeswitchSandbox):
            return {agent.split("@", 1)[0] for agent in self.sandbox.queue_agents(f"{queue}@{domain}")}
        shown = self.sandbox.cli(f"queue show queue-{queue}")
        return {
            match.group(1)
            for line in shown.splitlines()
            if (match := re.search(r"Local/(\d+)@switchboard-devices\b", line))
            and "paused" not in line.lower()
        }

    def kept_ends(self) -> list[str]:
        """What the PBX kept of calls that hung up (for a listener that missed it), not pruned yet."""
        if isinstance(self.sandbox, FreeswitchSandbox):
            dump = self.sandbox.api("hash_dump db switchboard_ended")
            return [line for line in dump.splitlines() if line.startswith("D/switchboard_ended_")]
        shown = self.sandbox.cli("database show switchboard_ended")
        return [line for line in shown.splitlines() if "/switchboard_ended/" in line]

    def originate_accepted(self, answer: str) -> bool:
        """The PBX's answer to a click-to-call: Asterisk queues the Originate; FreeSWITCH's bgapi
        job ends when the phone answers, with the new channel's uuid."""
        if self.is_freeswitch:
            return re.fullmatch(r"\+OK [0-9a-f-]{32,36}", answer.strip()) is not None
        return "queued" in answer.lower()

    def hang_up_all(self) -> None:
        """End every call on the PBX (a scenario's leftovers)."""
        if isinstance(self.sandbox, FreeswitchSandbox):
            self.sandbox.api("hupall NORMAL_CLEARING")
        else:
            self.sandbox.cli("channel request hangup all")

    def no_calls(self) -> bool:
        if isinstance(self.sandbox, FreeswitchSandbox):
            return self.sandbox.api("show channels count").strip().startswith("0 total")
        return "0 active channels" in self.sandbox.cli("core show channels count")

    def queue_member_idle(self, queue: str, extension: str, domain: str) -> bool:
        """The queue would offer `extension` its next call now (no call of its own ringing:
        Asterisk's ringinuse=no; mod_callcenter's agent Waiting and past any delay)."""
        if isinstance(self.sandbox, FreeswitchSandbox):
            agent = self.sandbox.agent(f"{extension}@{domain}")
            ready = int(agent.get("ready_time") or 0)
            return agent.get("state") == "Waiting" and ready <= time.time() and self.no_calls()
        shown = self.sandbox.cli(f"queue show queue-{queue}")
        return "Not in use" in shown

    @property
    def listener_connected(self) -> str:
        """What `switchboard listen` logs on each connection to this PBX."""
        return "connected to FreeSWITCH" if self.is_freeswitch else "connected to Asterisk"

    @property
    def group_template(self) -> tuple[str, str]:
        """The shipped template of a ring group's dialplan, and a syntax-broken override of it."""
        if self.is_freeswitch:
            return (
                "freeswitch/dialplan/default/group.xml",
                '<include><extension name="{{ group.extension "/></include>\n',
            )
        return (
            "asterisk/extensions.d/group.conf",
            "[switchboard-internal]\nexten => {{ group.extension ,1,Hangup()\n",
        )

    @contextlib.contextmanager
    def short_registrations(self) -> Iterator[None]:
        """Let phones register for as little as MIN_EXPIRY seconds. FreeSWITCH takes the phone's
        Expires as it is; Asterisk's floor is 60 s, lowered by a site override of the endpoint
        template (the documented way to adapt a render)."""
        if self.is_freeswitch:
            yield
            return
        shipped = (environment.TEMPLATES_DIR / "asterisk" / "pjsip.d" / "user.conf").read_text()
        override = environment.site_templates_dir() / "asterisk" / "pjsip.d" / "user.conf"
        override.parent.mkdir(parents=True, exist_ok=True)
        override.write_text(shipped.rstrip("\n") + f"\nminimum_expiration = {MIN_EXPIRY}\n")
        environment._environment.cache_clear()
        try:
            yield
        finally:
            override.unlink()
            for folder in (override.parent, override.parent.parent):
                if not any(folder.iterdir()):
                    folder.rmdir()
            environment._environment.cache_clear()

    @property
    def expiry_within(self) -> float:
        """How long the PBX may take to notice a lapsed registration: Asterisk sweeps its
        contacts every 30 s; FreeSWITCH keeps a registration a margin past its Expires before its
        own periodic sweep drops it."""
        return 100.0 if self.is_freeswitch else 40.0
