"""The sandbox Asterisk (deploy/asterisk/sandbox) as tests see it: start it, talk to it, read its
log, and stage Switchboard config versions in its switchboard/ folder.

Nothing here skips: when the sandbox cannot be built or started, `SandboxError` says why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from tests.integration.pbx_sandbox import LogMark, SandboxError, ScriptSandbox

__all__ = ["REPO", "AsteriskSandbox", "LogMark", "SandboxError"]

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO / "deploy" / "asterisk" / "sandbox"
INCLUDED_FILES = ("pjsip.conf", "extensions.conf", "queues.conf")


class AsteriskSandbox(ScriptSandbox):
    """Asterisk 22 in the cached chroot: AMI on 127.0.0.1:5038, pjsip UDP and TCP on 127.0.0.1:5060 (or the
    ports the SWITCHBOARD_SANDBOX_* variables name, as the script reads them)."""

    ami_host = "127.0.0.1"
    ami_port = int(os.environ.get("SWITCHBOARD_SANDBOX_AMI_PORT", "5038"))
    ami_user = "switchboard"
    ami_secret = "sandbox-secret"
    sip_host = "127.0.0.1"
    sip_port = int(os.environ.get("SWITCHBOARD_SANDBOX_SIP_PORT", "5060"))
    #: the webphone's WebSocket transport (self-signed TLS): wss://127.0.0.1:<wss_port>/ws
    wss_port = int(os.environ.get("SWITCHBOARD_SANDBOX_WSS_PORT", "8089"))

    error_levels = (" ERROR[",)
    warning_levels = (" WARNING[",)

    def __init__(self, script: Path = SANDBOX_SCRIPT, build_timeout: float = 900.0) -> None:
        super().__init__(script, build_timeout)
        self.config_dir = self.root / "etc" / "asterisk"
        # The configuration the Debian package installed, before anything was wired.
        self.stock_dir = self.root / "var" / "lib" / "switchboard-sandbox" / "stock-etc-asterisk"
        self.switchboard_dir = self.config_dir / "switchboard"
        self.log_path = self.root / "var" / "log" / "asterisk" / "messages.log"
        self.config_lock = self.root.with_name(self.root.name + ".config.lock")

    def start(self, keep_config: bool = False) -> None:
        """Build if needed, start Asterisk and wait until it is fully booted with AMI up.

        keep_config: run on etc/asterisk as it is, not on the sandbox's own base configuration."""
        self._run("start", *(["--keep-config"] if keep_config else []), timeout=self.build_timeout)

    def cli(self, command: str, timeout: float = 30.0) -> str:
        """Run an Asterisk CLI command (asterisk -rx) and return its output."""
        output = self._run("cli", command, timeout=timeout)
        if output.startswith("No such command"):
            raise SandboxError(f"Asterisk does not know the CLI command {command!r}")
        return output

    def reload(self) -> None:
        """Make Asterisk read the live pjsip, dialplan and queue configuration again."""
        checks = {
            "module reload res_pjsip.so": "reloaded successfully",
            "dialplan reload": "Dialplan reloaded",
            "module reload app_queue.so": "reloaded successfully",
        }
        for command, expected in checks.items():
            output = self.cli(command)
            if expected not in output:
                raise SandboxError(f"{command!r} answered {output.strip()!r}")

    # --- Switchboard's include layout: switchboard/versions/<N>/ and live -> versions/<N> ------

    def write_version(self, number: int, files: Mapping[str, str]) -> Path:
        """Write versions/<number>/ with `files` (missing included files are left empty)."""
        unknown = set(files) - set(INCLUDED_FILES)
        if unknown:
            raise ValueError(f"not a Switchboard-included file: {sorted(unknown)}")
        owner = self.config_dir.stat()
        target = self.version_dir(number)
        target.mkdir(mode=0o750, parents=True, exist_ok=True)
        os.chown(target, owner.st_uid, owner.st_gid)
        for name in INCLUDED_FILES:
            path = target / name
            path.write_text(files.get(name, f"; {name}: nothing in this version\n"))
            path.chmod(0o640)
            os.chown(path, owner.st_uid, owner.st_gid)
        return target

    def reset(self) -> None:
        """Back to the baseline, for a test module that holds `exclusive()`: no call left up (a
        caller sipp killed at its timeout leaves its channel, which a listener's resync would
        count), versions/0 live and reloaded, every other version removed."""
        self.cli("channel request hangup all")
        self.activate_version(0)
        self.reload()
        for path in (self.switchboard_dir / "versions").iterdir():
            if path.name != "0":
                shutil.rmtree(path)
