"""deploy/asterisk/install.sh --wss: the webphone's TLS WebSocket server (http.conf), the pjsip
transport-wss and the certificate (generated once, or the operator's copied), idempotent.
Asterisk serving it for real is the sandbox's (tests/browser/test_webphone_browser.py)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "deploy" / "asterisk" / "install.sh"
BASE = ["--ami-user", "switchboard", "--ami-secret", "ami-secret-123", "--sip-bind", "127.0.0.1:5060"]


def run(conf: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALL), str(conf), *BASE, *extra], capture_output=True, text=True, check=check
    )


def snapshot(conf: Path) -> dict[str, str]:
    return {
        path.relative_to(conf).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        + f" {path.stat().st_mode & 0o777:o}"
        for path in sorted(conf.rglob("*"))
        if path.is_file()
    }


@pytest.fixture()
def conf(tmp_path: Path) -> Path:
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "http.conf").write_text(
        "[general]\nenabled=no\nbindaddr=0.0.0.0\n\n[post_mappings]\nsb=switchboard\n"
    )
    return conf


def test_wss_with_a_generated_certificate_is_idempotent(conf: Path) -> None:
    first = run(conf, "--wss", "0.0.0.0:8089", "--asterisk-etc", "/etc/asterisk/")
    assert "keys/ (webphone certificate): changed" in first.stdout
    assert "http.conf (WebSocket server on 0.0.0.0:8089): changed" in first.stdout
    http = (conf / "http.conf").read_text()
    # The host's other sections stay; its [general] is replaced by Switchboard's: TLS only.
    assert "[post_mappings]\nsb=switchboard\n" in http
    assert http.count("[general]") == 1 and "\nbindaddr" not in http and "enabled=no" not in http
    assert "tlsenable = yes\ntlsbindaddr = 0.0.0.0:8089\n" in http
    assert "tlscertfile = /etc/asterisk/keys/switchboard-wss.crt\n" in http
    assert "tlsprivatekey = /etc/asterisk/keys/switchboard-wss.key\n" in http
    assert (
        "[switchboard-transport-wss]\ntype = transport\nprotocol = wss\n" in (conf / "pjsip.conf").read_text()
    )
    cert = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", str(conf / "keys/switchboard-wss.crt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "IP Address:127.0.0.1" in cert
    assert (conf / "keys/switchboard-wss.key").stat().st_mode & 0o077 == 0o040  # never world-readable

    before = snapshot(conf)
    second = run(conf, "--wss", "0.0.0.0:8089", "--asterisk-etc", "/etc/asterisk/")
    assert "changed" not in second.stdout.replace("unchanged", "")
    assert snapshot(conf) == before


def test_the_operators_certificate_is_copied(conf: Path, operator_certificate: tuple[Path, Path]) -> None:
    cert, key = operator_certificate
    run(conf, "--wss", "10.0.0.1:8089", "--tls-cert", str(cert), "--tls-key", str(key))
    assert (conf / "keys/switchboard-wss.crt").read_bytes() == cert.read_bytes()
    assert (conf / "keys/switchboard-wss.key").read_bytes() == key.read_bytes()
    assert f"tlscertfile = {conf}/keys/switchboard-wss.crt\n" in (conf / "http.conf").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--wss", "0.0.0.0"], "--wss must be IPV4:PORT"),
        (["--wss", "0.0.0.0:8089", "--tls-cert", "/etc/hostname"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "/etc/hostname", "--tls-key", "/etc/hostname"], "go with --wss"),
        (
            ["--wss", "0.0.0.0:8089", "--asterisk-etc", "etc/asterisk"],
            "--asterisk-etc must be an absolute path",
        ),
    ],
)
def test_bad_wss_options_change_nothing(conf: Path, extra: list[str], message: str) -> None:
    before = snapshot(conf)
    result = run(conf, *extra, check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert snapshot(conf) == before
